// Byte vectors for the pcapng/pcap tests, built field by field from the formats' specifications
// (draft-ietf-opsawg-pcapng, draft-ietf-opsawg-pcap), independently of lib/pcapng's writer.
import { readCapture, type InterfaceInfo, type InterfaceStatistics, type Packet, type ReadDamage, type ReadStats } from '../../../lib/pcapng/index.js';

export type Endian = 'le' | 'be';
export function u16(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(2);
  if (e === 'le') b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}
export function u32(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(4);
  if (e === 'le') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}
export function u64(v: bigint, e: Endian): Buffer {
  const b = Buffer.alloc(8);
  if (e === 'le') b.writeBigUInt64LE(v);
  else b.writeBigUInt64BE(v);
  return b;
}
/** A pcapng time stamp: high and low 32-bit words, each in the section's byte order. */
export function ts64(v: bigint, e: Endian): Buffer {
  return Buffer.concat([u32(Number(v >> 32n), e), u32(Number(v & 0xffffffffn), e)]);
}
export function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
}
export function opt(code: number, val: Buffer, e: Endian): Buffer {
  return Buffer.concat([u16(code, e), u16(val.length, e), pad(val)]);
}
export const endOpt = (e: Endian) => Buffer.concat([u16(0, e), u16(0, e)]);
export function blk(type: number, body: Buffer, e: Endian): Buffer {
  const len = 12 + body.length;
  return Buffer.concat([u32(type, e), u32(len, e), body, u32(len, e)]);
}
export function shb(e: Endian, version: [number, number] = [1, 0]): Buffer {
  return blk(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, e), u16(version[0], e), u16(version[1], e), Buffer.alloc(8, 0xff)]), e);
}
export function idb(e: Endian, o: { link?: number; snap?: number; name?: string; desc?: string; tsresol?: number; tsoffset?: bigint; fcslen?: number } = {}): Buffer {
  const opts: Buffer[] = [];
  if (o.name) opts.push(opt(2, Buffer.from(o.name), e));
  if (o.desc) opts.push(opt(3, Buffer.from(o.desc), e));
  if (o.tsresol !== undefined) opts.push(opt(9, Buffer.from([o.tsresol]), e));
  if (o.fcslen !== undefined) opts.push(opt(13, Buffer.from([o.fcslen]), e));
  if (o.tsoffset !== undefined) {
    const v = Buffer.alloc(8);
    if (e === 'le') v.writeBigInt64LE(o.tsoffset);
    else v.writeBigInt64BE(o.tsoffset);
    opts.push(opt(14, v, e));
  }
  if (opts.length) opts.push(endOpt(e));
  return blk(1, Buffer.concat([u16(o.link ?? 1, e), u16(0, e), u32(o.snap ?? 262144, e), ...opts]), e);
}
export function epb(e: Endian, id: number, ts: bigint, data: Buffer, origLen = data.length, flags?: number): Buffer {
  const opts = flags === undefined ? [] : [opt(2, u32(flags, e), e), endOpt(e)];
  return blk(6, Buffer.concat([u32(id, e), ts64(ts, e), u32(data.length, e), u32(origLen, e), pad(data), ...opts]), e);
}
/** The obsolete Packet Block: a 16-bit interface id, a 16-bit drops count, and pack_flags as option 2. */
export function opb(e: Endian, id: number, ts: bigint, data: Buffer, flags?: number): Buffer {
  const opts = flags === undefined ? [] : [opt(2, u32(flags, e), e), endOpt(e)];
  return blk(2, Buffer.concat([u16(id, e), u16(0, e), ts64(ts, e), u32(data.length, e), u32(data.length, e), pad(data), ...opts]), e);
}
export function spb(e: Endian, data: Buffer, origLen = data.length): Buffer {
  return blk(3, Buffer.concat([u32(origLen, e), pad(data)]), e);
}
export function isb(e: Endian, id: number, ts: bigint, o: { start?: bigint; end?: bigint; ifRecv?: bigint; ifDrop?: bigint; osDrop?: bigint } = {}): Buffer {
  const opts: Buffer[] = [];
  if (o.start !== undefined) opts.push(opt(2, ts64(o.start, e), e));
  if (o.end !== undefined) opts.push(opt(3, ts64(o.end, e), e));
  if (o.ifRecv !== undefined) opts.push(opt(4, u64(o.ifRecv, e), e));
  if (o.ifDrop !== undefined) opts.push(opt(5, u64(o.ifDrop, e), e));
  if (o.osDrop !== undefined) opts.push(opt(7, u64(o.osDrop, e), e));
  if (opts.length) opts.push(endOpt(e));
  return blk(5, Buffer.concat([u32(id, e), ts64(ts, e), ...opts]), e);
}
export function pcapHeader(e: Endian, nano: boolean, snap = 65535, link = 1, o: { magic?: number; version?: [number, number] } = {}): Buffer {
  const [major, minor] = o.version ?? [2, 4];
  return Buffer.concat([u32(o.magic ?? (nano ? 0xa1b23c4d : 0xa1b2c3d4), e), u16(major, e), u16(minor, e), u32(0, e), u32(0, e), u32(snap, e), u32(link, e)]);
}
export function pcapRecord(e: Endian, sec: number, frac: number, data: Buffer, origLen = data.length, extra = Buffer.alloc(0)): Buffer {
  return Buffer.concat([u32(sec, e), u32(frac, e), u32(data.length, e), u32(origLen, e), extra, data]);
}

/** Feeds bytes in chunks of `size` (1 = byte by byte). */
export async function* chunks(b: Buffer, size = 7): AsyncGenerator<Buffer> {
  for (let o = 0; o < b.length; o += size) yield b.subarray(o, o + size);
}

export interface ReadResult { ifaces: InterfaceInfo[]; packets: Packet[]; statistics: InterfaceStatistics[]; stats: ReadStats; damage?: ReadDamage }

/** Reads everything; with `damage`, a damaged input is reported rather than thrown. */
export async function readAll(b: Buffer | AsyncIterable<Uint8Array>, size?: number, o: { damage?: boolean } = {}): Promise<ReadResult> {
  const stats: ReadStats = { bytes: 0, packets: 0, truncated: false };
  const out: ReadResult = { ifaces: [], packets: [], statistics: [], stats };
  const opts = { statistics: true as const, ...(o.damage ? { onDamage: (d: ReadDamage) => (out.damage = d) } : {}) };
  for await (const ev of readCapture(Buffer.isBuffer(b) ? chunks(b, size) : b, stats, opts)) {
    if (ev.type === 'interface') out.ifaces.push(ev.iface);
    else if (ev.type === 'statistics') out.statistics.push(ev.statistics);
    else out.packets.push({ ...ev.packet, data: Buffer.from(ev.packet.data) });
  }
  return out;
}

/** An Ethernet frame to the broadcast address with a local experimental ethertype and n in its payload. */
export const frame = (n: number, len = 60) => {
  const b = Buffer.alloc(len);
  b.fill(0xff, 0, 6);
  b.writeUInt16BE(0x88b5, 12);
  b.writeUInt32BE(n, 14);
  return b;
};
