// Counts that survive a restart: an IPAMonitor task publishes what it decoded since it started on
// this node (NodeTask status.ipa and status.counters). When the agent restarts (a crash, a
// SIGKILL, an upgrade) or the monitor restarts its worker (device, version or capture changed),
// the new worker counts from zero; the driver adds what the task had already published, as the
// PacketCapture driver does with its counters, so no published count ever goes down.
//
// The published tables are bounded (the largest 64 pairs, 64 opcodes/exceptions, 20 flows), so
// the sum is taken row by row where both sides list a row, and whatever falls off the bound goes
// to otherPairs (pairs) or away (flows: the sum is then marked approximate). Totals (records,
// packets, bytes, exceptions, decode errors, ...) are exact sums.
import type { IPADecodeErrors, IPANamedCount, IPATaskFlow, IPATaskPair, IPATaskStatus } from '../../../../crds/src/ipamonitor.js';
import { IPA_MAX_FLOWS, IPA_MAX_NAMED, IPA_MAX_PAIRS } from '../../../../crds/src/ipamonitor.js';

/** The NodeTask status counters an IPAMonitor task publishes. */
export interface IPATaskCounters { records: number; exceptions: number; drops: number; packets?: number; bytes?: number }

const n = (x: number | undefined): number => x ?? 0;

function sumOptional(a: number | undefined, b: number | undefined): { v?: number } {
  return a === undefined && b === undefined ? {} : { v: n(a) + n(b) };
}

/** base + current, field by field (packets/bytes only where either side has them). */
export function carryCounters(base: Partial<IPATaskCounters> | undefined, cur: IPATaskCounters): IPATaskCounters {
  if (!base) return cur;
  const packets = sumOptional(base.packets, cur.packets).v;
  const bytes = sumOptional(base.bytes, cur.bytes).v;
  return {
    records: n(base.records) + cur.records, exceptions: n(base.exceptions) + cur.exceptions, drops: n(base.drops) + cur.drops,
    ...(packets !== undefined ? { packets } : {}), ...(bytes !== undefined ? { bytes } : {}),
  };
}

function mergeNamed(a: IPANamedCount[] = [], b: IPANamedCount[] = []): IPANamedCount[] {
  const m = new Map<string, IPANamedCount>();
  for (const r of [...a, ...b]) {
    const c = m.get(r.name);
    if (c) {
      c.records += r.records;
      c.bytes += r.bytes;
    } else m.set(r.name, { ...r });
  }
  return [...m.values()].sort((x, y) => y.records - x.records || x.name.localeCompare(y.name)).slice(0, IPA_MAX_NAMED);
}

function mergeErrors(a: IPADecodeErrors = {}, b: IPADecodeErrors = {}): IPADecodeErrors {
  const out: IPADecodeErrors = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof IPADecodeErrors>) out[k] = n(a[k]) + n(b[k]);
  return out;
}

const flowKey = (f: IPATaskFlow): string => `${f.src}>${f.dst}|${f.proto}|${f.srcAddr}|${f.dstAddr}|${f.srcPort ?? ''}|${f.dstPort ?? ''}`;

/** The status a task publishes: what it had published before (base) plus what the running worker decoded (cur). */
export function carryIPAStatus(base: IPATaskStatus | undefined, cur: IPATaskStatus): IPATaskStatus {
  if (!base) return cur;
  const pairs = new Map<string, IPATaskPair>();
  for (const p of [...(base.pairs ?? []), ...(cur.pairs ?? [])]) {
    const k = `${p.src}>${p.dst}`;
    const c = pairs.get(k);
    if (c) {
      c.records += p.records;
      c.bytes += p.bytes;
      c.truncated = n(c.truncated) + n(p.truncated);
    } else pairs.set(k, { ...p });
  }
  const sorted = [...pairs.values()].sort((a, b) => b.bytes - a.bytes || b.records - a.records || a.src - b.src || a.dst - b.dst);
  const other = {
    pairs: n(base.otherPairs?.pairs) + n(cur.otherPairs?.pairs),
    records: n(base.otherPairs?.records) + n(cur.otherPairs?.records),
    bytes: n(base.otherPairs?.bytes) + n(cur.otherPairs?.bytes),
  };
  for (const p of sorted.slice(IPA_MAX_PAIRS)) {
    other.pairs++;
    other.records += p.records;
    other.bytes += p.bytes;
  }
  const flows = new Map<string, IPATaskFlow>();
  for (const f of [...(base.topFlows ?? []), ...(cur.topFlows ?? [])]) {
    const k = flowKey(f);
    const c = flows.get(k);
    if (c) {
      c.records += f.records;
      c.bytes += f.bytes;
      if (f.error !== undefined || c.error !== undefined) c.error = n(c.error) + n(f.error);
    } else flows.set(k, { ...f });
  }
  const topFlows = [...flows.values()].sort((a, b) => b.bytes - a.bytes || b.records - a.records);
  const sum = (k: 'capturedBytes' | 'truncated' | 'exceptions' | 'unknownExceptions' | 'resyncs' | 'skippedBytes' | 'reopens') => {
    const v = sumOptional(base[k], cur[k]).v;
    return v === undefined ? {} : { [k]: v };
  };
  return {
    ...cur,
    records: base.records + cur.records,
    packets: base.packets + cur.packets,
    bytes: base.bytes + cur.bytes,
    ...sum('capturedBytes'), ...sum('truncated'), ...sum('exceptions'), ...sum('unknownExceptions'),
    pairs: sorted.slice(0, IPA_MAX_PAIRS),
    otherPairs: other,
    byOpcode: mergeNamed(base.byOpcode, cur.byOpcode),
    byException: mergeNamed(base.byException, cur.byException),
    topFlows: topFlows.slice(0, IPA_MAX_FLOWS),
    // Flows of one side that fell off the other side's top list are only partly summed.
    flowsApproximate: (base.flowsApproximate ?? false) || (cur.flowsApproximate ?? false) || topFlows.length > IPA_MAX_FLOWS ||
      (base.topFlows?.length ?? 0) >= IPA_MAX_FLOWS || (cur.topFlows?.length ?? 0) >= IPA_MAX_FLOWS,
    decodeErrors: mergeErrors(base.decodeErrors, cur.decodeErrors),
    ...sum('resyncs'), ...sum('skippedBytes'), ...sum('reopens'),
  };
}
