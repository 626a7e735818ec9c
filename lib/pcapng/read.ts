// Streaming pcapng/pcap reading.
//
// The reader never holds more than one block: it works on any async byte source (a file
// stream, an HTTP body, a live stream) and yields interfaces and packets as they arrive.
// What tshark and libpcap read, it reads the same way (checked against both over third-party
// corpora and fuzzed files in test/unit/pcapng). Anything that is not pcapng/pcap is a
// PcapFormatError with its offset, after every packet before it; a truncated last block ends
// the stream (a capture still being written, or a torn tail after a crash). With onDamage,
// both are reported there instead, so that a caller keeps every good packet of a damaged file.
import {
  BT_EPB, BT_IDB, BT_ISB, BT_NRB, BT_OPB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC, NOTICE_PREFIX, OPT_COMMENT, EPB_FLAGS, IF_DESCRIPTION, IF_FCSLEN, IF_NAME, IF_TSOFFSET, IF_TSRESOL,
  ISB_ENDTIME, ISB_FILTERACCEPT, ISB_IFDROP, ISB_IFRECV, ISB_OSDROP, ISB_STARTTIME, ISB_USRDELIV,
  MAX_SNAPLEN, OPT_CUSTOM_BIN_COPY, OPT_CUSTOM_STR_COPY, OPT_ENDOFOPT, PCAP_MAGIC_MODIFIED, PCAP_MAGIC_NS, PCAP_MAGIC_US,
  type StatisticsCounters,
} from './format.js';

/** Blocks larger than this are taken as garbage rather than buffered. */
const MAX_BLOCK = 64 * 1024 * 1024;
/** Simple Packet Blocks waiting for the first time stamp of their file, at most this many bytes. */
const MAX_HELD = 16 * 1024 * 1024;

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
  /** Frame check sequence bits at the end of each frame, where the capture says (if_fcslen, or pcap's FCS field). */
  fcsLenBits?: number;
}

export interface Packet {
  interfaceKey: string;
  /** Absolute time in nanoseconds since the epoch. */
  tsNs: bigint;
  caplen: number;
  origLen: number;
  /** epb_flags (or the obsolete Packet Block's pack_flags). */
  flags?: number;
  /** opt_comment options, in order. */
  comments?: string[];
  /** Copyable custom options (2988 string, 2989 binary), in order; the data follows the PEN. */
  custom?: CustomOption[];
  data: Buffer;
  /**
   * The capture recorded no time for this packet (a Simple Packet Block): tsNs is that of the
   * packet before it in the same input, or, before the first timed one, of the first after it.
   */
  noTimestamp?: true;
}

/** A pcapng custom option: its code, Private Enterprise Number, and data. */
export interface CustomOption { code: number; pen: number; data: Buffer }

/** An Interface Statistics Block: counters of one interface at a time (times in ns since the epoch). */
export interface InterfaceStatistics extends StatisticsCounters {
  interfaceKey: string;
}

export type CaptureEvent = { type: 'interface'; iface: InterfaceInfo } | { type: 'packet'; packet: Packet };
export type StatisticsEvent = { type: 'statistics'; statistics: InterfaceStatistics };
/** What readCapture yields with { statistics: true }. */
export type ReadEvent = CaptureEvent | StatisticsEvent;

export interface ReadStats {
  format?: 'pcapng' | 'pcap';
  bytes: number;
  packets: number;
  /** The input ended inside a block: the partial block was dropped. */
  truncated: boolean;
}

/** Where and why an input stopped being readable; every packet before `offset` was yielded. */
export interface ReadDamage {
  offset: number;
  message: string;
  /** Packets read before it. */
  packets: number;
  /** The input ended inside a block (a torn tail) rather than holding something unreadable. */
  truncated: boolean;
}

export interface ReadOptions {
  /** Also yield Interface Statistics Blocks (kernel drop counts and the like). */
  statistics?: boolean;
  /**
   * Report a format error or a torn last block here and end the stream, instead of throwing
   * the PcapFormatError (or ending quietly at a torn block).
   */
  onDamage?: (damage: ReadDamage) => void;
  /** ringtap's notices about the file (see encodeNotice), such as a merge's damaged sources. */
  onNotice?: (text: string) => void;
}

/** if_tsresol byte to ns-per-unit as a fraction. */
export function tsresolToFraction(v: number): { num: bigint; den: bigint } {
  const exp = BigInt(v & 0x7f);
  if (v & 0x80) return { num: 1_000_000_000n, den: 1n << exp };
  return exp <= 9n ? { num: 10n ** (9n - exp), den: 1n } : { num: 1n, den: 10n ** (exp - 9n) };
}

/**
 * A byte window over chunks: keeps only what is not consumed yet. A block that spans chunks is
 * copied together (just its bytes); everything else is a view of the chunk it arrived in.
 */
class ByteWindow {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** Chunks after buf, not yet looked at. */
  private rest: Buffer[] = [];
  private restBytes = 0;
  /** Absolute offset of buf[pos] in the input. */
  offset = 0;
  ended = false;

  push(chunk: Uint8Array): void {
    const c = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pos >= this.buf.length && this.rest.length === 0) {
      this.buf = c;
      this.pos = 0;
    } else {
      this.rest.push(c);
      this.restBytes += c.length;
    }
  }

  get available(): number {
    return this.buf.length - this.pos + this.restBytes;
  }

  /** Makes the next n bytes (at most what is available) contiguous in buf. */
  private gather(n: number): void {
    n = Math.min(n, this.available);
    if (this.buf.length - this.pos >= n) return;
    const out = Buffer.allocUnsafe(n);
    let o = this.buf.copy(out, 0, this.pos);
    while (o < n) {
      const c = this.rest[0]!;
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      this.restBytes -= k;
      if (k === c.length) this.rest.shift();
      else this.rest[0] = c.subarray(k);
    }
    this.buf = out;
    this.pos = 0;
  }

  peek(n: number): Buffer {
    this.gather(n);
    return this.buf.subarray(this.pos, this.pos + n);
  }

  take(n: number): Buffer {
    this.gather(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += b.length;
    this.offset += b.length;
    if (this.pos >= this.buf.length && this.rest.length) {
      this.buf = this.rest.shift()!;
      this.restBytes -= this.buf.length;
      this.pos = 0;
    }
    return b;
  }
}

type U32 = (b: Buffer, o: number) => number;
const le32: U32 = (b, o) => b.readUInt32LE(o);
const be32: U32 = (b, o) => b.readUInt32BE(o);

/** What the format readers share with readCapture: the input, the counters, and where a torn tail began. */
interface Reading {
  win: ByteWindow;
  /** Ensures n bytes are available; false when the input ended first. */
  fill: (n: number) => Promise<boolean>;
  stats: ReadStats;
  statistics: boolean;
  onNotice?: (text: string) => void;
  /** Set when the input ends inside a block. */
  torn?: { offset: number; need: number };
}

function tear(r: Reading, offset: number, need: number): void {
  r.stats.truncated = true;
  r.torn = { offset, need };
}

/**
 * Reads a pcapng or classic pcap byte stream. Yields an 'interface' event before the first
 * packet of each interface (classic pcap has exactly one). `stats` is filled in as it goes.
 */
export function readCapture(input: AsyncIterable<Uint8Array | string>, stats?: ReadStats): AsyncGenerator<CaptureEvent>;
export function readCapture(input: AsyncIterable<Uint8Array | string>, stats: ReadStats | undefined, opts: ReadOptions & { statistics: true }): AsyncGenerator<ReadEvent>;
export function readCapture(input: AsyncIterable<Uint8Array | string>, stats: ReadStats | undefined, opts: ReadOptions & { statistics?: false }): AsyncGenerator<CaptureEvent>;
export async function* readCapture(input: AsyncIterable<Uint8Array | string>, stats: ReadStats = { bytes: 0, packets: 0, truncated: false }, opts: ReadOptions = {}): AsyncGenerator<ReadEvent> {
  const win = new ByteWindow();
  const it = input[Symbol.asyncIterator]();
  const r: Reading = {
    win,
    stats,
    statistics: opts.statistics === true,
    ...(opts.onNotice ? { onNotice: opts.onNotice } : {}),
    fill: async (n) => {
      while (win.available < n) {
        if (win.ended) return false;
        const next = await it.next();
        if (next.done) {
          win.ended = true;
          return false;
        }
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'latin1') : next.value;
        stats.bytes += chunk.byteLength;
        win.push(chunk);
      }
      return true;
    },
  };

  try {
    try {
      if (!(await r.fill(4))) {
        if (win.available > 0) tear(r, 0, 4);
      } else {
        const m = win.peek(4);
        const magicLE = m.readUInt32LE(0);
        const pcapMagics = [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED];
        if (magicLE === BT_SHB) {
          stats.format = 'pcapng';
          yield* timeSimplePackets(readPcapng(r));
        } else if (pcapMagics.includes(magicLE) || pcapMagics.includes(m.readUInt32BE(0))) {
          stats.format = 'pcap';
          yield* readPcap(r);
        } else {
          throw new PcapFormatError(`not a pcapng or pcap capture (first word 0x${magicLE.toString(16).padStart(8, '0')})`, 0);
        }
      }
    } catch (err) {
      if (!(err instanceof PcapFormatError) || !opts.onDamage) throw err;
      opts.onDamage({ offset: err.offset, message: err.message, packets: stats.packets, truncated: false });
      return;
    }
    if (r.torn && opts.onDamage) {
      const { offset, need } = r.torn;
      opts.onDamage({
        offset,
        message: `the input ends inside a block: ${win.available} of its ${need} bytes at byte offset ${offset}`,
        packets: stats.packets,
        truncated: true,
      });
    }
  } finally {
    await it.return?.();
  }
}

/**
 * Simple Packet Blocks carry no time. Each keeps its place in the file: it gets the time of the
 * packet before it, and those before the file's first timed packet wait for that one (up to
 * MAX_HELD bytes; with no time at all they get 0, as tshark shows them).
 */
async function* timeSimplePackets(events: AsyncGenerator<ReadEvent>): AsyncGenerator<ReadEvent> {
  let held: Packet[] = [];
  let heldBytes = 0;
  let last: bigint | undefined;
  const release = function* (tsNs: bigint): Generator<ReadEvent> {
    const h = held;
    held = [];
    heldBytes = 0;
    for (const p of h) yield { type: 'packet', packet: { ...p, tsNs } };
  };
  try {
    for await (const ev of events) {
      if (ev.type !== 'packet') {
        yield ev;
        continue;
      }
      const p = ev.packet;
      if (!p.noTimestamp) {
        last = p.tsNs;
        yield* release(p.tsNs);
        yield ev;
      } else if (last !== undefined) {
        yield { type: 'packet', packet: { ...p, tsNs: last } };
      } else {
        held.push(p);
        heldBytes += p.caplen;
        if (heldBytes > MAX_HELD) yield* release(0n);
      }
    }
  } catch (err) {
    yield* release(last ?? 0n);
    throw err;
  }
  yield* release(last ?? 0n);
}

async function* readPcapng(r: Reading): AsyncGenerator<ReadEvent> {
  const { win, fill, stats } = r;
  let u32: U32 = le32;
  let section = -1;
  let ifaces: InterfaceInfo[] = [];
  for (;;) {
    if (!(await fill(12))) {
      if (win.available > 0) tear(r, win.offset, 12);
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
    const le = u32 === le32;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const btype = u32(head, 0);
    const len = u32(head, 4);
    if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) throw new PcapFormatError(`bad pcapng block length ${len} (block type 0x${btype.toString(16)})`, start);
    if (!(await fill(len))) {
      tear(r, start, len);
      return;
    }
    const b = win.take(len);
    if (u32(b, len - 4) !== len) throw new PcapFormatError(`pcapng block length ${len} does not match its trailer ${u32(b, len - 4)}`, start);
    const body = b.subarray(8, len - 4);
    switch (btype) {
      case BT_SHB: {
        if (body.length < 16) throw new PcapFormatError(`Section Header Block of ${len} bytes, shorter than the minimum 28`, start);
        const major = u16(body, 4);
        const minor = u16(body, 6);
        // 1.2 was written by some tools for the same format (tshark and libpcap read it as 1.0).
        if (major !== 1 || (minor !== 0 && minor !== 2)) throw new PcapFormatError(`unsupported pcapng version ${major}.${minor} (1.0 is read, and 1.2 as 1.0)`, start + 12);
        section++;
        ifaces = [];
        break;
      }
      case BT_IDB: {
        if (body.length < 8) throw new PcapFormatError('short Interface Description Block', start);
        const iface: InterfaceInfo = { key: `${section}/${ifaces.length}`, linkType: u16(body, 0), snapLen: u32(body, 4), tsNum: 1000n, tsDen: 1n, tsOffsetSec: 0n };
        for (const [code, val] of options(body.subarray(8), le, start)) {
          if (code === IF_NAME) iface.name = cstr(val);
          else if (code === IF_DESCRIPTION) iface.description = cstr(val);
          else if (code === IF_TSRESOL && val.length >= 1) {
            const f = tsresolToFraction(val[0]!);
            iface.tsNum = f.num;
            iface.tsDen = f.den;
          } else if (code === IF_TSOFFSET && val.length >= 8) {
            iface.tsOffsetSec = le ? val.readBigInt64LE(0) : val.readBigInt64BE(0);
          } else if (code === IF_FCSLEN && val.length >= 1) {
            iface.fcsLenBits = val[0]!;
          }
        }
        ifaces.push(iface);
        yield { type: 'interface', iface };
        break;
      }
      case BT_EPB:
      case BT_OPB: {
        if (body.length < 20) throw new PcapFormatError('short packet block', start);
        const id = btype === BT_EPB ? u32(body, 0) : u16(body, 0);
        const iface = ifaces[id];
        if (!iface) throw new PcapFormatError(`packet block names interface ${id}, but the section has ${ifaces.length}`, start);
        const ts = (BigInt(u32(body, 4)) << 32n) | BigInt(u32(body, 8));
        const caplen = u32(body, 12);
        const origLen = u32(body, 16);
        const padded = (caplen + 3) & ~3;
        if (20 + padded > body.length) throw new PcapFormatError(`packet caplen ${caplen} exceeds its block`, start);
        const pkt: Packet = { interfaceKey: iface.key, tsNs: toNs(ts, iface), caplen, origLen, data: body.subarray(20, 20 + caplen) };
        for (const [code, val] of options(body.subarray(20 + padded), le, start)) {
          if (code === EPB_FLAGS && val.length >= 4) pkt.flags = u32(val, 0);
          else if (code === OPT_COMMENT) (pkt.comments ??= []).push(val.toString('utf8'));
          else if ((code === OPT_CUSTOM_STR_COPY || code === OPT_CUSTOM_BIN_COPY) && val.length >= 4) (pkt.custom ??= []).push({ code, pen: u32(val, 0), data: val.subarray(4) });
        }
        stats.packets++;
        yield { type: 'packet', packet: pkt };
        break;
      }
      case BT_SPB: {
        if (body.length < 4) throw new PcapFormatError(`Simple Packet Block of ${len} bytes, shorter than the minimum 16`, start);
        const iface = ifaces[0];
        if (!iface) throw new PcapFormatError('Simple Packet Block without an interface', start);
        const origLen = u32(body, 0);
        const caplen = iface.snapLen && iface.snapLen < origLen ? iface.snapLen : origLen;
        if (4 + caplen > body.length) throw new PcapFormatError(`Simple Packet Block of ${len} bytes is too short for its ${caplen} captured bytes`, start);
        stats.packets++;
        yield { type: 'packet', packet: { interfaceKey: iface.key, tsNs: 0n, caplen, origLen, data: body.subarray(4, 4 + caplen), noTimestamp: true } };
        break;
      }
      case BT_ISB: {
        if (!r.statistics) break;
        if (body.length < 12) throw new PcapFormatError('short Interface Statistics Block', start);
        const id = u32(body, 0);
        const iface = ifaces[id];
        if (!iface) throw new PcapFormatError(`Interface Statistics Block names interface ${id}, but the section has ${ifaces.length}`, start);
        const time = (v: Buffer, o: number) => toNs((BigInt(u32(v, o)) << 32n) | BigInt(u32(v, o + 4)), iface);
        const s: InterfaceStatistics = { interfaceKey: iface.key, tsNs: time(body, 4) };
        for (const [code, val] of options(body.subarray(12), le, start)) {
          if (val.length < 8) continue;
          const n = le ? val.readBigUInt64LE(0) : val.readBigUInt64BE(0);
          if (code === ISB_STARTTIME) s.startNs = time(val, 0);
          else if (code === ISB_ENDTIME) s.endNs = time(val, 0);
          else if (code === ISB_IFRECV) s.ifRecv = n;
          else if (code === ISB_IFDROP) s.ifDrop = n;
          else if (code === ISB_FILTERACCEPT) s.filterAccept = n;
          else if (code === ISB_OSDROP) s.osDrop = n;
          else if (code === ISB_USRDELIV) s.usrDeliv = n;
        }
        yield { type: 'statistics', statistics: s };
        break;
      }
      case BT_NRB: {
        if (!r.onNotice) break;
        const records = nrbRecordsEnd(body, u16);
        if (records === undefined) break; // records that overrun the block: not ours, and names are not read here
        for (const [code, val] of options(body.subarray(records), le, start)) {
          const text = code === OPT_COMMENT ? val.toString('utf8') : '';
          if (text.startsWith(NOTICE_PREFIX)) r.onNotice(text.slice(NOTICE_PREFIX.length));
        }
        break;
      }
      default:
        break; // unknown blocks: skipped
    }
  }
}

/** Where a Name Resolution Block's options begin: after its records and nrb_record_end. */
function nrbRecordsEnd(body: Buffer, u16: (b: Buffer, o: number) => number): number | undefined {
  let o = 0;
  while (o + 4 <= body.length) {
    const type = u16(body, o);
    const len = u16(body, o + 2);
    o += 4 + ((len + 3) & ~3);
    if (type === 0) return o <= body.length ? o : undefined;
  }
  return undefined;
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

/**
 * pcap link-type word: bits 0-15 the link type, 16-25 reserved, 26 "FCS length present", 28-31
 * the FCS length in 16-bit words. Reserved bits set are refused, as tshark and libpcap refuse them.
 */
function pcapLinkType(word: number): { linkType: number; fcsLenBits?: number } {
  if (word & 0x03ff0000) throw new PcapFormatError(`pcap link-type word 0x${(word >>> 0).toString(16).padStart(8, '0')} has reserved bits (16-25) set`, 20);
  const linkType = word & 0xffff;
  return word & 0x04000000 ? { linkType, fcsLenBits: ((word >>> 28) & 0xf) * 16 } : { linkType };
}

async function* readPcap(r: Reading): AsyncGenerator<ReadEvent> {
  const { win, fill, stats } = r;
  if (!(await fill(24))) {
    tear(r, 0, 24);
    return;
  }
  const h = win.take(24);
  const le = [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED].includes(h.readUInt32LE(0));
  const u32: U32 = le ? le32 : be32;
  const magic = u32(h, 0);
  const nano = magic === PCAP_MAGIC_NS;
  const major = le ? h.readUInt16LE(4) : h.readUInt16BE(4);
  const minor = le ? h.readUInt16LE(6) : h.readUInt16BE(6);
  if (major < 2) throw new PcapFormatError(`unsupported pcap version ${major}.${minor} (2.0 and later are read)`, 4);
  // Before 2.3 (and in DG/UX's 543.0) a record had its original length before its captured
  // length; 2.3 files were written both ways. libpcap and tshark swap them back the same way.
  const swapped = (major === 2 && minor < 3) || major === 543 ? 'yes' : major === 2 && minor === 3 ? 'maybe' : 'no';
  const snapLen = u32(h, 16);
  const iface: InterfaceInfo = { key: '0/0', ...pcapLinkType(u32(h, 20)), snapLen, tsNum: 1n, tsDen: 1n, tsOffsetSec: 0n };
  yield { type: 'interface', iface };
  const lengths = (rec: Buffer): [number, number] => {
    const caplen = u32(rec, 8);
    const origLen = u32(rec, 12);
    return swapped === 'yes' || (swapped === 'maybe' && caplen > origLen) ? [origLen, caplen] : [caplen, origLen];
  };
  const hdrLen = await pcapRecordLayout(r, magic, snapLen, u32, lengths);
  const limit = Math.min(Math.max(snapLen, MAX_SNAPLEN), MAX_BLOCK);
  for (;;) {
    if (!(await fill(hdrLen))) {
      if (win.available > 0) tear(r, win.offset, hdrLen);
      return;
    }
    const start = win.offset;
    const rec = win.peek(hdrLen);
    const sec = BigInt(u32(rec, 0));
    const frac = BigInt(u32(rec, 4));
    const [caplen, origLen] = lengths(rec);
    if (caplen > limit) throw new PcapFormatError(`pcap record of ${caplen} captured bytes, more than the ${limit} a record may hold`, start);
    if (!(await fill(hdrLen + caplen))) {
      tear(r, start, hdrLen + caplen);
      return;
    }
    const data = win.take(hdrLen + caplen).subarray(hdrLen);
    stats.packets++;
    // A fraction of a second or more (seen in the wild) is read on, as tshark and libpcap do, and added up.
    yield { type: 'packet', packet: { interfaceKey: iface.key, tsNs: sec * 1_000_000_000n + (nano ? frac : frac * 1000n), caplen, origLen, data } };
  }
}

/**
 * The size of a pcap record header. The same magic was written with longer record headers by
 * patched libpcaps: with the standard magic by Red Hat 6.1 (24 bytes) and Nokia (20), with the
 * modified magic by Kuznetzov's patch (24) and SuSE 6.3 (28). As wiretap does, each layout is
 * tried on the first three records; the first whose records all look sane wins, else the one
 * whose first bad record has the fewest flaws. An input that ends cleanly counts as sane, one
 * that ends inside a record as one flaw.
 */
async function pcapRecordLayout(r: Reading, magic: number, snapLen: number, u32: U32, lengths: (rec: Buffer) => [number, number]): Promise<number> {
  if (magic === PCAP_MAGIC_NS) return 16;
  const layouts = magic === PCAP_MAGIC_MODIFIED ? [24, 28] : [16, 24, 20];
  const flaws = (rec: Buffer): number => {
    const [caplen, origLen] = lengths(rec);
    return Number(u32(rec, 4) >= 1_000_000) + Number(caplen > MAX_SNAPLEN) + Number(origLen > 128 * 1024 * 1024) + Number(caplen > snapLen) + Number(caplen > origLen);
  };
  const tryLayout = async (hdrLen: number): Promise<number> => {
    let at = 0;
    for (let i = 0; i < 3; i++) {
      if (!(await r.fill(at + hdrLen))) return r.win.available === at ? 0 : 1;
      const rec = r.win.peek(at + hdrLen).subarray(at);
      const n = flaws(rec);
      if (n > 0) return n;
      at += hdrLen + lengths(rec)[0];
      if (!(await r.fill(at))) return 1;
    }
    return 0;
  };
  let best = { hdrLen: layouts[0]!, flaws: Infinity };
  for (const hdrLen of layouts) {
    const n = await tryLayout(hdrLen);
    if (n === 0) return hdrLen;
    if (n < best.flaws) best = { hdrLen, flaws: n };
  }
  return best.hdrLen;
}
