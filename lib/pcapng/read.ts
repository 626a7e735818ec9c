// Streaming pcapng/pcap reading.
//
// The reader never holds more than one block: it works on any async byte source (a file
// stream, an HTTP body, a live stream) and yields interfaces and packets as they arrive.
// A truncated last block ends the stream cleanly (a capture still being written, or a torn
// tail after a crash); anything else that is not pcapng/pcap is an error with its offset.
import {
  BT_EPB, BT_IDB, BT_ISB, BT_OPB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC, EPB_FLAGS, IF_DESCRIPTION, IF_NAME, IF_TSOFFSET, IF_TSRESOL,
  MAX_SNAPLEN, OPT_ENDOFOPT, PCAP_MAGIC_NS, PCAP_MAGIC_US,
} from './format.js';

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
