// The stream walker: splits a monitor byte stream (read() chunks of any size, a FIFO, a
// replayed file, the frames of a network device) into entries of header + payload, by the
// walking rules of its format (upstream drivers/net/ipa/ipa_endpoint.c,
// ipa_endpoint_status_parse() and ipa_endpoint_status_skip(); the DPL entry sizes of
// include/uapi/linux/qcom_ipa_monitor.h in Alex Elder's ipa_monitor series):
//
//   status  an element whose opcode does not carry a packet (ipa_status_format_packet(): only
//           PACKET, DROPPED_PACKET, SUSPENDED_PACKET and PACKET_2ND_PASS do; NEW_RULE_PACKET,
//           LOG, DCMP and unknown opcodes do not), or whose pkt_len is 0, is 32 bytes with no
//           replica; otherwise 32 + ALIGN(pkt_len, align) [+ 8 with the RX checksum trailer].
//           The driver's "dst endpoint != this endpoint" skip does not apply: a monitor sees
//           every endpoint. TAG_VALID, DEAGGR and rule-miss elements are kept and counted
//           (the driver drops them; a debugger wants to see them).
//   dplv2   32 + ALIGN(pkt_len, align);   dplv3   16 + ALIGN(pkt_len, align).
// `align` is the payload alignment: by default what the hardware pads to
// (defaultPayloadAlignment: 4 for status and DPLv2, 8 for DPLv3), or the user's override.
//
// Bad input. Each header is classified before it is trusted:
//   ok              known opcode, plausible fields: an entry (status: unknown exception values
//                   are kept and counted in unknownExceptions, new hardware adds them);
//   unknownOpcode   opcode unknown, the rest plausible, and a known-opcode header right after
//                   it (so two unknown ones in a row count as one garbage run): skipped by the format's own length rule (status: 32 bytes, as the driver
//                   does for any non-packet opcode; DPL: by pkt_len), counted, walking continues
//                   in step (without a header in step after it, it is garbage);
//   impossibleLength  a packet header whose pkt_len exceeds maxPacketLength;
//   garbage         anything else (unknown opcode with an unknown exception, non-zero reserved
//                   bits: status v3/v4 w1[23:21], DPLv2 bytes 12-15).
// impossibleLength and garbage start a resynchronisation: the walker scans forward one byte at
// a time for a header classified ok whose entry is followed by another ok/unknownOpcode header
// (two headers in step, so a stray plausible byte in garbage is not taken for a header; at the
// end of the stream the entry only has to fit). One error is counted per desync, and every
// byte skipped is counted in skippedBytes. A truncated final record is counted at end().
//
// Memory: at most maxBufferedBytes are held (a chunk is consumed in pieces). The cap is raised
// to at least two maximal entries so the walker can always make progress; should it ever be
// full without progress, the held bytes are dropped and counted as overflow.
import type { IPAVersion } from '../../../../crds/src/ipamonitor.js';
import {
  decodeDplV2, decodeDplV3, decodeStatus, defaultPayloadAlignment, headerSize, ipOriginalLength, isKnownException, isKnownOpcode, isPacketHeader, isStatusPacketOpcode, isV5,
  OPCODE_LOG, type IPAFormat, type IPAHeader,
} from './decode.js';

export type DecodeErrorKind = 'unknownOpcode' | 'impossibleLength' | 'garbage' | 'truncatedTail' | 'overflow';
export const DECODE_ERROR_KINDS: readonly DecodeErrorKind[] = ['unknownOpcode', 'impossibleLength', 'garbage', 'truncatedTail', 'overflow'];

export interface WalkerOptions {
  format: IPAFormat;
  /** Selects the status layout (v5.0 field moves from 5.0). Default '4.9'. */
  version?: IPAVersion | string;
  /** Bytes each payload is padded to: default defaultPayloadAlignment(format) (status 4, DPLv2 4, DPLv3 8); 1 = none. */
  padAlign?: number;
  /** status: an 8-byte rmnet_map_dl_csum_trailer follows each packet (RX checksum offload). */
  checksumTrailer?: boolean;
  /** Longer pkt_len is impossible. Default 16384: IPA receive buffers are 8-32 KiB. */
  maxPacketLength?: number;
  /** Cap on held bytes, default 1 MiB (raised to two maximal entries if smaller). */
  maxBufferedBytes?: number;
}

/** One walked entry. `payload` is a copy, padding and trailer excluded. */
export interface IPAEntry {
  /** Stream offset of the header. */
  offset: number;
  header: IPAHeader;
  /** The header's bytes as read (32 or 16): carried verbatim in the pcapng custom option. */
  headerBytes: Buffer;
  payload: Buffer;
  /** The header describes a packet and bytes follow it (one pcapng EPB). */
  packet: boolean;
  /** IP total length when the IP header is intact, else the payload length. */
  origLen: number;
  /** The payload is shorter than the IP packet it carries. */
  truncated: boolean;
}

export interface WalkerCounters {
  bytesIn: number;
  /** Bytes of entries and of skipped unknown-opcode entries: bytesIn = walkedBytes + skippedBytes + held bytes. */
  walkedBytes: number;
  records: number;
  unknownExceptions: number;
  resyncs: number;
  skippedBytes: number;
  errors: Record<DecodeErrorKind, number>;
  /** Highest number of bytes held at once. */
  bufferedHighWater: number;
}

type Verdict =
  | { kind: 'ok' | 'unknownOpcode'; entryLen: number; payloadLen: number }
  | { kind: 'impossibleLength' | 'garbage' };

const EMPTY = Buffer.alloc(0);
const alignUp = (n: number, a: number): number => (a <= 1 ? n : Math.ceil(n / a) * a);

export function emptyErrors(): Record<DecodeErrorKind, number> {
  return { unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 };
}

export class IPAStreamWalker {
  readonly format: IPAFormat;
  readonly maxBufferedBytes: number;
  readonly counters: WalkerCounters = {
    bytesIn: 0, walkedBytes: 0, records: 0, unknownExceptions: 0, resyncs: 0, skippedBytes: 0, errors: emptyErrors(), bufferedHighWater: 0,
  };
  private readonly v5: boolean;
  private readonly hs: number;
  private readonly padAlign: number;
  private readonly trailer: number;
  private readonly maxPkt: number;
  private held: Buffer = EMPTY;
  // Pieces that arrived while the walk could not progress: kept apart (no re-concatenation
  // per read) until `need` bytes are held, so tiny reads of a large entry cost linear time.
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private need = 0;
  private heldOffset = 0; // stream offset of held[0]
  private synced = true;
  private ended = false;

  constructor(opts: WalkerOptions) {
    this.format = opts.format;
    this.v5 = isV5(opts.version ?? '4.9');
    this.hs = headerSize(opts.format);
    this.padAlign = Math.max(1, opts.padAlign ?? defaultPayloadAlignment(opts.format));
    this.trailer = opts.checksumTrailer ? 8 : 0;
    this.maxPkt = Math.min(0xffff, opts.maxPacketLength ?? 16384);
    const maxEntry = this.hs + alignUp(this.maxPkt, Math.max(8, this.padAlign)) + this.trailer;
    this.maxBufferedBytes = Math.max(opts.maxBufferedBytes ?? 1 << 20, 2 * (maxEntry + this.hs));
  }

  /** Bytes held between pushes (an incomplete entry, or bytes awaiting resynchronisation). */
  get bufferedBytes(): number {
    return this.held.length + this.pendingLen;
  }

  /** Feed a chunk; returns the entries it completed. Never throws on bad input. */
  push(chunk: Buffer): IPAEntry[] {
    if (this.ended) throw new Error('IPAStreamWalker: push after end');
    const out: IPAEntry[] = [];
    this.counters.bytesIn += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      let room = this.maxBufferedBytes - this.held.length - this.pendingLen;
      if (room <= 0) {
        // Unreachable with the raised cap; kept so memory stays bounded whatever happens.
        this.counters.errors.overflow++;
        this.counters.skippedBytes += this.bufferedBytes;
        this.heldOffset += this.bufferedBytes;
        this.held = EMPTY;
        this.pending = [];
        this.pendingLen = 0;
        this.synced = false;
        room = this.maxBufferedBytes;
      }
      const piece = chunk.subarray(off, off + room);
      off += piece.length;
      if (this.bufferedBytes + piece.length < this.need) {
        this.pending.push(Buffer.from(piece));
        this.pendingLen += piece.length;
        continue;
      }
      const data = this.bufferedBytes ? Buffer.concat([this.held, ...this.pending, piece]) : piece;
      this.pending = [];
      this.pendingLen = 0;
      this.walk(data, false, out);
    }
    return out;
  }

  /** The stream ended: walk what is held, count a truncated final record. */
  end(): IPAEntry[] {
    if (this.ended) return [];
    this.ended = true;
    const out: IPAEntry[] = [];
    if (this.bufferedBytes) {
      const data = Buffer.concat([this.held, ...this.pending]);
      this.pending = [];
      this.pendingLen = 0;
      this.walk(data, true, out);
    }
    if (this.held.length) {
      if (this.synced) this.counters.errors.truncatedTail++;
      this.counters.skippedBytes += this.held.length;
      this.held = EMPTY;
    }
    return out;
  }

  private walk(data: Buffer, final: boolean, out: IPAEntry[]): void {
    const c = this.counters;
    if (data.length > c.bufferedHighWater) c.bufferedHighWater = data.length;
    const len = data.length;
    let p = 0;
    let need = this.hs; // bytes from p needed to get further
    while (len - p >= this.hs) {
      const v = this.classify(data, p);
      if (this.synced) {
        let kind: DecodeErrorKind;
        if (v.kind === 'ok' || v.kind === 'unknownOpcode') {
          const end = p + v.entryLen;
          // Wait for the rest of the entry; at the end of the stream a known record that does
          // not fit is a truncated tail, an unknown one is garbage to resynchronise past.
          if (end > len && (!final || v.kind === 'ok')) {
            need = v.entryLen;
            break;
          }
          if (end > len) {
            kind = 'garbage';
          } else if (v.kind === 'ok') {
            out.push(this.entry(data, p, v.payloadLen));
            c.walkedBytes += v.entryLen;
            p = end;
            continue;
          } else {
            // An unknown opcode is trusted only if a known header follows it in step: a stray
            // byte before a real header would otherwise pass for one (its "exception" is the opcode).
            if (len - end < this.hs && !final) {
              need = v.entryLen + this.hs;
              break;
            }
            const next = len - end >= this.hs ? this.classify(data, end).kind : 'ok';
            if (next === 'ok') {
              c.errors.unknownOpcode++;
              c.walkedBytes += v.entryLen;
              p = end;
              continue;
            }
            kind = 'garbage';
          }
        } else kind = v.kind;
        c.errors[kind]++;
        c.resyncs++;
        this.synced = false;
        p++;
        c.skippedBytes++;
        continue;
      }
      if (v.kind === 'ok') {
        const end = p + v.entryLen;
        if (end > len && !final) {
          need = v.entryLen;
          break;
        }
        if (end <= len) {
          let confirmed: boolean;
          if (len - end >= this.hs) {
            const n = this.classify(data, end).kind;
            confirmed = n === 'ok' || n === 'unknownOpcode';
          } else {
            confirmed = final;
            if (!final) {
              need = v.entryLen + this.hs; // the next header confirms
              break;
            }
          }
          if (confirmed) {
            this.synced = true;
            continue;
          }
        }
      }
      p++;
      c.skippedBytes++;
    }
    this.need = need;
    this.heldOffset += p;
    // Copy what remains: never keep a reference into the caller's chunk.
    this.held = p >= len ? EMPTY : Buffer.from(data.subarray(p));
  }

  private classify(b: Buffer, p: number): Verdict {
    const op = b[p]!;
    if (this.format === 'status') {
      const exc = b[p + 1]!;
      const pktLen = b.readUInt16LE(p + 4);
      const reservedOk = this.v5 || (b[p + 6]! & 0xe0) === 0; // w1[23:21]
      if (!reservedOk) return { kind: 'garbage' };
      if (isKnownOpcode(op)) {
        const isPkt = isStatusPacketOpcode(op) && pktLen > 0;
        if (isPkt && pktLen > this.maxPkt) return { kind: 'impossibleLength' };
        return isPkt
          ? { kind: 'ok', entryLen: this.hs + alignUp(pktLen, this.padAlign) + this.trailer, payloadLen: pktLen }
          : { kind: 'ok', entryLen: this.hs, payloadLen: 0 };
      }
      return isKnownException(exc) ? { kind: 'unknownOpcode', entryLen: this.hs, payloadLen: 0 } : { kind: 'garbage' };
    }
    let pktLen: number;
    let entryLen: number;
    if (this.format === 'dplv2') {
      if (b.readUInt32LE(p + 12) !== 0) return { kind: 'garbage' }; // reserved[4]
      pktLen = b.readUInt16LE(p + 4);
      entryLen = this.hs + alignUp(pktLen, this.padAlign);
    } else {
      pktLen = b.readUInt16LE(p + 14);
      entryLen = this.hs + alignUp(pktLen, this.padAlign);
    }
    if (op === OPCODE_LOG) return pktLen > this.maxPkt ? { kind: 'impossibleLength' } : { kind: 'ok', entryLen, payloadLen: pktLen };
    return pktLen > this.maxPkt ? { kind: 'garbage' } : { kind: 'unknownOpcode', entryLen, payloadLen: pktLen };
  }

  private entry(data: Buffer, p: number, payloadLen: number): IPAEntry {
    const c = this.counters;
    c.records++;
    const header: IPAHeader =
      this.format === 'status' ? decodeStatus(data, p, this.v5) : this.format === 'dplv2' ? decodeDplV2(data, p) : decodeDplV3(data, p);
    if (header.format === 'status' && !isKnownException(header.exception)) c.unknownExceptions++;
    const payload = payloadLen ? Buffer.from(data.subarray(p + this.hs, p + this.hs + payloadLen)) : EMPTY;
    const ipLen = ipOriginalLength(payload);
    const origLen = ipLen !== undefined && ipLen > payload.length ? ipLen : payload.length;
    const headerBytes = Buffer.from(data.subarray(p, p + this.hs));
    return { offset: this.heldOffset + p, header, headerBytes, payload, packet: payloadLen > 0 && isPacketHeader(header), origLen, truncated: origLen > payload.length };
  }
}

/** Walk an async byte source (a device, a FIFO, a file stream), yielding entries as they complete. */
export async function* walkIPAStream(source: AsyncIterable<Buffer | Uint8Array>, opts: WalkerOptions, walker = new IPAStreamWalker(opts)): AsyncGenerator<IPAEntry> {
  for await (const chunk of source) {
    yield* walker.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  yield* walker.end();
}
