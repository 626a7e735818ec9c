// Streaming pcapng/pcap reading, pcapng writing, and the time-ordered merge of many
// captures (one source per node) into one pcapng: the heart of `fetch` and `stream`.
//
// The reader never holds more than one block: it works on any async byte source (a file
// stream, an HTTP body, a live stream) and yields interfaces and packets as they arrive.
// A truncated last block ends the stream cleanly (a capture still being written, or a torn
// tail after a crash); anything else that is not pcapng/pcap is an error with its offset.
import type { Writable } from 'node:stream';

export const LINKTYPE_ETHERNET = 1;
export const MAX_SNAPLEN = 262144;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002; // obsolete Packet Block
const BT_SPB = 0x00000003;
const BT_ISB = 0x00000005;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;

/** Blocks larger than this are taken as garbage rather than buffered. */
const MAX_BLOCK = 64 * 1024 * 1024;

export class PcapFormatError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte offset ${offset}`);
    this.name = 'PcapFormatError';
  }
}

/** One interface of a capture as its IDB (or pcap global header) describes it. */
export interface InterfaceInfo {
  /** Unique within one reader: "<section>/<interface id>". */
  key: string;
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
  /** Nanoseconds per timestamp unit as a rational: ts * num / den. */
  tsNum: bigint;
  tsDen: bigint;
  /** if_tsoffset, seconds. */
  tsOffsetSec: bigint;
}

export interface Packet {
  interfaceKey: string;
  /** Absolute time in nanoseconds since the epoch. */
  tsNs: bigint;
  caplen: number;
  origLen: number;
  flags?: number;
  data: Buffer;
}

export type CaptureEvent = { type: 'interface'; iface: InterfaceInfo } | { type: 'packet'; packet: Packet };

export interface ReadStats {
  format?: 'pcapng' | 'pcap';
  bytes: number;
  packets: number;
  /** The input ended inside a block: the partial block was dropped. */
  truncated: boolean;
}

/** if_tsresol byte to ns-per-unit as a fraction. */
export function tsresolToFraction(v: number): { num: bigint; den: bigint } {
  const exp = BigInt(v & 0x7f);
  if (v & 0x80) return { num: 1_000_000_000n, den: 1n << exp };
  return exp <= 9n ? { num: 10n ** (9n - exp), den: 1n } : { num: 1n, den: 10n ** (exp - 9n) };
}

/** A growing byte window over chunks: keeps only what is not consumed yet. */
class ByteWindow {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Absolute offset of buf[pos] in the input. */
  offset = 0;
  ended = false;

  push(chunk: Uint8Array): void {
    const c = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pos >= this.buf.length) {
      this.buf = c;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), c]);
    }
    this.pos = 0;
  }

  get available(): number {
    return this.buf.length - this.pos;
  }

  peek(n: number): Buffer {
    return this.buf.subarray(this.pos, this.pos + n);
  }

  take(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return b;
  }
}

type U32 = (b: Buffer, o: number) => number;
const le32: U32 = (b, o) => b.readUInt32LE(o);
const be32: U32 = (b, o) => b.readUInt32BE(o);

/**
 * Reads a pcapng or classic pcap byte stream. Yields an 'interface' event before the first
 * packet of each interface (classic pcap has exactly one). `stats` is filled in as it goes.
 */
export async function* readCapture(input: AsyncIterable<Uint8Array | string>, stats: ReadStats = { bytes: 0, packets: 0, truncated: false }): AsyncGenerator<CaptureEvent> {
  const win = new ByteWindow();
  const it = input[Symbol.asyncIterator]();

  /** Ensures n bytes are available; false when the input ended first. */
  const fill = async (n: number): Promise<boolean> => {
    while (win.available < n) {
      if (win.ended) return false;
      const r = await it.next();
      if (r.done) {
        win.ended = true;
        return false;
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value;
      stats.bytes += chunk.byteLength;
      win.push(chunk);
    }
    return true;
  };

  try {
    if (!(await fill(4))) {
      if (win.available === 0) return; // empty input: no packets
      stats.truncated = true;
      return;
    }
    const m = win.peek(4);
    const magicLE = m.readUInt32LE(0);
    if (magicLE === BT_SHB) {
      stats.format = 'pcapng';
      yield* readPcapng(win, fill, stats);
    } else if ([PCAP_MAGIC_US, PCAP_MAGIC_NS].includes(magicLE) || [PCAP_MAGIC_US, PCAP_MAGIC_NS].includes(m.readUInt32BE(0))) {
      stats.format = 'pcap';
      yield* readPcap(win, fill, stats);
    } else {
      throw new PcapFormatError(`not a pcapng or pcap capture (first word 0x${magicLE.toString(16).padStart(8, '0')})`, 0);
    }
  } finally {
    await it.return?.();
  }
}

async function* readPcapng(win: ByteWindow, fill: (n: number) => Promise<boolean>, stats: ReadStats): AsyncGenerator<CaptureEvent> {
  let u32: U32 = le32;
  let section = -1;
  let ifaces: InterfaceInfo[] = [];
  let lastTs = 0n;
  for (;;) {
    if (!(await fill(12))) {
      if (win.available > 0) stats.truncated = true;
      return;
    }
    const start = win.offset;
    const head = win.peek(12);
    const type = head.readUInt32LE(0);
    if (type === BT_SHB) {
      const bom = head.readUInt32LE(8);
      if (bom === BYTE_ORDER_MAGIC) u32 = le32;
      else if (bom === 0x4d3c2b1a) u32 = be32;
      else throw new PcapFormatError(`bad pcapng byte-order magic 0x${bom.toString(16)}`, start + 8);
    } else if (section < 0) {
      throw new PcapFormatError('pcapng block before the first Section Header Block', start);
    }
    const btype = u32(head, 0);
    const len = u32(head, 4);
    if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) throw new PcapFormatError(`bad pcapng block length ${len} (block type 0x${btype.toString(16)})`, start);
    if (!(await fill(len))) {
      stats.truncated = true;
      return;
    }
    const b = win.take(len);
    if (u32(b, len - 4) !== len) throw new PcapFormatError(`pcapng block length ${len} does not match its trailer ${u32(b, len - 4)}`, start);
    const body = b.subarray(8, len - 4);
    switch (btype) {
      case BT_SHB:
        section++;
        ifaces = [];
        break;
      case BT_IDB: {
        if (body.length < 8) throw new PcapFormatError('short Interface Description Block', start);
        const linkType = u32 === le32 ? body.readUInt16LE(0) : body.readUInt16BE(0);
        const iface: InterfaceInfo = { key: `${section}/${ifaces.length}`, linkType, snapLen: u32(body, 4), tsNum: 1000n, tsDen: 1n, tsOffsetSec: 0n };
        for (const [code, val] of options(body.subarray(8), u32 === le32, start)) {
          if (code === IF_NAME) iface.name = cstr(val);
          else if (code === IF_DESCRIPTION) iface.description = cstr(val);
          else if (code === IF_TSRESOL && val.length >= 1) {
            const f = tsresolToFraction(val[0]!);
            iface.tsNum = f.num;
            iface.tsDen = f.den;
          } else if (code === IF_TSOFFSET && val.length >= 8) {
            iface.tsOffsetSec = u32 === le32 ? val.readBigInt64LE(0) : val.readBigInt64BE(0);
          }
        }
        ifaces.push(iface);
        yield { type: 'interface', iface };
        break;
      }
      case BT_EPB:
      case BT_OPB: {
        if (body.length < 20) throw new PcapFormatError('short packet block', start);
        const id = btype === BT_EPB ? u32(body, 0) : (u32 === le32 ? body.readUInt16LE(0) : body.readUInt16BE(0));
        const iface = ifaces[id];
        if (!iface) throw new PcapFormatError(`packet block names interface ${id}, but the section has ${ifaces.length}`, start);
        const ts = (BigInt(u32(body, 4)) << 32n) | BigInt(u32(body, 8));
        const caplen = u32(body, 12);
        const origLen = u32(body, 16);
        const padded = (caplen + 3) & ~3;
        if (20 + padded > body.length) throw new PcapFormatError(`packet caplen ${caplen} exceeds its block`, start);
        const pkt: Packet = { interfaceKey: iface.key, tsNs: toNs(ts, iface), caplen, origLen, data: body.subarray(20, 20 + caplen) };
        for (const [code, val] of options(body.subarray(20 + padded), u32 === le32, start)) {
          if (code === EPB_FLAGS && val.length >= 4 && btype === BT_EPB) pkt.flags = u32(val, 0);
        }
        lastTs = pkt.tsNs;
        stats.packets++;
        yield { type: 'packet', packet: pkt };
        break;
      }
      case BT_SPB: {
        const iface = ifaces[0];
        if (!iface) throw new PcapFormatError('Simple Packet Block without an interface', start);
        const origLen = u32(body, 0);
        const caplen = Math.min(origLen, iface.snapLen || origLen, body.length - 4);
        // SPBs carry no time: keep them in place after the previous packet.
        stats.packets++;
        yield { type: 'packet', packet: { interfaceKey: iface.key, tsNs: lastTs, caplen, origLen, data: body.subarray(4, 4 + caplen) } };
        break;
      }
      case BT_ISB:
      default:
        break; // statistics and unknown blocks: skipped
    }
  }
}

function toNs(ts: bigint, iface: InterfaceInfo): bigint {
  return (ts * iface.tsNum) / iface.tsDen + iface.tsOffsetSec * 1_000_000_000n;
}

function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}

function* options(b: Buffer, le: boolean, blockStart: number): Generator<[number, Buffer]> {
  let o = 0;
  while (o + 4 <= b.length) {
    const code = le ? b.readUInt16LE(o) : b.readUInt16BE(o);
    const len = le ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
    if (code === OPT_ENDOFOPT) return;
    if (o + 4 + len > b.length) throw new PcapFormatError(`option ${code} overruns its block`, blockStart);
    yield [code, b.subarray(o + 4, o + 4 + len)];
    o += 4 + ((len + 3) & ~3);
  }
}

async function* readPcap(win: ByteWindow, fill: (n: number) => Promise<boolean>, stats: ReadStats): AsyncGenerator<CaptureEvent> {
  if (!(await fill(24))) {
    stats.truncated = true;
    return;
  }
  const h = win.take(24);
  const le = [PCAP_MAGIC_US, PCAP_MAGIC_NS].includes(h.readUInt32LE(0));
  const u32: U32 = le ? le32 : be32;
  const nano = u32(h, 0) === PCAP_MAGIC_NS;
  const snapLen = u32(h, 16);
  const iface: InterfaceInfo = {
    key: '0/0', linkType: u32(h, 20) & 0x0fffffff, snapLen,
    tsNum: 1n, tsDen: 1n, tsOffsetSec: 0n,
  };
  yield { type: 'interface', iface };
  const limit = Math.max(snapLen, MAX_SNAPLEN);
  for (;;) {
    if (!(await fill(16))) {
      if (win.available > 0) stats.truncated = true;
      return;
    }
    const start = win.offset;
    const r = win.peek(16);
    const sec = BigInt(u32(r, 0));
    const frac = BigInt(u32(r, 4));
    const caplen = u32(r, 8);
    const origLen = u32(r, 12);
    if (caplen > limit || (nano ? frac >= 1_000_000_000n : frac >= 1_000_000n)) {
      throw new PcapFormatError(`bad pcap record header (caplen ${caplen}, fraction ${frac})`, start);
    }
    if (!(await fill(16 + caplen))) {
      stats.truncated = true;
      return;
    }
    const rec = win.take(16 + caplen);
    stats.packets++;
    yield {
      type: 'packet',
      packet: { interfaceKey: iface.key, tsNs: sec * 1_000_000_000n + (nano ? frac : frac * 1000n), caplen, origLen, data: rec.subarray(16) },
    };
  }
}

// ---- writer -------------------------------------------------------------------------------------

export interface OutputInterface {
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function optionBytes(opts: [number, Buffer][]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const size = opts.reduce((a, [, v]) => a + 4 + pad4(v.length), 0) + 4;
  const b = Buffer.alloc(size);
  let o = 0;
  for (const [code, v] of opts) {
    b.writeUInt16LE(code, o);
    b.writeUInt16LE(v.length, o + 2);
    v.copy(b, o + 4);
    o += 4 + pad4(v.length);
  }
  return b; // ends with opt_endofopt (zeros)
}

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

export function encodeSHB(): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4);
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8); // section length unknown: we stream
  return block(BT_SHB, body);
}

export function encodeIDB(i: OutputInterface): Buffer {
  const opts: [number, Buffer][] = [];
  if (i.name) opts.push([IF_NAME, Buffer.from(i.name, 'utf8')]);
  if (i.description) opts.push([IF_DESCRIPTION, Buffer.from(i.description, 'utf8')]);
  opts.push([IF_TSRESOL, Buffer.from([9])]);
  const o = optionBytes(opts);
  const body = Buffer.alloc(8 + o.length);
  body.writeUInt16LE(i.linkType, 0);
  body.writeUInt32LE(i.snapLen, 4);
  o.copy(body, 8);
  return block(BT_IDB, body);
}

export function encodeEPB(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number): Buffer {
  const o = flags === undefined ? Buffer.alloc(0) : optionBytes([[EPB_FLAGS, u32le(flags)]]);
  const body = Buffer.alloc(20 + pad4(data.length) + o.length);
  body.writeUInt32LE(interfaceId, 0);
  const ts = BigInt.asUintN(64, tsNs);
  body.writeUInt32LE(Number(ts >> 32n), 4);
  body.writeUInt32LE(Number(ts & 0xffffffffn), 8);
  body.writeUInt32LE(data.length, 12);
  body.writeUInt32LE(origLen, 16);
  data.copy(body, 20);
  o.copy(body, 20 + pad4(data.length));
  return block(BT_EPB, body);
}

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

/**
 * Writes a pcapng section to a Writable: SHB first, IDBs as interfaces are added, EPBs.
 * Every write() carries whole blocks, so a reader that sees a prefix sees whole blocks
 * plus at most one torn one. Blocks are batched up to 64 KiB and flushed on the next turn
 * of the event loop, so a live stream is not held back.
 */
export class PcapngWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private interfaces = 0;
  packets = 0;

  /**
   * libpcap (tcpdump) refuses a section whose interfaces differ in snap length, so every IDB
   * gets the same one (default 262144, the largest libpcap takes); packets keep their own
   * caplen, and the sources' snap lengths stay visible as caplen < original length.
   */
  constructor(private out: Writable, private opts: { snapLen?: number } = {}) {
    this.push(encodeSHB());
  }

  /** Adds an IDB; returns its interface id. */
  addInterface(i: OutputInterface): number {
    this.push(encodeIDB({ ...i, snapLen: this.opts.snapLen ?? MAX_SNAPLEN }));
    return this.interfaces++;
  }

  /** Queues an EPB; resolves once the output can take more (backpressure). */
  async writePacket(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number): Promise<void> {
    if (interfaceId >= this.interfaces) throw new Error(`pcapng writer: no interface ${interfaceId}`);
    this.packets++;
    this.push(encodeEPB(interfaceId, tsNs, origLen, data, flags));
    if (this.pendingBytes >= 65536) await this.flush();
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.pendingBytes > 0 && !this.out.destroyed) this.out.write(this.take());
      });
    }
  }

  private take(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return b;
  }

  /** Writes what is queued and waits for 'drain' if the output is full. */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    if (this.out.destroyed) throw new Error('output closed');
    if (!this.out.write(this.take())) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          this.out.off('drain', onDrain);
          this.out.off('error', done);
          this.out.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error('output closed'));
        this.out.once('drain', onDrain);
        this.out.once('error', done);
        this.out.once('close', onClose);
      });
    }
  }

  /** Flushes and ends the output (waits for it to finish). */
  async end(opts: { endStream?: boolean } = {}): Promise<void> {
    await this.flush();
    if (opts.endStream === false) return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}

// ---- merge ----------------------------------------------------------------------------------------

/** A source of the merge: the captures of one node (its files in order, or its live stream). */
export interface MergeSource {
  /** Prefixes the interface descriptions, e.g. "node=n1". */
  label: string;
  events: AsyncIterable<CaptureEvent>;
}

export interface MergedInterface extends OutputInterface {
  id: number;
  source: string;
}

export type MergeEvent =
  | { type: 'interface'; iface: MergedInterface }
  | { type: 'packet'; interfaceId: number; source: string; packet: Packet };

export interface MergeOptions {
  /**
   * How far back in capture time a source may still go after a later packet (ns). 0 for
   * sources sorted by time. The agent's files are sorted per ring, and blocks of different
   * rings interleave, so fetch uses a small window.
   */
  slackNs?: bigint;
  /** Live mode: a packet is emitted at the latest this long (wall time) after it arrived. */
  holdMs?: number;
  /** Live mode: a source stops reading while this many of its packets wait (backpressure). */
  maxBuffered?: number;
}

interface HeapItem { tsNs: bigint; src: number; seq: number; ev: MergeEvent & { type: 'packet' }; arrived: number }

function before(a: HeapItem, b: HeapItem): boolean {
  if (a.tsNs !== b.tsNs) return a.tsNs < b.tsNs;
  if (a.src !== b.src) return a.src < b.src;
  return a.seq < b.seq;
}

/** A binary min-heap of packets ordered by (timestamp, source, arrival). */
export class PacketHeap {
  private a: HeapItem[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): HeapItem | undefined {
    return this.a[0];
  }
  push(x: HeapItem): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): HeapItem | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Output interfaces, one per distinct (source, link type, snap length, name, description). */
class InterfaceTable {
  private byKey = new Map<string, MergedInterface>();
  private list: MergedInterface[] = [];
  /** Per source: reader interface key -> output interface. */
  readonly map: Map<string, MergedInterface>[] = [];

  constructor(private sources: MergeSource[]) {
    for (let i = 0; i < sources.length; i++) this.map.push(new Map());
  }

  /** Returns the new output interface when this one was not seen before. */
  add(src: number, i: InterfaceInfo): MergedInterface | undefined {
    const label = this.sources[src]!.label;
    const description = labelled(label, i.description);
    const key = JSON.stringify([label, i.linkType, i.snapLen, i.name ?? '', description]);
    let out = this.byKey.get(key);
    let created: MergedInterface | undefined;
    if (!out) {
      out = { id: this.list.length, source: label, linkType: i.linkType, snapLen: i.snapLen, ...(i.name ? { name: i.name } : {}), description };
      this.byKey.set(key, out);
      this.list.push(out);
      created = out;
    }
    this.map[src]!.set(i.key, out);
    return created;
  }
}

function labelled(label: string, description: string | undefined): string {
  if (!description) return label;
  if (!label || description.split(/\s+/).includes(label)) return description;
  return `${label} ${description}`;
}

/**
 * K-way merge of captures by timestamp. Each source is read ahead only until it has produced
 * a packet later than the earliest one waiting (minus slackNs), so memory stays bounded by
 * the sources' disorder, not by their size.
 */
export async function* mergeCaptures(sources: MergeSource[], opts: MergeOptions = {}): AsyncGenerator<MergeEvent> {
  if (opts.holdMs !== undefined) {
    yield* mergeLive(sources, opts);
    return;
  }
  const slack = opts.slackNs ?? 0n;
  const table = new InterfaceTable(sources);
  const heap = new PacketHeap();
  const its = sources.map((s) => s.events[Symbol.asyncIterator]());
  const open = sources.map(() => true);
  // The earliest time a source can still produce: its latest packet minus the slack.
  const mark: (bigint | undefined)[] = sources.map(() => undefined);
  let seq = 0;
  try {
    for (;;) {
      // Pull from every open source that could still produce something earlier than the heap's top.
      let pulled = false;
      for (let s = 0; s < its.length; s++) {
        const top = heap.peek();
        if (!open[s] || (top && mark[s] !== undefined && mark[s]! >= top.tsNs)) continue;
        const r = await its[s]!.next();
        pulled = true;
        if (r.done) {
          open[s] = false;
          continue;
        }
        const ev = r.value;
        if (ev.type === 'interface') {
          const created = table.add(s, ev.iface);
          if (created) yield { type: 'interface', iface: created };
          continue;
        }
        const out = table.map[s]!.get(ev.packet.interfaceKey);
        if (!out) throw new Error(`merge: source ${sources[s]!.label}: packet on an unknown interface ${ev.packet.interfaceKey}`);
        const t = ev.packet.tsNs - slack;
        if (mark[s] === undefined || t > mark[s]!) mark[s] = t;
        heap.push({ tsNs: ev.packet.tsNs, src: s, seq: seq++, arrived: 0, ev: { type: 'packet', interfaceId: out.id, source: out.source, packet: ev.packet } });
      }
      if (pulled) continue;
      const top = heap.pop();
      if (!top) return; // every source ended and nothing waits
      yield top.ev;
    }
  } finally {
    await Promise.all(its.map((it) => it.return?.()));
  }
}

async function* mergeLive(sources: MergeSource[], opts: MergeOptions): AsyncGenerator<MergeEvent> {
  const holdMs = opts.holdMs ?? 250;
  const slack = opts.slackNs ?? 0n;
  const maxBuffered = opts.maxBuffered ?? 100_000;
  const table = new InterfaceTable(sources);
  const heap = new PacketHeap();
  const ready: MergeEvent[] = []; // interfaces, emitted as soon as they are seen
  const open = sources.map(() => true);
  const mark: (bigint | undefined)[] = sources.map(() => undefined);
  const buffered = sources.map(() => 0);
  let seq = 0;
  let failure: unknown;
  let stopped = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let room: (() => void)[] = [];

  const pump = async (s: number): Promise<void> => {
    try {
      for await (const ev of sources[s]!.events) {
        if (stopped) break;
        if (ev.type === 'interface') {
          const created = table.add(s, ev.iface);
          if (created) ready.push({ type: 'interface', iface: created });
        } else {
          const out = table.map[s]!.get(ev.packet.interfaceKey);
          if (!out) throw new Error(`merge: source ${sources[s]!.label}: packet on an unknown interface ${ev.packet.interfaceKey}`);
          const t = ev.packet.tsNs - slack;
          if (mark[s] === undefined || t > mark[s]!) mark[s] = t;
          buffered[s]!++;
          heap.push({ tsNs: ev.packet.tsNs, src: s, seq: seq++, arrived: Date.now(), ev: { type: 'packet', interfaceId: out.id, source: out.source, packet: ev.packet } });
        }
        notify();
        while (buffered[s]! >= maxBuffered && !stopped) await new Promise<void>((r) => room.push(r));
      }
    } catch (err) {
      failure ??= err;
    } finally {
      open[s] = false;
      notify();
    }
  };
  const pumps = sources.map((_, s) => pump(s));

  try {
    for (;;) {
      if (failure) throw failure;
      while (ready.length) yield ready.shift()!;
      const top = heap.peek();
      if (top) {
        // Safe to emit when no open source can still produce an earlier packet, or when it waited long enough.
        const safe = sources.every((_, s) => !open[s] || (mark[s] !== undefined && mark[s]! >= top.tsNs));
        const waited = Date.now() - top.arrived;
        if (safe || waited >= holdMs) {
          heap.pop();
          buffered[top.src]!--;
          const r = room;
          room = [];
          r.forEach((f) => f());
          yield top.ev;
          continue;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, holdMs - waited);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        continue;
      }
      if (open.every((o) => !o)) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure) throw failure;
    while (ready.length) yield ready.shift()!;
  } finally {
    stopped = true;
    room.forEach((f) => f());
    notify();
    // A live source may block in a read until its request is aborted (the caller's signal):
    // do not wait for it here.
    void Promise.allSettled(pumps);
  }
}

/** Concatenates the events of several captures (one node's rotated files) into one source. */
export async function* concatCaptures(parts: Iterable<AsyncIterable<CaptureEvent>> | AsyncIterable<AsyncIterable<CaptureEvent>>, prefixKeys = true): AsyncGenerator<CaptureEvent> {
  let n = 0;
  for await (const part of parts) {
    const p = n++;
    for await (const ev of part) {
      if (!prefixKeys) yield ev;
      else if (ev.type === 'interface') yield { type: 'interface', iface: { ...ev.iface, key: `${p}:${ev.iface.key}` } };
      else yield { type: 'packet', packet: { ...ev.packet, interfaceKey: `${p}:${ev.packet.interfaceKey}` } };
    }
  }
}

export interface WriteSummary {
  packets: number;
  interfaces: number;
  /** Packets per source label. */
  perSource: Map<string, number>;
}

/** Writes merged events as one pcapng to out. */
export async function writeMerged(events: AsyncIterable<MergeEvent>, out: Writable, opts: { endStream?: boolean } = {}): Promise<WriteSummary> {
  const w = new PcapngWriter(out);
  const summary: WriteSummary = { packets: 0, interfaces: 0, perSource: new Map() };
  const ids = new Map<number, number>();
  for await (const ev of events) {
    if (ev.type === 'interface') {
      ids.set(ev.iface.id, w.addInterface(ev.iface));
      summary.interfaces++;
      summary.perSource.set(ev.iface.source, summary.perSource.get(ev.iface.source) ?? 0);
      continue;
    }
    const id = ids.get(ev.interfaceId);
    if (id === undefined) throw new Error(`merge produced a packet before its interface ${ev.interfaceId}`);
    await w.writePacket(id, ev.packet.tsNs, ev.packet.origLen, ev.packet.data, ev.packet.flags);
    summary.packets++;
    summary.perSource.set(ev.source, (summary.perSource.get(ev.source) ?? 0) + 1);
  }
  await w.end(opts);
  return summary;
}
