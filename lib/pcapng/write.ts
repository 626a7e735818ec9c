// pcapng writing: block encoders and a streaming section writer.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  BT_EPB, BT_IDB, BT_ISB, BT_NRB, BT_SHB, NOTICE_PREFIX, BYTE_ORDER_MAGIC, EPB_FLAGS, IF_DESCRIPTION, IF_FCSLEN, IF_NAME, IF_TSRESOL, ISB_ENDTIME, ISB_FILTERACCEPT, ISB_IFDROP,
  ISB_IFRECV, ISB_OSDROP, ISB_STARTTIME, ISB_USRDELIV, MAX_SNAPLEN, OPT_COMMENT, SHB_USERAPPL,
  type StatisticsCounters,
} from './format.js';

export interface OutputInterface {
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
  /** if_fcslen: frames end with this many bits of frame check sequence. */
  fcsLenBits?: number;
}

/** An Interface Statistics Block's content; times in ns since the epoch (the writer's IDBs say nanoseconds). */
export type OutputStatistics = StatisticsCounters;

/** Per-packet options beside the flags. */
export interface PacketOptions {
  comments?: string[];
  /** Custom options: code (2988, 2989, ...), Private Enterprise Number, data (parts are written one after the other). */
  custom?: { code: number; pen: number; data: Buffer | readonly Buffer[] }[];
}

/** "ringtap <version>", from the package.json above this file (in the source tree and in the image). */
function userAppl(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const f = join(dir, 'package.json');
    if (existsSync(f)) {
      try {
        const p = JSON.parse(readFileSync(f, 'utf8')) as { name?: string; version?: string };
        if (p.name === 'ringtap' && p.version) return `ringtap ${p.version}`;
      } catch {
        // not ours: look further up
      }
    }
    const up = dirname(dir);
    if (up === dir) return 'ringtap';
    dir = up;
  }
}
export const USER_APPL = userAppl();

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

/** The Section Header Block; shb_userappl says which program wrote the section. */
export function encodeSHB(appl: string = USER_APPL): Buffer {
  const o = optionBytes(appl ? [[SHB_USERAPPL, Buffer.from(appl, 'utf8')]] : []);
  const body = Buffer.alloc(16 + o.length);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4);
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8); // section length unknown: we stream
  o.copy(body, 16);
  return block(BT_SHB, body);
}

export function encodeIDB(i: OutputInterface): Buffer {
  const opts: [number, Buffer][] = [];
  if (i.name) opts.push([IF_NAME, Buffer.from(i.name, 'utf8')]);
  if (i.description) opts.push([IF_DESCRIPTION, Buffer.from(i.description, 'utf8')]);
  opts.push([IF_TSRESOL, Buffer.from([9])]);
  if (i.fcsLenBits !== undefined) opts.push([IF_FCSLEN, Buffer.from([i.fcsLenBits])]);
  const o = optionBytes(opts);
  const body = Buffer.alloc(8 + o.length);
  body.writeUInt16LE(i.linkType, 0);
  body.writeUInt32LE(i.snapLen, 4);
  o.copy(body, 8);
  return block(BT_IDB, body);
}

export function encodeEPB(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number, po: PacketOptions = {}): Buffer {
  const b = Buffer.allocUnsafe(epbLength(data.length, flags, po));
  writeEPB(b, 0, interfaceId, tsNs, origLen, data, flags, po);
  return b;
}

function customLength(data: Buffer | readonly Buffer[]): number {
  return Buffer.isBuffer(data) ? data.length : data.reduce((n, d) => n + d.length, 0);
}

/** The size of the EPB encodeEPB and writeEPB give for a packet of dataLength bytes with these options. */
export function epbLength(dataLength: number, flags?: number, po: PacketOptions = {}): number {
  let opts = 0;
  for (const c of po.comments ?? []) opts += 4 + pad4(Buffer.byteLength(c, 'utf8'));
  if (flags !== undefined) opts += 8;
  for (const c of po.custom ?? []) opts += 4 + pad4(4 + customLength(c.data));
  return 32 + pad4(dataLength) + (opts > 0 ? opts + 4 : 0);
}

/**
 * Encodes an EPB into b at offset (epbLength bytes, every one written: b may come from
 * allocUnsafe) and returns its length. Options in the order opt_comment, epb_flags, custom.
 * A producer that lays out many packets in one buffer of its own calls this; encodeEPB is it
 * with a buffer per packet.
 */
export function writeEPB(b: Buffer, offset: number, interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number, po: PacketOptions = {}): number {
  const len = epbLength(data.length, flags, po);
  const ts = BigInt.asUintN(64, tsNs);
  b.writeUInt32LE(BT_EPB, offset);
  b.writeUInt32LE(len, offset + 4);
  b.writeUInt32LE(interfaceId, offset + 8);
  b.writeUInt32LE(Number(ts >> 32n), offset + 12);
  b.writeUInt32LE(Number(ts & 0xffffffffn), offset + 16);
  b.writeUInt32LE(data.length, offset + 20);
  b.writeUInt32LE(origLen, offset + 24);
  b.set(data, offset + 28);
  let o = padTo(b, offset + 28 + data.length, data.length);
  for (const c of po.comments ?? []) {
    const n = b.write(c, o + 4, 'utf8');
    b.writeUInt16LE(OPT_COMMENT, o);
    b.writeUInt16LE(n, o + 2);
    o = padTo(b, o + 4 + n, n);
  }
  if (flags !== undefined) {
    b.writeUInt16LE(EPB_FLAGS, o);
    b.writeUInt16LE(4, o + 2);
    b.writeUInt32LE(flags >>> 0, o + 4);
    o += 8;
  }
  for (const c of po.custom ?? []) {
    const n = 4 + customLength(c.data);
    b.writeUInt16LE(c.code, o);
    b.writeUInt16LE(n, o + 2);
    b.writeUInt32LE(c.pen >>> 0, o + 4);
    let p = o + 8;
    for (const d of Buffer.isBuffer(c.data) ? [c.data] : c.data) {
      b.set(d, p);
      p += d.length;
    }
    o = padTo(b, p, n);
  }
  if (o - offset < len - 4) {
    b.writeUInt32LE(0, o); // opt_endofopt
    o += 4;
  }
  b.writeUInt32LE(len, o);
  return len;
}

/** Zeroes the padding after a field of n bytes that ends at o; returns the offset after it. */
function padTo(b: Buffer, o: number, n: number): number {
  const pad = pad4(n) - n;
  if (pad > 0) b.fill(0, o, o + pad);
  return o + pad;
}

/** An Interface Statistics Block for an interface whose IDB says nanoseconds (as encodeIDB's do). */
export function encodeISB(interfaceId: number, s: OutputStatistics): Buffer {
  const opts: [number, Buffer][] = [];
  if (s.startNs !== undefined) opts.push([ISB_STARTTIME, ts64le(s.startNs)]);
  if (s.endNs !== undefined) opts.push([ISB_ENDTIME, ts64le(s.endNs)]);
  const counters: [number, bigint | undefined][] = [[ISB_IFRECV, s.ifRecv], [ISB_IFDROP, s.ifDrop], [ISB_FILTERACCEPT, s.filterAccept], [ISB_OSDROP, s.osDrop], [ISB_USRDELIV, s.usrDeliv]];
  for (const [code, v] of counters) {
    if (v === undefined) continue;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, v));
    opts.push([code, b]);
  }
  const o = optionBytes(opts);
  const body = Buffer.alloc(12 + o.length);
  body.writeUInt32LE(interfaceId, 0);
  ts64le(s.tsNs).copy(body, 4);
  o.copy(body, 12);
  return block(BT_ISB, body);
}

/**
 * A notice about the file in the file itself (say, that a source was damaged and what of it is
 * missing): the opt_comment of an empty Name Resolution Block, which tshark and libpcap read
 * past without showing a frame (a Custom Block would be a frame in tshark), and readCapture reports.
 */
export function encodeNotice(text: string): Buffer {
  const o = optionBytes([[OPT_COMMENT, Buffer.from(`${NOTICE_PREFIX}${text}`, 'utf8')]]);
  const body = Buffer.alloc(4 + o.length); // nrb_record_end, then the options
  o.copy(body, 4);
  return block(BT_NRB, body);
}

/** A pcapng time stamp: the high 32 bits, then the low 32 bits. */
function ts64le(tsNs: bigint): Buffer {
  const ts = BigInt.asUintN(64, tsNs);
  const b = Buffer.alloc(8);
  b.writeUInt32LE(Number(ts >> 32n), 0);
  b.writeUInt32LE(Number(ts & 0xffffffffn), 4);
  return b;
}

/** Output is gathered into chunks of this size: fewer, larger writes (and TLS records, HTTP chunks) downstream. */
const CHUNK_BYTES = 256 * 1024;
/** A chunk with less room than this left is written and replaced. */
const MIN_ROOM = 2048;
/** Chunks kept for reuse (PcapngWriterOptions.reuseChunks), at most. */
const SPARE_CHUNKS = 4;

export interface PcapngWriterOptions {
  /** The snap length of every IDB (default 262144). */
  snapLen?: number;
  /** shb_userappl (default "ringtap <version>"). */
  userAppl?: string;
  /**
   * Write what is queued on the next turn of the event loop even if less than a chunk (default
   * true): a live stream is not held back. A download of finished files sets false, so every
   * write is a whole chunk (fewer TLS records and HTTP chunks for every hop downstream).
   */
  flushWhenIdle?: boolean;
  /**
   * Reuse an output chunk once the output has called back for every write of it (at most
   * SPARE_CHUNKS kept), instead of allocating a new one: a gigabyte written is then not a
   * gigabyte of short-lived buffers that the garbage collector frees in bursts. Only for an
   * output that is done with a chunk when it calls back (a socket, a file, an HTTP response),
   * never one that keeps the chunk after (a PassThrough, an array of chunks).
   */
  reuseChunks?: boolean;
}

/** An output chunk and how many of its pieces are queued or not yet called back by the output. */
interface Chunk {
  buf: Buffer;
  writes: number;
  /** No more bytes go into it: it can be reused once writes is 0. */
  retired: boolean;
}

/**
 * Writes a pcapng section to a Writable: SHB first, IDBs as interfaces are added, EPBs.
 * Every write() carries whole blocks, so a reader that sees a prefix sees whole blocks
 * plus at most one torn one. Blocks are encoded straight into a shared output chunk (no buffer
 * per packet), written once 256 KiB are gathered and otherwise (flushWhenIdle) on the next
 * turn of the event loop, so a live stream is not held back.
 */
export class PcapngWriter {
  /** The chunk being filled; bytes before `start` were handed to the output already. */
  private chunk: Chunk = { buf: Buffer.allocUnsafe(CHUNK_BYTES), writes: 0, retired: false };
  private start = 0;
  private used = 0;
  /** Queued pieces in order: parts of chunks, and blocks too large for a chunk. */
  private pending: { b: Buffer; chunk?: Chunk }[] = [];
  private pendingBytes = 0;
  private spare: Chunk[] = [];
  private scheduled = false;
  private interfaces = 0;
  packets = 0;

  /**
   * libpcap (tcpdump) refuses a section whose interfaces differ in snap length, so every IDB
   * gets the same one (default 262144, the largest libpcap takes); packets keep their own
   * caplen, and the sources' snap lengths stay visible as caplen < original length.
   */
  constructor(private out: Writable, private opts: PcapngWriterOptions = {}) {
    // An output that fails (a full disk, a closed pipe) must not throw from an 'error' event
    // nobody listens to: the failure comes back from the next write, flush or end instead.
    out.on('error', (err: Error) => (this.failure ??= err));
    this.push(encodeSHB(opts.userAppl));
  }

  private failure: Error | undefined;

  /** Adds an IDB; returns its interface id. */
  addInterface(i: OutputInterface): number {
    this.push(encodeIDB({ ...i, snapLen: this.opts.snapLen ?? MAX_SNAPLEN }));
    return this.interfaces++;
  }

  /** Queues an EPB; resolves once the output can take more (backpressure). */
  async writePacket(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number, po?: PacketOptions): Promise<void> {
    if (interfaceId >= this.interfaces) throw new Error(`pcapng writer: no interface ${interfaceId}`);
    this.packets++;
    if (po?.comments?.length || po?.custom?.length) this.push(encodeEPB(interfaceId, tsNs, origLen, data, flags, po));
    else this.putEPB(interfaceId, tsNs, origLen, data, flags);
    // Written when the chunk is (nearly) full: one write of it, not a full one and a sliver.
    if (this.queued() >= CHUNK_BYTES || this.chunk.buf.length - this.used < MIN_ROOM) await this.flush();
  }

  /** An EPB with at most epb_flags, encoded in place (the same bytes encodeEPB gives). */
  private putEPB(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number): void {
    const padded = pad4(data.length);
    const len = 32 + padded + (flags !== undefined ? 12 : 0);
    const b = this.room(len);
    let o = this.used;
    const ts = BigInt.asUintN(64, tsNs);
    b.writeUInt32LE(BT_EPB, o);
    b.writeUInt32LE(len, o + 4);
    b.writeUInt32LE(interfaceId, o + 8);
    b.writeUInt32LE(Number(ts >> 32n), o + 12);
    b.writeUInt32LE(Number(ts & 0xffffffffn), o + 16);
    b.writeUInt32LE(data.length, o + 20);
    b.writeUInt32LE(origLen, o + 24);
    b.set(data, o + 28);
    o += 28 + data.length;
    if (padded > data.length) {
      b.fill(0, o, o + padded - data.length);
      o += padded - data.length;
    }
    if (flags !== undefined) {
      b.writeUInt32LE(EPB_FLAGS | (4 << 16), o); // code, length 4
      b.writeUInt32LE(flags >>> 0, o + 4);
      b.writeUInt32LE(0, o + 8); // opt_endofopt
      o += 12;
    }
    b.writeUInt32LE(len, o);
    this.used = o + 4;
    this.schedule();
  }

  /** Queues a notice (see encodeNotice). */
  writeNotice(text: string): void {
    this.push(encodeNotice(text));
  }

  /** Queues an ISB for an interface added before. */
  writeStatistics(interfaceId: number, s: OutputStatistics): void {
    if (interfaceId >= this.interfaces) throw new Error(`pcapng writer: no interface ${interfaceId}`);
    this.push(encodeISB(interfaceId, s));
  }

  /** Bytes queued and not yet handed to the output. */
  private queued(): number {
    return this.pendingBytes + this.used - this.start;
  }

  /** The chunk, with room for n more bytes at `used` (a fresh or spare one when the current one is full). */
  private room(n: number): Buffer {
    if (this.used + n > this.chunk.buf.length) this.nextChunk(n);
    return this.chunk.buf;
  }

  /** Queues what the chunk holds and goes on in a spare or fresh one of at least n bytes. */
  private nextChunk(n: number): void {
    this.park();
    this.retire(this.chunk);
    const spare = n <= CHUNK_BYTES ? this.spare.pop() : undefined;
    this.chunk = spare ?? { buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, n)), writes: 0, retired: false };
    this.chunk.retired = false;
    this.start = 0;
    this.used = 0;
  }

  private retire(c: Chunk): void {
    c.retired = true;
    if (c.writes === 0 && this.opts.reuseChunks && c.buf.length === CHUNK_BYTES && this.spare.length < SPARE_CHUNKS) this.spare.push(c);
  }

  /** Moves the chunk's unwritten bytes to the pending list (they are never touched again). */
  private park(): void {
    if (this.used > this.start) {
      this.pending.push({ b: this.chunk.buf.subarray(this.start, this.used), chunk: this.chunk });
      this.chunk.writes++;
      this.pendingBytes += this.used - this.start;
      this.start = this.used;
    }
  }

  private push(b: Buffer): void {
    if (b.length <= CHUNK_BYTES / 4) {
      this.room(b.length).set(b, this.used);
      this.used += b.length;
    } else {
      this.park();
      this.pending.push({ b });
      this.pendingBytes += b.length;
    }
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled && this.opts.flushWhenIdle !== false) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.queued() > 0 && !this.out.destroyed) this.writeOut();
      });
    }
  }

  /** Hands everything queued to the output, in order, each piece whole blocks; false when it is full. */
  private writeOut(): boolean {
    // A chunk written when (nearly) full is done with: the next packets start a new one, rather
    // than a sliver at its end that would be a write of its own.
    if (this.chunk.buf.length - this.used < MIN_ROOM) this.nextChunk(CHUNK_BYTES);
    else this.park();
    const p = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    let ok = true;
    for (const { b, chunk } of p) {
      if (!chunk || !this.opts.reuseChunks) {
        ok = this.out.write(b);
        continue;
      }
      // Called back once the output is done with these bytes (or failed): the chunk may then be reused.
      ok = this.out.write(b, () => {
        if (--chunk.writes === 0 && chunk.retired) this.retire(chunk);
      });
    }
    return ok;
  }

  /** Writes what is queued and waits for 'drain' if the output is full. */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.queued() === 0) return;
    if (this.out.destroyed) throw new Error('output closed');
    const full = !this.writeOut();
    if (full) {
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
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failure) throw this.failure;
  }
}
