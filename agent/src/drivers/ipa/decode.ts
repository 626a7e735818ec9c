// Decoders for the Qualcomm IPA monitor stream (upstream drivers/net/ipa/ipa_endpoint.c for the
// status element; qcom_ipa_monitor.h of Alex Elder's ipa_monitor series for DPLv2/v3):
//
//   status  the 32-byte packet status element, IPA v3.0-v4.11 layout, and the IPA v5.0+
//           field moves (src endpoint 8 bits, dst endpoint in w7[23:16], router table in
//           w3[21:14], UCP in w7[31], router local/hash in w1[27]/w1[28]);
//   dplv2   the 32-byte qcom_dplv2_header of /dev/qcom_ipa%u_monitor and /dev/ipa_adpl, IPA < 4.5;
//   dplv3   the 16-byte qcom_dplv3_header, IPA >= 4.5.
//
// Every decoder is a pure function over a Buffer at an offset; none allocates beyond its record.
// Endpoint ids are numbers: their names (AP_LAN_RX, MODEM_AP_TX, ...) are per-SoC configuration
// (drivers/net/ipa/data/ipa_data-v*.c), not in the notes, so callers pass a name table.
import type { IPAVersion } from '../../../../crds/src/ipamonitor.js';

export type IPAFormat = 'status' | 'dplv2' | 'dplv3';
export const IPA_FORMATS: readonly IPAFormat[] = ['status', 'dplv2', 'dplv3'];

export const STATUS_SIZE = 32; // IPA_STATUS_SIZE = sizeof(__le32[8]) (16 only in the 6.3 regression fixed in May 2023)
export const DPLV2_HEADER_SIZE = 32;
export const DPLV3_HEADER_SIZE = 16;

/** enum ipa_status_opcode (ipa_endpoint.c). */
export const IPA_OPCODES: Readonly<Record<number, string>> = {
  0x01: 'PACKET',
  0x02: 'NEW_RULE_PACKET', // NEW_FRAG_RULE in older sources
  0x04: 'DROPPED_PACKET',
  0x08: 'SUSPENDED_PACKET',
  0x10: 'LOG',
  0x20: 'DCMP',
  0x40: 'PACKET_2ND_PASS',
};
export const OPCODE_LOG = 0x10;

/** The opcodes ipa_endpoint_status_parse treats as carrying a packet (ipa_status_format_packet()). */
const STATUS_PACKET_OPCODES = new Set([0x01, 0x04, 0x08, 0x40]);
export const isStatusPacketOpcode = (op: number): boolean => STATUS_PACKET_OPCODES.has(op);

/**
 * enum ipa_status_exception (drivers/net/ipa/ipa_endpoint.c). The value 0x40 has two names:
 * IPA_STATUS_EXCEPTION_NAT for IPv4 and IPA_STATUS_EXCEPTION_IPV6_CONN_TRACK for IPv6;
 * exceptionName() picks one by the element's IP version (the pre-merge driver's exception_map()
 * did the same from the status mask's V4 bit). This table holds the IPv4 name.
 */
export const IPA_EXCEPTIONS: Readonly<Record<number, string>> = {
  0x00: 'NONE',
  0x01: 'DEAGGR',
  0x04: 'IPTYPE',
  0x08: 'PACKET_LENGTH',
  0x10: 'FRAG_RULE_MISS',
  0x20: 'SW_FILTER',
  0x40: 'NAT',
  0x80: 'UC',
  0x81: 'INVALID_ENDPOINT',
  0x88: 'HEADER_INSERT',
  0xe5: 'CHECKSUM', // spelt CHEKCSUM upstream
};

/** Status mask bits, bit number -> name (enum ipa_status_mask). */
export const IPA_MASK_BITS: readonly string[] = [
  'FRAG_PROCESS', 'FILT_PROCESS', 'NAT_PROCESS', 'ROUTE_PROCESS', 'TAG_VALID', 'FRAGMENT', 'FIRST_FRAGMENT', 'V4',
  'CKSUM_PROCESS', 'AGGR_PROCESS', 'DEST_EOT', 'DEAGGR_PROCESS', 'DEAGG_FIRST', 'SRC_EOT', 'PREV_EOT', 'BYTE_LIMIT',
];
export const MASK_TAG_VALID = 1 << 4;

/** Router rule index meaning "no routing rule matched" (ipa_endpoint_status_drop()). */
export const ROUTER_RULE_MISS = 0x3ff;

export const EXCEPTION_NAT = 0x40;
export const MASK_V4 = 1 << 7;
/** The status mask's V4 bit: clear means IPv6 (the pre-merge driver: `is_ipv6 = !(mask & BIT(7))`). */
export const isIPv6Status = (mask: number): boolean => (mask & MASK_V4) === 0;

export const opcodeName = (op: number): string => IPA_OPCODES[op] ?? `UNKNOWN_0x${hex2(op)}`;
/** The exception's upstream name; `ipv6` selects IPV6_CONN_TRACK over NAT for 0x40. */
export const exceptionName = (ex: number, ipv6 = false): string =>
  ex === EXCEPTION_NAT && ipv6 ? 'IPV6_CONN_TRACK' : IPA_EXCEPTIONS[ex] ?? `UNKNOWN_0x${hex2(ex)}`;
/**
 * A key that tells the two meanings of 0x40 apart (counters are kept per key): the exception
 * value, plus 0x100 for 0x40 on an IPv6 element. keyedExceptionName() names it.
 */
export const exceptionKey = (ex: number, mask: number): number => (ex === EXCEPTION_NAT && isIPv6Status(mask) ? 0x100 | ex : ex);
export const keyedExceptionName = (key: number): string => exceptionName(key & 0xff, key > 0xff);
export const isKnownOpcode = (op: number): boolean => op in IPA_OPCODES;
export const isKnownException = (ex: number): boolean => ex in IPA_EXCEPTIONS;

export function maskNames(mask: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < 16; b++) if (mask & (1 << b)) out.push(IPA_MASK_BITS[b] ?? `BIT${b}`);
  return out;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** [major, minor] of an IPA version string ("3.5.1" -> [3, 5]). */
export function parseIPAVersion(v: IPAVersion | string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(v);
  if (!m) throw new Error(`bad IPA version ${JSON.stringify(v)}`);
  return [Number(m[1]), Number(m[2])];
}
export function isV5(v: IPAVersion | string): boolean {
  return parseIPAVersion(v)[0] >= 5;
}
/**
 * The alignment the hardware pads each packet replica to, by format and version:
 *   status  4 on every version: AP_LAN_RX, the status endpoint, sets `.pad_align =
 *           ilog2(sizeof(u32))` in each of drivers/net/ipa/data/ipa_data-v3.1.c ... v5.5.c, and
 *           ipa_endpoint_init_hdr_ext() writes it into the power-of-two field
 *           HDR_PAD_TO_ALIGNMENT; the hardware then pads to 1 << 2 = 4 bytes. (Upstream's
 *           parser computes ALIGN(pkt_len, pad_align), i.e. ALIGN(len, 2) from the exponent: it
 *           disagrees with what it configured; we decode what the hardware writes.)
 *   dplv2   4 (qcom_dplv2_header entries: 32 + round_up(pkt_len, 4));
 *   dplv3   8 (qcom_dplv3_header entries: 16 + round_up(pkt_len, 8)).
 * IPAMonitor spec.source.payloadAlignment overrides it.
 */
export function defaultPayloadAlignment(format: IPAFormat): number {
  return format === 'dplv3' ? 8 : 4;
}

/** The DPL header a monitor character device delivers on this version (v2 below 4.5, v3 from 4.5). */
export function dplFormatFor(v: IPAVersion | string): 'dplv2' | 'dplv3' {
  const [maj, min] = parseIPAVersion(v);
  return maj > 4 || (maj === 4 && min >= 5) ? 'dplv3' : 'dplv2';
}

/** The decoded 32-byte status element. Field names follow ipa_status_field in ipa_endpoint.c. */
export interface IPAStatusHeader {
  format: 'status';
  v5: boolean;
  opcode: number;
  exception: number;
  mask: number;
  pktLen: number;
  srcEndpoint: number;
  dstEndpoint: number;
  metadata: number;
  filterLocal: boolean;
  filterHash: boolean;
  filterGlobal: boolean;
  retainHeader: boolean;
  filterRuleIndex: number;
  routerLocal: boolean;
  routerHash: boolean;
  ucp: boolean;
  routerTable: number;
  routerRuleIndex: number;
  natHit: boolean;
  natIndex: number;
  natType: number;
  /** 48-bit tag (exact as a number: < 2^53). */
  tag: number;
  seq: number;
  /** 24-bit time-of-day counter; units undocumented. */
  tod: number;
  headerLocal: boolean;
  headerOffset: number;
  fragHit: boolean;
  fragRule: number;
}

/** The decoded DPLv2 (32 B) or DPLv3 (16 B) monitor header. DPL has no exception or dst endpoint. */
export interface IPADplHeader {
  format: 'dplv2' | 'dplv3';
  opcode: number;
  pktLen: number;
  srcEndpoint: number;
  metadata: number;
  seq: number;
  /** DPLv2: flags2 bits 63:15 (49 bits); DPLv3: flags1 bits 47:0. Units undocumented. */
  tod: number;
}

export type IPAHeader = IPAStatusHeader | IPADplHeader;

const bit = (w: number, b: number): boolean => ((w >>> b) & 1) === 1;
const bits = (w: number, lo: number, width: number): number => (w >>> lo) & ((1 << width) - 1);

/** Decode a 32-byte status element at `off` (ipa_status_extract() field by field). `buf` must hold off+32 bytes. */
export function decodeStatus(buf: Buffer, off: number, v5: boolean): IPAStatusHeader {
  const w0 = buf.readUInt32LE(off);
  const w1 = buf.readUInt32LE(off + 4);
  const w3 = buf.readUInt32LE(off + 12);
  const w4 = buf.readUInt32LE(off + 16);
  const w5 = buf.readUInt32LE(off + 20);
  const w6 = buf.readUInt32LE(off + 24);
  const w7 = buf.readUInt32LE(off + 28);
  return {
    format: 'status',
    v5,
    opcode: bits(w0, 0, 8),
    exception: bits(w0, 8, 8),
    mask: bits(w0, 16, 16),
    pktLen: bits(w1, 0, 16),
    srcEndpoint: v5 ? bits(w1, 16, 8) : bits(w1, 16, 5),
    dstEndpoint: v5 ? bits(w7, 16, 8) : bits(w1, 24, 5),
    metadata: buf.readUInt32LE(off + 8),
    filterLocal: bit(w3, 0),
    filterHash: bit(w3, 1),
    filterGlobal: bit(w3, 2),
    retainHeader: bit(w3, 3),
    filterRuleIndex: bits(w3, 4, 10),
    routerLocal: v5 ? bit(w1, 27) : bit(w3, 14),
    routerHash: v5 ? bit(w1, 28) : bit(w3, 15),
    ucp: v5 ? bit(w7, 31) : bit(w3, 16),
    routerTable: v5 ? bits(w3, 14, 8) : bits(w3, 17, 5),
    routerRuleIndex: bits(w3, 22, 10),
    natHit: bit(w4, 0),
    natIndex: bits(w4, 1, 13),
    natType: bits(w4, 14, 2),
    tag: bits(w4, 16, 16) + w5 * 0x10000,
    seq: bits(w6, 0, 8),
    tod: bits(w6, 8, 24),
    headerLocal: bit(w7, 0),
    headerOffset: bits(w7, 1, 10),
    fragHit: bit(w7, 11),
    fragRule: bits(w7, 12, 4),
  };
}

/** Decode a 32-byte qcom_dplv2_header at `off`. */
export function decodeDplV2(buf: Buffer, off: number): IPADplHeader {
  const todLo = buf.readUInt32LE(off + 16);
  const todHi = buf.readUInt32LE(off + 20);
  return {
    format: 'dplv2',
    opcode: buf[off]!,
    pktLen: buf.readUInt16LE(off + 4),
    srcEndpoint: buf.readUInt16LE(off + 6) & 0x1f,
    metadata: buf.readUInt32LE(off + 8),
    seq: buf[off + 24]!,
    tod: todHi * 0x20000 + (todLo >>> 15), // bits 63:15 of the LE64
  };
}

/** Decode a 16-byte qcom_dplv3_header at `off`. */
export function decodeDplV3(buf: Buffer, off: number): IPADplHeader {
  return {
    format: 'dplv3',
    opcode: buf[off]!,
    seq: buf[off + 1]!,
    srcEndpoint: buf.readUInt16LE(off + 2) & 0x1f,
    metadata: buf.readUInt32LE(off + 4),
    tod: buf.readUIntLE(off + 8, 6), // flags1 bits 47:0
    pktLen: buf.readUInt16LE(off + 14), // flags1 bits 63:48
  };
}

export function headerSize(format: IPAFormat): number {
  return format === 'dplv3' ? DPLV3_HEADER_SIZE : STATUS_SIZE;
}

/** Whether a decoded header describes a packet (one pcapng EPB): the driver's packet opcodes for status, LOG for DPL. */
export function isPacketHeader(h: IPAHeader): boolean {
  return h.format === 'status' ? STATUS_PACKET_OPCODES.has(h.opcode) : h.opcode === OPCODE_LOG;
}

/** Destination endpoint, or -1 where the format has none (DPL). */
export const dstOf = (h: IPAHeader): number => (h.format === 'status' ? h.dstEndpoint : -1);
/** Exception, or -1 where the format has none (DPL). */
export const exceptionOf = (h: IPAHeader): number => (h.format === 'status' ? h.exception : -1);

/**
 * Original length of an IP packet from its header: IPv4 total length, IPv6 40 + payload
 * length; undefined when the IP header is not intact in the captured bytes.
 */
export function ipOriginalLength(payload: Buffer): number | undefined {
  if (payload.length < 1) return undefined;
  const v = payload[0]! >> 4;
  if (v === 4 && payload.length >= 20) return payload.readUInt16BE(2);
  if (v === 6 && payload.length >= 40) return 40 + payload.readUInt16BE(4);
  return undefined;
}

/** One line of text for a header (the pcapng packet comment, logs). */
export function formatHeader(h: IPAHeader): string {
  const op = `op=${opcodeName(h.opcode)}(0x${hex2(h.opcode)})`;
  if (h.format !== 'status') {
    return `ipa ${h.format} ${op} src=${h.srcEndpoint} len=${h.pktLen} meta=0x${h.metadata.toString(16)} seq=${h.seq} tod=${h.tod}`;
  }
  const mask = `mask=0x${h.mask.toString(16).padStart(4, '0')}[${maskNames(h.mask).join(',')}]`;
  const rt = h.routerRuleIndex === ROUTER_RULE_MISS ? 'miss' : String(h.routerRuleIndex);
  return (
    `ipa status${h.v5 ? ' v5' : ''} ${op} exc=${exceptionName(h.exception, isIPv6Status(h.mask))}(0x${hex2(h.exception)}) src=${h.srcEndpoint} dst=${h.dstEndpoint} ` +
    `len=${h.pktLen} ${mask} meta=0x${h.metadata.toString(16)} filt=${h.filterRuleIndex}${h.filterLocal ? 'L' : ''}${h.filterHash ? 'H' : ''}` +
    `${h.filterGlobal ? 'G' : ''} rt=${h.routerTable}/${rt}${h.routerLocal ? 'L' : ''}${h.routerHash ? 'H' : ''}${h.ucp ? ' ucp' : ''}` +
    `${h.natHit ? ` nat=${h.natIndex}/${h.natType}` : ''} tag=0x${h.tag.toString(16)} seq=${h.seq} tod=${h.tod}` +
    `${h.fragHit ? ` frag=${h.fragRule}` : ''} hdr=${h.headerOffset}${h.headerLocal ? 'L' : ''}`
  );
}
