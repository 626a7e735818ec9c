// IPAMonitor status from what was observed: how many nodes the selector matches and the
// NodeTasks' statuses (each agent's bounded status.ipa). Pure, so it can be table-tested.
//
// The traffic matrix sums the nodes' endpoint pairs keyed by endpoint name (the agent's
// per-SoC table) or ep<id> where no name is known, "-" for no destination (DPL streams); it
// keeps the IPA_MAX_PAIRS largest cells by bytes (then records) and sums the rest, with each
// node's own overflow, into otherPairs. Exceptions and opcodes are summed by name and bounded
// the same way.
import { kstatusConditions, type DesiredCondition } from '../../../../lib/kube/conditions.js';
import {
  type ConditionReason, IPA_MAX_NAMED, IPA_MAX_PAIRS, type IPADecodeErrors, type IPAMatrixCell,
  type IPAMonitorNodeStatus, type IPANamedCount, type IPATaskStatus, type NodePhase,
} from '../../../../crds/src/index.js';

export interface ObservedIPATask {
  node: string;
  phase?: NodePhase;
  /** The agent's status.reason: what is wrong, if anything (messages are for people). */
  reason?: ConditionReason;
  message?: string;
  ipaVersion?: string;
  ipa?: IPATaskStatus;
  /** Packets and bytes written to files, drops (malformed input events). */
  packets?: number;
  bytes?: number;
  drops?: number;
  files?: number;
}

export interface IPAMonitorState {
  invalid?: { reason: ConditionReason; message: string };
  /** Nodes the monitor's nodeSelector matches. */
  selectedNodes: number;
  tasks: ObservedIPATask[];
}

export interface DerivedIPAMonitorStatus {
  phase: 'Pending' | 'Running' | 'Degraded' | 'Failed';
  conditions: DesiredCondition[];
  totals: { nodes: number; records: number; packets: number; bytes: number; drops: number; exceptions: number; files: number };
  nodes: IPAMonitorNodeStatus[];
  matrix: IPAMatrixCell[];
  otherPairs: { pairs: number; records: number; bytes: number };
  byException: IPANamedCount[];
  byOpcode: IPANamedCount[];
  decodeErrors: Required<IPADecodeErrors>;
  truncated: number;
}

const endpoint = (id: number, name?: string): string => (id < 0 ? '-' : name ?? `ep${id}`);

function sumNamed(lists: (IPANamedCount[] | undefined)[]): IPANamedCount[] {
  const m = new Map<string, IPANamedCount>();
  for (const l of lists) {
    for (const c of l ?? []) {
      const x = m.get(c.name) ?? { name: c.name, records: 0, bytes: 0 };
      x.records += c.records;
      x.bytes += c.bytes;
      m.set(c.name, x);
    }
  }
  return [...m.values()].sort((a, b) => b.records - a.records || a.name.localeCompare(b.name)).slice(0, IPA_MAX_NAMED);
}

export function deriveIPAMonitorStatus(s: IPAMonitorState): DerivedIPAMonitorStatus {
  const tasks = [...s.tasks].sort((a, b) => a.node.localeCompare(b.node));
  const sum = (f: (t: ObservedIPATask) => number | undefined) => tasks.reduce((acc, t) => acc + (f(t) ?? 0), 0);
  const totals = {
    nodes: tasks.length, records: sum((t) => t.ipa?.records), packets: sum((t) => t.packets), bytes: sum((t) => t.bytes),
    drops: sum((t) => t.drops), exceptions: sum((t) => t.ipa?.exceptions), files: sum((t) => t.files),
  };
  const nodes: IPAMonitorNodeStatus[] = tasks.map((t) => ({
    node: t.node, phase: t.phase ?? 'Pending', packets: t.packets ?? 0, bytes: t.bytes ?? 0, drops: t.drops ?? 0, files: t.files ?? 0,
    records: t.ipa?.records ?? 0, exceptions: t.ipa?.exceptions ?? 0,
    ...(t.ipaVersion ? { ipaVersion: t.ipaVersion.slice(0, 16) } : {}),
    ...(t.ipa?.source ? { device: t.ipa.source.slice(-63) } : {}),
    ...(t.message ? { message: t.message.slice(0, 1024) } : {}),
  }));

  const cells = new Map<string, IPAMatrixCell>();
  const otherPairs = { pairs: 0, records: 0, bytes: 0 };
  for (const t of tasks) {
    for (const p of t.ipa?.pairs ?? []) {
      const from = endpoint(p.src, p.srcName);
      const to = endpoint(p.dst, p.dstName);
      const key = `${from}\0${to}`;
      const c = cells.get(key) ?? { from, to, records: 0, bytes: 0, truncated: 0, nodes: 0 };
      c.records += p.records;
      c.bytes += p.bytes;
      c.truncated! += p.truncated ?? 0;
      c.nodes! += 1;
      cells.set(key, c);
    }
    const o = t.ipa?.otherPairs;
    if (o) {
      otherPairs.pairs += o.pairs;
      otherPairs.records += o.records;
      otherPairs.bytes += o.bytes;
    }
  }
  const sorted = [...cells.values()].sort((a, b) => b.bytes - a.bytes || b.records - a.records || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  const matrix = sorted.slice(0, IPA_MAX_PAIRS);
  for (const c of sorted.slice(IPA_MAX_PAIRS)) {
    otherPairs.pairs++;
    otherPairs.records += c.records;
    otherPairs.bytes += c.bytes;
  }
  const decodeErrors = { unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 };
  for (const t of tasks) for (const k of Object.keys(decodeErrors) as (keyof typeof decodeErrors)[]) decodeErrors[k] += t.ipa?.decodeErrors?.[k] ?? 0;
  const base = {
    totals, nodes, matrix, otherPairs, decodeErrors, truncated: sum((t) => t.ipa?.truncated),
    byException: sumNamed(tasks.map((t) => t.ipa?.byException)), byOpcode: sumNamed(tasks.map((t) => t.ipa?.byOpcode)),
  };
  const out = (phase: DerivedIPAMonitorStatus['phase'], c: Parameters<typeof kstatusConditions>[0]): DerivedIPAMonitorStatus => ({ phase, ...base, conditions: kstatusConditions(c) });

  if (s.invalid) return out('Failed', { ready: false, reconciling: false, stalled: true, ...s.invalid });
  if (tasks.length === 0 && s.selectedNodes === 0) {
    return out('Pending', {
      ready: false, reconciling: false, stalled: false, reason: 'NoNodes',
      message: 'no node matches spec.nodeSelector (by default nodes the agent labelled ringtap.dev/ipa=true); waiting for one',
    });
  }
  const failed = tasks.filter((t) => t.phase === 'Failed');
  if (failed.length > 0) {
    const reason = failed.every((t) => t.reason === 'IPASourceUnavailable') ? 'IPASourceUnavailable' : 'NodeFailed';
    const message = failed.map((t) => `${t.node}: ${t.message ?? 'failed'}`).join('; ').slice(0, 4096);
    return out(failed.length === tasks.length ? 'Failed' : 'Degraded', { ready: false, reconciling: false, stalled: true, reason, message });
  }
  const starting = tasks.filter((t) => (t.phase ?? 'Pending') === 'Pending').map((t) => t.node);
  if (starting.length > 0 || tasks.length < s.selectedNodes) {
    return out(starting.length === tasks.length ? 'Pending' : 'Running', {
      ready: false, reconciling: true, stalled: false, reason: 'Starting',
      message: starting.length ? `waiting for the agents on ${starting.join(', ')}` : `${tasks.length}/${s.selectedNodes} node(s) have a task`,
    });
  }
  // Running, but not well: the source cannot be read (retried), or the capture stopped on a write error.
  const degraded = tasks.filter((t) => t.reason === 'CaptureFailed' || t.reason === 'IPASourceUnavailable');
  if (degraded.length > 0) {
    return out('Degraded', {
      ready: false, reconciling: false, stalled: true, reason: degraded.some((t) => t.reason === 'CaptureFailed') ? 'CaptureFailed' : 'IPASourceUnavailable',
      message: degraded.map((t) => `${t.node}: ${t.message}`).join('; ').slice(0, 4096),
    });
  }
  return out('Running', {
    ready: true, reconciling: false, stalled: false, reason: 'Monitoring',
    message: `monitoring ${tasks.length} node(s): ${totals.records} records, ${totals.exceptions} exceptions, ${Object.values(decodeErrors).reduce((a, b) => a + b, 0)} decode errors`,
  });
}
