// Traffic accounting over walked IPA entries: per endpoint pair, per opcode, per exception,
// top flows, truncation and decode errors. Everything is bounded, so the summary fits a
// NodeTask status and its labels a Prometheus registry whatever the stream holds:
//   pairs   at most maxPairs keys (v5 endpoints are 8 bits: 65536 pairs are possible); records
//           beyond go to one "other" bucket; the summary lists the topPairs by bytes;
//   flows   a Space-Saving table of maxFlows entries (exact while the table is not full;
//           afterwards the heavy hitters are kept, each with its maximum overcount);
//   opcode / exception  256 values each at most.
// "records" are status elements (or DPL entries) of any opcode; "bytes" are the original
// lengths of the packets they describe (IP total length when the IP header is intact, else
// the bytes present); capturedBytes are the bytes present.
import type { IPATaskFlow, IPATaskPair } from '../../../../crds/src/index.js';
import { dstOf, exceptionKey, exceptionOf, keyedExceptionName, opcodeName, type IPAFormat } from './decode.js';
import { emptyErrors, type DecodeErrorKind, type IPAEntry, type WalkerCounters } from './walker.js';

export interface IPACount {
  records: number;
  bytes: number;
}

/** The published pair row (NodeTask status.ipa), with the truncation count always kept. */
export type IPAPairCount = IPATaskPair & { truncated: number };
/** The published flow row. */
export type IPAFlowCount = IPATaskFlow;

export interface IPASummary {
  format: IPAFormat;
  records: number;
  /** Records describing a packet, with bytes present. */
  packets: number;
  bytes: number;
  capturedBytes: number;
  truncated: number;
  /** Records with a non-zero exception (status format only). */
  exceptions: number;
  unknownExceptions: number;
  byPair: IPAPairCount[];
  /** Pairs not listed in byPair (beyond topPairs, or beyond maxPairs), summed. */
  otherPairs: IPACount & { pairs: number };
  byOpcode: Record<string, IPACount>;
  byException: Record<string, IPACount>;
  topFlows: IPAFlowCount[];
  flowsApproximate: boolean;
  errors: Record<DecodeErrorKind, number>;
  resyncs: number;
  skippedBytes: number;
}

export interface IPAStatsOptions {
  format: IPAFormat;
  /** Endpoint id -> name (per SoC: e.g. from the driver's configuration data). */
  endpointNames?: Readonly<Record<number, string>>;
  maxPairs?: number;
  topPairs?: number;
  maxFlows?: number;
  topFlows?: number;
}

interface PairCell extends IPACount {
  truncated: number;
}

export class IPAStats {
  private readonly opts: Required<Omit<IPAStatsOptions, 'endpointNames'>> & Pick<IPAStatsOptions, 'endpointNames'>;
  private records = 0;
  private packets = 0;
  private bytes = 0;
  private capturedBytes = 0;
  private truncated = 0;
  private exceptions = 0;
  private readonly pairs = new Map<number, PairCell>(); // key: src << 9 | (dst + 1)
  private readonly overflowPairs: IPACount = { records: 0, bytes: 0 };
  private readonly opcodes = new Map<number, IPACount>();
  private readonly excs = new Map<number, IPACount>();
  private readonly flows = new Map<string, IPAFlowCount>();
  private flowsApproximate = false;

  constructor(opts: IPAStatsOptions) {
    this.opts = { maxPairs: 4096, topPairs: 64, maxFlows: 4096, topFlows: 20, ...opts };
  }

  add(e: IPAEntry): void {
    const h = e.header;
    const bytes = e.packet ? e.origLen : 0;
    this.records++;
    if (e.packet) this.packets++;
    this.bytes += bytes;
    this.capturedBytes += e.payload.length;
    if (e.truncated) this.truncated++;
    const exc = exceptionOf(h);
    if (exc > 0) this.exceptions++;
    const dst = dstOf(h);
    const key = h.srcEndpoint * 512 + dst + 1;
    let cell = this.pairs.get(key);
    if (!cell && this.pairs.size < this.opts.maxPairs) this.pairs.set(key, (cell = { records: 0, bytes: 0, truncated: 0 }));
    const target = cell ?? this.overflowPairs;
    target.records++;
    target.bytes += bytes;
    if (cell && e.truncated) cell.truncated++;
    bump(this.opcodes, h.opcode, bytes);
    // 0x40 is counted apart for IPv4 (NAT) and IPv6 (IPV6_CONN_TRACK).
    if (exc >= 0) bump(this.excs, h.format === 'status' ? exceptionKey(exc, h.mask) : exc, bytes);
    if (e.packet) this.addFlow(e, h.srcEndpoint, dst, bytes);
  }

  private addFlow(e: IPAEntry, src: number, dst: number, bytes: number): void {
    const t = fiveTuple(e.payload);
    if (!t) return;
    const key = `${src}>${dst}|${t.proto}|${t.srcAddr}|${t.dstAddr}|${t.srcPort ?? ''}|${t.dstPort ?? ''}`;
    const f = this.flows.get(key);
    if (f) {
      f.records++;
      f.bytes += bytes;
      return;
    }
    let base = { records: 0, bytes: 0 };
    if (this.flows.size >= this.opts.maxFlows) {
      // Space-Saving: the new flow takes the place (and the count) of the smallest.
      let minKey = '';
      let min: IPAFlowCount | undefined;
      for (const [k, v] of this.flows) if (!min || v.bytes < min.bytes) [minKey, min] = [k, v];
      this.flows.delete(minKey);
      base = { records: min!.records, bytes: min!.bytes };
      this.flowsApproximate = true;
    }
    this.flows.set(key, {
      src, dst, ...t, records: base.records + 1, bytes: base.bytes + bytes, ...(base.bytes ? { error: base.bytes } : {}),
    });
  }

  /** A bounded summary, with the walker's error counters. */
  summary(walker?: WalkerCounters): IPASummary {
    const names = this.opts.endpointNames ?? {};
    const pairs = [...this.pairs.entries()]
      .map(([k, c]): IPAPairCount => {
        const src = Math.floor(k / 512);
        const dst = (k % 512) - 1;
        return {
          src, dst, ...(names[src] ? { srcName: names[src] } : {}), ...(dst >= 0 && names[dst] ? { dstName: names[dst] } : {}),
          records: c.records, bytes: c.bytes, truncated: c.truncated,
        };
      })
      .sort((a, b) => b.bytes - a.bytes || b.records - a.records || a.src - b.src || a.dst - b.dst);
    const shown = pairs.slice(0, this.opts.topPairs);
    const other = { ...this.overflowPairs, pairs: pairs.length - shown.length + (this.overflowPairs.records ? 1 : 0) };
    for (const p of pairs.slice(this.opts.topPairs)) {
      other.records += p.records;
      other.bytes += p.bytes;
    }
    const topFlows = [...this.flows.values()]
      .sort((a, b) => b.bytes - a.bytes || b.records - a.records)
      .slice(0, this.opts.topFlows)
      .map((f) => ({ ...f }));
    return {
      format: this.opts.format,
      records: this.records,
      packets: this.packets,
      bytes: this.bytes,
      capturedBytes: this.capturedBytes,
      truncated: this.truncated,
      exceptions: this.exceptions,
      unknownExceptions: walker?.unknownExceptions ?? 0,
      byPair: shown,
      otherPairs: other,
      byOpcode: named(this.opcodes, opcodeName),
      byException: named(this.excs, keyedExceptionName),
      topFlows,
      flowsApproximate: this.flowsApproximate,
      errors: walker ? { ...walker.errors } : emptyErrors(),
      resyncs: walker?.resyncs ?? 0,
      skippedBytes: walker?.skippedBytes ?? 0,
    };
  }
}

function bump(m: Map<number, IPACount>, k: number, bytes: number): void {
  const c = m.get(k);
  if (c) {
    c.records++;
    c.bytes += bytes;
  } else m.set(k, { records: 1, bytes });
}

function named(m: Map<number, IPACount>, name: (n: number) => string): Record<string, IPACount> {
  const out: Record<string, IPACount> = {};
  for (const k of [...m.keys()].sort((a, b) => a - b)) out[name(k)] = { ...m.get(k)! };
  return out;
}

/** Protocol, addresses and ports of an IP packet (no IPv6 extension headers walked). */
export function fiveTuple(p: Buffer): { proto: number; srcAddr: string; dstAddr: string; srcPort?: number; dstPort?: number } | undefined {
  const v = p.length ? p[0]! >> 4 : 0;
  let proto: number;
  let l4: number;
  let srcAddr: string;
  let dstAddr: string;
  let firstFragment = true;
  if (v === 4 && p.length >= 20) {
    l4 = (p[0]! & 0x0f) * 4;
    proto = p[9]!;
    srcAddr = `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
    dstAddr = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`;
    firstFragment = (p.readUInt16BE(6) & 0x1fff) === 0;
  } else if (v === 6 && p.length >= 40) {
    l4 = 40;
    proto = p[6]!;
    srcAddr = ipv6(p, 8);
    dstAddr = ipv6(p, 24);
  } else return undefined;
  const ported = proto === 6 || proto === 17 || proto === 132;
  if (ported && firstFragment && p.length >= l4 + 4) {
    return { proto, srcAddr, dstAddr, srcPort: p.readUInt16BE(l4), dstPort: p.readUInt16BE(l4 + 2) };
  }
  return { proto, srcAddr, dstAddr };
}

function ipv6(p: Buffer, off: number): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(p.readUInt16BE(off + i).toString(16));
  return g.join(':');
}

export interface PromSample {
  name: string;
  help: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus samples for a summary (bounded: the summary is). Counters, all `_total`. */
export function prometheusSamples(s: IPASummary): PromSample[] {
  const out: PromSample[] = [];
  const ep = (n: number, name?: string): string => (n < 0 ? 'none' : name ?? String(n));
  for (const p of s.byPair) {
    const labels = { src: ep(p.src, p.srcName), dst: ep(p.dst, p.dstName) };
    out.push({ name: 'ringtap_ipa_records_total', help: 'IPA status records by endpoint pair.', labels, value: p.records });
    out.push({ name: 'ringtap_ipa_bytes_total', help: 'Bytes of packets by endpoint pair.', labels, value: p.bytes });
    out.push({ name: 'ringtap_ipa_truncated_total', help: 'Truncated packets by endpoint pair.', labels, value: p.truncated });
  }
  for (const [opcode, c] of Object.entries(s.byOpcode)) {
    out.push({ name: 'ringtap_ipa_opcode_records_total', help: 'IPA status records by opcode.', labels: { opcode }, value: c.records });
  }
  for (const [exception, c] of Object.entries(s.byException)) {
    out.push({ name: 'ringtap_ipa_exception_records_total', help: 'IPA status records by exception.', labels: { exception }, value: c.records });
  }
  for (const [kind, n] of Object.entries(s.errors)) {
    out.push({ name: 'ringtap_ipa_decode_errors_total', help: 'Malformed input by kind.', labels: { kind }, value: n });
  }
  out.push({ name: 'ringtap_ipa_skipped_bytes_total', help: 'Bytes skipped while resynchronising.', labels: {}, value: s.skippedBytes });
  return out;
}

/**
 * The NodeTask status counters of an IPAMonitor task (crds/src/nodetask.ts NodeTaskCounters):
 * records and exceptions from the decoder; drops = malformed input events (each garbage run,
 * bad header, cut tail or overflow is one); packets/bytes are what the capture wrote, as for a
 * PacketCapture (absent without capture).
 */
export function nodeTaskCounters(s: IPASummary, written?: { packets: number; bytes: number }): {
  records: number; exceptions: number; drops: number; packets?: number; bytes?: number;
} {
  const drops = Object.values(s.errors).reduce((a, b) => a + b, 0);
  return { records: s.records, exceptions: s.exceptions, drops, ...(written ? { packets: written.packets, bytes: written.bytes } : {}) };
}
