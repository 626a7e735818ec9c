// pcapng for the IPA monitor stream, in a form every reader opens: tcpdump and everything
// else built on libpcap, tshark/Wireshark (wiretap), capinfos.
//
// - One interface, link type LINKTYPE_RAW (101): the payload is the IP packet (version nibble 4
//   or 6), so Wireshark dissects it without a DLT User table. One interface, not one per source
//   endpoint: libpcap (1.10) reads a pcapng only while every IDB of a section has the same link
//   type, and compares the first IDB's type as mapped to a DLT (DLT_RAW, 12) with each later
//   IDB's LINKTYPE_RAW (101), so a second raw-IP IDB makes it refuse the whole file.
// - The endpoints travel with each packet (EPB options):
//     opt_comment (1)   the decoded header as one line of text (formatHeader): src=, dst=,
//                       opcode, exception, ... (tcpdump -v does not print it; tshark shows it
//                       as frame.comment, and the Lua dissector turns it into fields);
//     custom 2989       "custom binary, copyable" with Private Enterprise Number 32473 (the
//                       documentation PEN of RFC 5612, until ringtap has its own): a 4-byte
//                       ringtap prefix [option version 1, format 0=status 1=dplv2 2=dplv3,
//                       flags bit0 = IPA v5 layout, 0] followed by the header bytes verbatim
//                       (32 or 16), so a dissector decodes exactly what the hardware wrote.
//   The IDB's description lists the endpoint names the node knows.
// - caplen = bytes written (the payload, cut to the snap length); origlen = IP total length when
//   the IP header is intact (a truncated replica keeps it), else the payload length.
// - Timestamps: nanosecond resolution (if_tsresol 9), the host's receive time passed by the
//   caller: the header's time-of-day counter has undocumented units, it is in the comment.
// Blocks are little-endian; each file (rotation) starts with startFile(): its SHB and the IDB,
// so each file is self-contained.
import type { IPAEndpointFilter } from '../../../../crds/src/ipamonitor.js';
import { formatHeader, isV5, type IPAFormat, type IPAHeader } from './decode.js';
import type { IPAEntry } from './walker.js';

export const LINKTYPE_RAW = 101;
export const OPT_CUSTOM_BINARY_COPY = 2989;
export const RINGTAP_PEN = 32473;
export const RINGTAP_OPTION_VERSION = 1;
export const FORMAT_IDS: Readonly<Record<IPAFormat, number>> = { status: 0, dplv2: 1, dplv3: 2 };

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 1;
const BT_EPB = 6;

export interface IPAPcapngOptions {
  format: IPAFormat;
  version: string;
  snapLength?: number;
  endpointNames?: Readonly<Record<number, string>>;
}

function option(code: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}
const END_OF_OPT = Buffer.alloc(4);
const pad4 = (n: number): number => (n + 3) & ~3;

function block(type: number, body: Buffer[]): Buffer {
  const len = 12 + body.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(len, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(len, 0);
  return Buffer.concat([head, ...body, tail], len);
}

/**
 * The capture's endpoint filter (IPAMonitor spec.capture.endpoints): empty lists match all;
 * with both lists a record must match both. A DPL record has no destination, so a
 * destinations list matches no DPL record (the driver should say so in a condition).
 */
export function matchesEndpoints(h: IPAHeader, f: IPAEndpointFilter | undefined): boolean {
  if (f?.sources?.length && !f.sources.includes(h.srcEndpoint)) return false;
  if (f?.destinations?.length && (h.format !== 'status' || !f.destinations.includes(h.dstEndpoint))) return false;
  return true;
}

export class IPAPcapngWriter {
  readonly snapLength: number;
  packets = 0;
  bytes = 0;
  private readonly prefix: Buffer;

  constructor(private readonly opts: IPAPcapngOptions) {
    this.snapLength = Math.max(1, Math.min(opts.snapLength ?? 262144, 262144));
    this.prefix = Buffer.from([RINGTAP_OPTION_VERSION, FORMAT_IDS[opts.format], opts.format === 'status' && isV5(opts.version) ? 1 : 0, 0]);
  }

  /** The Section Header Block and the one Interface Description Block that start a file. */
  startFile(): Buffer {
    const fixed = Buffer.alloc(16);
    fixed.writeUInt32LE(0x1a2b3c4d, 0);
    fixed.writeUInt16LE(1, 4);
    fixed.writeUInt16LE(0, 6);
    fixed.writeBigInt64LE(-1n, 8); // section length unknown
    const shb = block(BT_SHB, [fixed, option(4, Buffer.from('ringtap ipa-monitor')), END_OF_OPT]); // shb_userappl
    return Buffer.concat([shb, this.idb()]);
  }

  /** The EPB for one entry (on interface 0), or undefined if it is not a packet. */
  packet(e: IPAEntry, tsNs: bigint): Buffer | undefined {
    if (!e.packet) return undefined;
    const caplen = Math.min(e.payload.length, this.snapLength);
    const origLen = Math.max(e.origLen, caplen);
    const comment = formatHeader(e.header) + (e.truncated ? ` truncated=${e.payload.length}/${e.origLen}` : '');
    // One allocation per packet: the EPB is laid out in place (this is the hot path).
    const commentLen = Buffer.byteLength(comment);
    const customLen = 8 + e.headerBytes.length;
    const len = 28 + pad4(caplen) + 4 + pad4(commentLen) + 4 + pad4(customLen) + 4 + 4;
    const b = Buffer.alloc(len);
    b.writeUInt32LE(BT_EPB, 0);
    b.writeUInt32LE(len, 4);
    b.writeUInt32LE(0, 8); // interface 0, the only one
    b.writeUInt32LE(Number(tsNs >> 32n) >>> 0, 12);
    b.writeUInt32LE(Number(tsNs & 0xffffffffn), 16);
    b.writeUInt32LE(caplen, 20);
    b.writeUInt32LE(origLen, 24);
    let o = 28;
    e.payload.copy(b, o, 0, caplen);
    o += pad4(caplen);
    b.writeUInt16LE(1, o); // opt_comment
    b.writeUInt16LE(commentLen, o + 2);
    b.write(comment, o + 4);
    o += 4 + pad4(commentLen);
    b.writeUInt16LE(OPT_CUSTOM_BINARY_COPY, o);
    b.writeUInt16LE(customLen, o + 2);
    b.writeUInt32LE(RINGTAP_PEN, o + 4); // the PEN in the section's byte order
    this.prefix.copy(b, o + 8);
    e.headerBytes.copy(b, o + 12);
    o += 4 + pad4(customLen) + 4; // and opt_endofopt (zeros)
    b.writeUInt32LE(len, o);
    this.packets++;
    this.bytes += caplen;
    return b;
  }

  private idb(): Buffer {
    const fixed = Buffer.alloc(8);
    fixed.writeUInt16LE(LINKTYPE_RAW, 0);
    fixed.writeUInt32LE(this.snapLength, 4);
    const names = Object.entries(this.opts.endpointNames ?? {}).map(([id, n]) => `${id}=${n}`).join(',');
    return block(BT_IDB, [
      fixed,
      option(2, Buffer.from('ipa')), // if_name
      option(3, Buffer.from(`IPA ${this.opts.version} ${this.opts.format} stream; the endpoints of each packet are in its comment${names ? `; endpoint names ${names}` : ''}`)),
      option(9, Buffer.from([9])), // if_tsresol: nanoseconds
      END_OF_OPT,
    ]);
  }
}
