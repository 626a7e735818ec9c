// The IPA monitor stream simulator: bytes of a status / DPLv2 / DPLv3 stream for a known mix
// (endpoint pairs, opcodes, exceptions, truncated packets, malformed records injected at known
// places), and the counts a correct decoder must report for it. The expected counts are
// computed here from the mix, not by running the decoder, so tests compare two independent
// accounts (test/unit/ipa/independent.test.ts adds a third: a Python generator written from the
// upstream struct layout). Layouts: upstream drivers/net/ipa/ipa_endpoint.c (the status
// element, ipa_status_extract() with the IPA v5.0 field moves) and qcom_ipa_monitor.h of Alex
// Elder's ipa_monitor series (DPLv2/v3).
//
// Padding: every payload is padded as the hardware pads it (defaultPayloadAlignment: status 4,
// DPLv2 4, DPLv3 8) unless SimOptions.padAlign says otherwise; the default mix uses payload
// lengths that are not multiples of 4, so a decoder that ignores the padding loses step.
// Status-only elements (no replica: an opcode that carries no packet, or pkt_len 0) are
// 32 bytes whatever pkt_len says; the default mix has both kinds.
//
// Malformed records and how the walker must count them (see agent/src/drivers/ipa/walker.ts):
//   garbage           `length` bytes of 0xEE (an unknown opcode with an unknown exception, a
//                     non-zero DPLv2 reserved word, a DPLv3 length over the maximum): one
//                     garbage error, `length` skipped bytes;
//   unknownOpcode     status: a 32-byte element with opcode 0x80; DPL: an entry with opcode
//                     0x03 and a 20-byte payload: one unknownOpcode error, nothing skipped;
//   impossibleLength  a packet header claiming 0xF000 bytes, nothing after it: one error, the
//                     header size skipped.
// truncatedTail cuts the last record of the stream: one truncatedTail error. Do not put
// garbage straight before it (the walker cannot confirm a resync on a cut record).
import { defaultPayloadAlignment, exceptionName, IPA_OPCODES, isV5, OPCODE_LOG, type IPAFormat } from '../../agent/src/drivers/ipa/decode.js';

export interface SimFlow {
  src: number;
  /** status only (DPL has no destination). */
  dst?: number;
  /** Default PACKET (status), LOG (DPL). A status non-packet opcode makes 32-byte elements with no payload. */
  opcode?: number;
  /** status only. */
  exception?: number;
  ipVersion?: 4 | 6;
  proto?: 'udp' | 'tcp' | 'icmp';
  packets: number;
  /** IP total length of each packet. */
  size?: number;
  /**
   * Bytes present of packet i: sizes[i % length]. A size below the IP + L4 header length is a
   * replica of that many bytes of a minimal packet (its original length is then unknown to a
   * decoder, so it counts as the bytes present). Overrides size and truncateTo.
   */
  sizes?: number[];
  /** Bytes present of each packet (< size: a truncated replica). */
  truncateTo?: number;
  /**
   * A status-only element: pkt_len written into the header while no replica follows. For an
   * opcode that carries no packet (NEW_RULE_PACKET, LOG, DCMP) upstream skips 32 bytes whatever
   * pkt_len says. With a packet opcode, set `empty` instead (pkt_len 0).
   */
  claimedLength?: number;
  /** A packet opcode with pkt_len 0: a 32-byte element, no replica. */
  empty?: boolean;
  metadata?: number;
}

export interface SimMalformed {
  /** Injected before the record with this index (0 = at the start). */
  at: number;
  kind: 'garbage' | 'unknownOpcode' | 'impossibleLength';
  /** garbage: bytes (default 37). */
  length?: number;
}

export interface SimMix {
  flows: SimFlow[];
  malformed?: SimMalformed[];
  /** Cut this many bytes off the end of the last record. */
  truncatedTail?: number;
  seed?: number;
}

export interface SimOptions {
  format: IPAFormat;
  version: string;
  /** Payload alignment; default what the hardware pads to (defaultPayloadAlignment: status 4, DPLv2 4, DPLv3 8); 1 = none. */
  padAlign?: number;
  /** status: an 8-byte checksum trailer after each packet. */
  checksumTrailer?: boolean;
}

export interface ExpectedCount {
  records: number;
  bytes: number;
}

export interface SimExpected {
  records: number;
  packets: number;
  bytes: number;
  capturedBytes: number;
  truncated: number;
  exceptions: number;
  /** "src>dst" (dst -1 for DPL). */
  byPair: Record<string, ExpectedCount & { truncated: number }>;
  byOpcode: Record<string, ExpectedCount>;
  byException: Record<string, ExpectedCount>;
  errors: { unknownOpcode: number; impossibleLength: number; garbage: number; truncatedTail: number; overflow: number };
  skippedBytes: number;
  /** Packets a pcapng writer must write (packet records with bytes present, the cut tail excluded). */
  pcapPackets: number;
}

export interface SimResult {
  stream: Buffer;
  /** The stream in the pieces it was built from: one per record (header + replica + padding) or injected malformed run. */
  parts: Buffer[];
  expected: SimExpected;
}

/** A mix with every feature, for the CLI default, the demo and the round-trip tests. */
export function defaultMix(format: IPAFormat): SimMix {
  const dpl = format !== 'status';
  const flows: SimFlow[] = [
    // Lengths that are not multiples of 4 (the padding matters), and some that are.
    { src: 3, dst: 12, proto: 'udp', packets: 40, sizes: [121, 122, 123, 124, 29, 1497] },
    { src: 12, dst: 3, proto: 'tcp', packets: 25, size: 1400, truncateTo: 127 },
    { src: 5, dst: 7, ipVersion: 6, proto: 'icmp', packets: 10, size: 103 },
    { src: 7, dst: 5, ipVersion: 6, proto: 'udp', packets: 8, size: 301, truncateTo: 97 },
    { src: 4, dst: 6, proto: 'udp', packets: 6, sizes: [1, 2, 3, 5, 7, 19] }, // replicas shorter than an IP header
  ];
  if (!dpl) {
    flows.push(
      { src: 3, dst: 12, opcode: 0x04, exception: 0x08, proto: 'udp', packets: 6, size: 65 },
      { src: 9, dst: 3, exception: 0xe5, proto: 'tcp', packets: 4, size: 61 },
      { src: 12, dst: 9, opcode: 0x40, proto: 'udp', packets: 3, size: 203 },
      { src: 12, dst: 9, opcode: 0x08, proto: 'udp', packets: 2, size: 66 },
      // 0x40 is NAT on IPv4 and IPV6_CONN_TRACK on IPv6: counted apart.
      { src: 3, dst: 12, exception: 0x40, proto: 'udp', packets: 3, size: 89 },
      { src: 5, dst: 7, exception: 0x40, ipVersion: 6, proto: 'udp', packets: 2, size: 91 },
      // Status-only elements: opcodes that carry no packet, with and without a pkt_len, and a packet opcode with pkt_len 0.
      { src: 1, dst: 3, opcode: 0x10, packets: 5 },
      { src: 2, dst: 3, opcode: 0x02, claimedLength: 61, packets: 3 },
      { src: 2, dst: 3, opcode: 0x20, claimedLength: 1500, packets: 2 },
      { src: 6, dst: 3, opcode: 0x01, empty: true, packets: 2 },
    );
  }
  return {
    flows,
    malformed: [
      { at: 0, kind: 'unknownOpcode' },
      { at: 10, kind: 'garbage', length: 37 },
      { at: 30, kind: 'unknownOpcode' },
      { at: 50, kind: 'impossibleLength' },
      { at: 70, kind: 'garbage', length: 5 },
    ],
    truncatedTail: 9,
    seed: 1,
  };
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTO = { udp: 17, tcp: 6, icmp: 1 } as const;

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An IP packet of total length `size` for a flow (UDP/TCP ports and addresses derived from the endpoints). */
export function ipPacket(f: SimFlow, id: number): Buffer {
  const v6 = f.ipVersion === 6;
  const protoName = f.proto ?? 'udp';
  const proto = v6 && protoName === 'icmp' ? 58 : PROTO[protoName];
  const hl = v6 ? 40 : 20;
  const l4len = protoName === 'tcp' ? 20 : 8;
  const size = Math.max(f.size ?? 100, hl + l4len);
  const p = Buffer.alloc(size, 0xab);
  const dst = f.dst ?? 0;
  if (v6) {
    p.fill(0, 0, 40);
    p.writeUInt32BE(0x60000000, 0);
    p.writeUInt16BE(size - 40, 4);
    p[6] = proto;
    p[7] = 64;
    p.writeUInt16BE(0xfd00, 8);
    p[23] = f.src;
    p.writeUInt16BE(0xfd01, 24);
    p[39] = dst;
  } else {
    p.fill(0, 0, 20);
    p[0] = 0x45;
    p.writeUInt16BE(size, 2);
    p.writeUInt16BE(id & 0xffff, 4);
    p[8] = 64;
    p[9] = proto;
    p.set([10, 0, 0, f.src], 12);
    p.set([10, 1, 0, dst], 16);
    p.writeUInt16BE(checksum(p.subarray(0, 20)), 10);
  }
  p.fill(0, hl, hl + l4len);
  if (protoName === 'icmp') {
    p[hl] = v6 ? 128 : 8; // echo request
  } else {
    p.writeUInt16BE(1000 + f.src, hl);
    p.writeUInt16BE(2000 + dst, hl + 2);
    if (protoName === 'udp') p.writeUInt16BE(size - hl, hl + 4);
    else p[hl + 12] = 0x50;
  }
  return p;
}

interface SimRecord {
  /** pkt_len to write when it is not payload.length (a status-only element's claim). */
  pktLen?: number;
  opcode: number;
  exception: number;
  src: number;
  dst: number;
  mask: number;
  metadata: number;
  payload: Buffer;
}

/** Encode one status element (ipa_status_extract() layout; v5 field moves when `v5`). Exported for tests of the simulator itself. */
export function encodeStatus(r: SimRecord, v5: boolean, seq: number): Buffer {
  const h = Buffer.alloc(32);
  h[0] = r.opcode;
  h[1] = r.exception;
  h.writeUInt16LE(r.mask, 2);
  h.writeUInt16LE(r.pktLen ?? r.payload.length, 4);
  if (v5) {
    h[6] = r.src & 0xff;
    h[30] = r.dst & 0xff; // w7[23:16]
  } else {
    h[6] = r.src & 0x1f;
    h[7] = r.dst & 0x1f;
  }
  h.writeUInt32LE(r.metadata >>> 0, 8);
  // filter rule = src, router rule = dst (0x3ff would read as a miss); router table 1.
  const w3 = ((r.src & 0x3ff) << 4) | ((v5 ? 1 << 14 : 1 << 17) >>> 0) | ((r.dst & 0x3ff) << 22);
  h.writeUInt32LE(w3 >>> 0, 12);
  h.writeUInt32LE(((seq & 0xff) | (((seq * 7) & 0xffffff) << 8)) >>> 0, 24);
  return h;
}

export function encodeDplV2(r: SimRecord, seq: number): Buffer {
  const h = Buffer.alloc(32);
  h.writeUInt32LE(r.opcode, 0);
  h.writeUInt16LE(r.payload.length, 4);
  h.writeUInt16LE(r.src & 0x1f, 6);
  h.writeUInt32LE(r.metadata >>> 0, 8);
  h.writeBigUInt64LE(BigInt(seq * 1000) << 15n, 16);
  h[24] = seq & 0xff;
  return h;
}

export function encodeDplV3(r: SimRecord, seq: number): Buffer {
  const h = Buffer.alloc(16);
  h[0] = r.opcode;
  h[1] = seq & 0xff;
  h.writeUInt16LE(r.src & 0x1f, 2);
  h.writeUInt32LE(r.metadata >>> 0, 4);
  h.writeBigUInt64LE((BigInt(r.payload.length) << 48n) | BigInt(seq * 1000), 8);
  return h;
}

const alignUp = (n: number, a: number): number => (a <= 1 ? n : Math.ceil(n / a) * a);
const key = (src: number, dst: number): string => `${src}>${dst}`;

/** Build the stream and its expected counts. */
export function simulate(mix: SimMix, opts: SimOptions): SimResult {
  const { format } = opts;
  const dpl = format !== 'status';
  const v5 = isV5(opts.version);
  const rand = rng(mix.seed ?? 1);
  const pad = Math.max(1, opts.padAlign ?? defaultPayloadAlignment(format));
  const trailer = format === 'status' && opts.checksumTrailer ? 8 : 0;
  const exp: SimExpected = {
    records: 0, packets: 0, bytes: 0, capturedBytes: 0, truncated: 0, exceptions: 0, byPair: {}, byOpcode: {}, byException: {},
    errors: { unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 }, skippedBytes: 0, pcapPackets: 0,
  };

  // Round-robin over the flows: a realistic interleaving, deterministic.
  const left = mix.flows.map((f) => f.packets);
  const order: SimFlow[] = [];
  for (let more = true; more; ) {
    more = false;
    mix.flows.forEach((f, i) => {
      if (left[i]! > 0) {
        left[i]!--;
        order.push(f);
        more = true;
      }
    });
  }

  const parts: Buffer[] = [];
  const malformed = [...(mix.malformed ?? [])].sort((a, b) => a.at - b.at);
  const seqBase = Math.floor(rand() * 200);
  let lastRecord: { buf: Buffer; undo: () => void } | undefined;
  const inject = (m: SimMalformed): void => {
    const hs = format === 'dplv3' ? 16 : 32;
    if (m.kind === 'garbage') {
      const n = m.length ?? 37;
      parts.push(Buffer.alloc(n, 0xee));
      exp.errors.garbage++;
      exp.skippedBytes += n;
    } else if (m.kind === 'unknownOpcode') {
      if (format === 'status') parts.push(Object.assign(Buffer.alloc(32), { 0: 0x80 }));
      else {
        const r: SimRecord = { opcode: 0x03, exception: 0, src: 1, dst: 0, mask: 0, metadata: 0, payload: Buffer.alloc(20, 0x11) };
        const h = format === 'dplv2' ? encodeDplV2(r, 0) : encodeDplV3(r, 0);
        parts.push(h, r.payload, Buffer.alloc(alignUp(20, pad) - 20));
      }
      exp.errors.unknownOpcode++;
    } else {
      const h = Buffer.alloc(hs);
      if (format === 'status') {
        h[0] = 0x01;
        h.writeUInt16LE(0xf000, 4);
      } else if (format === 'dplv2') {
        h[0] = OPCODE_LOG;
        h.writeUInt16LE(0xf000, 4);
      } else {
        h[0] = OPCODE_LOG;
        h.writeUInt16LE(0xf000, 14);
      }
      parts.push(h);
      exp.errors.impossibleLength++;
      exp.skippedBytes += hs;
    }
  };

  let mi = 0;
  const flowIndex = new Map<SimFlow, number>(mix.flows.map((f) => [f, 0]));
  order.forEach((f, idx) => {
    while (mi < malformed.length && malformed[mi]!.at <= idx) inject(malformed[mi++]!);
    const opcode = f.opcode ?? (dpl ? OPCODE_LOG : 0x01);
    const isPacketOp = dpl ? opcode === OPCODE_LOG : [0x01, 0x04, 0x08, 0x40].includes(opcode);
    const present = f.sizes?.length ? f.sizes[flowIndex.get(f)! % f.sizes.length]! : undefined;
    flowIndex.set(f, flowIndex.get(f)! + 1);
    const full = isPacketOp && !f.empty ? ipPacket(present !== undefined ? { ...f, size: present } : f, seqBase + idx) : Buffer.alloc(0);
    const cutTo = present ?? f.truncateTo;
    const payload = cutTo !== undefined && cutTo < full.length ? full.subarray(0, cutTo) : full;
    const dst = dpl ? -1 : (f.dst ?? 0);
    const exception = dpl ? -1 : (f.exception ?? 0);
    const rec: SimRecord = {
      ...(!dpl && !isPacketOp && f.claimedLength ? { pktLen: f.claimedLength } : {}),
      opcode, exception: Math.max(0, exception), src: f.src, dst: Math.max(0, dst),
      mask: (f.ipVersion === 6 ? 0 : 1 << 7) | (1 << 3) | (1 << 1), metadata: f.metadata ?? f.src, payload,
    };
    const seq = seqBase + idx;
    const hdr = format === 'status' ? encodeStatus(rec, v5, seq) : format === 'dplv2' ? encodeDplV2(rec, seq) : encodeDplV3(rec, seq);
    const body = payload.length ? [payload, Buffer.alloc(alignUp(payload.length, pad) - payload.length + trailer)] : [];
    const buf = Buffer.concat([hdr, ...body]);
    parts.push(buf);

    // What a decoder can know: the IP header's length when it is all there, else the bytes present.
    const ipHeaderLen = f.ipVersion === 6 ? 40 : 20;
    const origLen = payload.length >= ipHeaderLen ? full.length : payload.length;
    const bytes = payload.length ? origLen : 0;
    const truncated = payload.length < origLen;
    const k = key(f.src, dst);
    const opName = IPA_OPCODES[opcode] ?? `UNKNOWN_0x${opcode.toString(16).padStart(2, '0')}`;
    const delta = (sign: 1 | -1): void => {
      exp.records += sign;
      exp.bytes += sign * bytes;
      exp.capturedBytes += sign * payload.length;
      if (payload.length) exp.packets += sign;
      if (payload.length) exp.pcapPackets += sign;
      if (truncated) exp.truncated += sign;
      if (exception > 0) exp.exceptions += sign;
      const pc = (exp.byPair[k] ??= { records: 0, bytes: 0, truncated: 0 });
      pc.records += sign;
      pc.bytes += sign * bytes;
      if (truncated) pc.truncated += sign;
      const oc = (exp.byOpcode[opName] ??= { records: 0, bytes: 0 });
      oc.records += sign;
      oc.bytes += sign * bytes;
      if (!dpl) {
        const en = exceptionName(exception, f.ipVersion === 6);
        const ec = (exp.byException[en] ??= { records: 0, bytes: 0 });
        ec.records += sign;
        ec.bytes += sign * bytes;
      }
    };
    delta(1);
    lastRecord = { buf, undo: () => delta(-1) };
  });
  while (mi < malformed.length) inject(malformed[mi++]!);

  const cut = mix.truncatedTail ?? 0;
  if (cut > 0 && lastRecord && parts[parts.length - 1] === lastRecord.buf && cut < lastRecord.buf.length) {
    parts[parts.length - 1] = lastRecord.buf.subarray(0, lastRecord.buf.length - cut);
    lastRecord.undo();
    exp.errors.truncatedTail++;
    exp.skippedBytes += lastRecord.buf.length - cut;
  }
  // Drop empty buckets the undo may have left.
  for (const m of [exp.byPair, exp.byOpcode, exp.byException] as Record<string, ExpectedCount>[]) {
    for (const [k, v] of Object.entries(m)) if (v.records === 0) delete m[k];
  }
  return { stream: Buffer.concat(parts), parts, expected: exp };
}

function addCounts(a: Record<string, ExpectedCount & { truncated?: number }>, b: Record<string, ExpectedCount & { truncated?: number }>, times: number): void {
  for (const [k, v] of Object.entries(b)) {
    const c = (a[k] ??= { ...v, records: 0, bytes: 0, ...(v.truncated !== undefined ? { truncated: 0 } : {}) });
    c.records += v.records * times;
    c.bytes += v.bytes * times;
    if (v.truncated !== undefined) c.truncated! += v.truncated * times;
  }
}

/**
 * The mix `times` times back to back (a long-running feed for the e2e and the demo). Only the
 * last copy has the cut tail, so every boundary is in step and the counts add up exactly.
 */
export function simulateRepeated(mix: SimMix, opts: SimOptions, times: number): SimResult {
  const n = Math.max(1, Math.floor(times));
  const whole = simulate({ ...mix, truncatedTail: 0 }, opts);
  const last = simulate(mix, opts);
  const e = last.expected;
  const x = whole.expected;
  const k = n - 1;
  const expected: SimExpected = {
    records: e.records + k * x.records, packets: e.packets + k * x.packets, bytes: e.bytes + k * x.bytes,
    capturedBytes: e.capturedBytes + k * x.capturedBytes, truncated: e.truncated + k * x.truncated, exceptions: e.exceptions + k * x.exceptions,
    byPair: structuredClone(e.byPair), byOpcode: structuredClone(e.byOpcode), byException: structuredClone(e.byException),
    errors: {
      unknownOpcode: e.errors.unknownOpcode + k * x.errors.unknownOpcode, impossibleLength: e.errors.impossibleLength + k * x.errors.impossibleLength,
      garbage: e.errors.garbage + k * x.errors.garbage, truncatedTail: e.errors.truncatedTail, overflow: 0,
    },
    skippedBytes: e.skippedBytes + k * x.skippedBytes,
    pcapPackets: e.pcapPackets + k * x.pcapPackets,
  };
  addCounts(expected.byPair, x.byPair, k);
  addCounts(expected.byOpcode, x.byOpcode, k);
  addCounts(expected.byException, x.byException, k);
  const parts = [...Array.from({ length: k }, () => whole.parts).flat(), ...last.parts];
  return { stream: Buffer.concat(parts), parts, expected };
}

export const ETHERTYPE_IPA_MONITOR = 0x88b5;

/**
 * The stream as network-device frames: a 14-byte Ethernet header (EtherType 0x88B5) and as many
 * whole parts as fit in `frameBytes` (a part larger than that gets a frame of its own).
 */
export function toFrames(parts: Buffer[], frameBytes = 8192): Buffer[] {
  const eth = Buffer.from([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, ETHERTYPE_IPA_MONITOR >> 8, ETHERTYPE_IPA_MONITOR & 0xff]);
  const frames: Buffer[] = [];
  let cur: Buffer[] = [];
  let len = 0;
  for (const p of parts) {
    if (cur.length && len + p.length > frameBytes - eth.length) {
      frames.push(Buffer.concat([eth, ...cur]));
      cur = [];
      len = 0;
    }
    cur.push(p);
    len += p.length;
  }
  if (cur.length) frames.push(Buffer.concat([eth, ...cur]));
  return frames;
}
