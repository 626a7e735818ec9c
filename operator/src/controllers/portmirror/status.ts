// PortMirror status from what was observed: the resolved sources and the NodeTasks' statuses.
// Pure, so it can be table-tested.
import { kstatusConditions, type DesiredCondition } from '../../../../lib/kube/conditions.js';
import type { ConditionReason, NodePhase } from '../../../../crds/src/index.js';

export interface ObservedMirrorTask {
  node: string;
  /** Sources the operator gave this node. */
  sources: number;
  phase?: NodePhase;
  attached: number;
  /** Sources the agent tried and failed to attach, and why (its targets' messages). */
  failed?: string[];
  packets?: number;
  bytes?: number;
  drops?: number;
  /** The agent's reason for the task's phase (NodeTask status.reason). */
  reason?: ConditionReason;
  message?: string;
}

export interface MirrorState {
  invalid?: { reason: ConditionReason; message: string };
  /** Set while the destination cannot be resolved (e.g. the collector pod is not running). */
  waiting?: { reason: ConditionReason; message: string };
  sourcesFound: number;
  tasks: ObservedMirrorTask[];
}

export interface DerivedMirrorStatus {
  phase: 'Pending' | 'Running' | 'Degraded' | 'Failed';
  conditions: DesiredCondition[];
  totals: { nodes: number; sources: number; packets: number; bytes: number; drops: number };
  nodes: { node: string; phase: string; sources: number; packets: number; bytes: number; drops: number; message?: string }[];
}

export function deriveMirrorStatus(s: MirrorState): DerivedMirrorStatus {
  const tasks = [...s.tasks].sort((a, b) => a.node.localeCompare(b.node));
  const sum = (f: (t: ObservedMirrorTask) => number | undefined) => tasks.reduce((acc, t) => acc + (f(t) ?? 0), 0);
  const totals = { nodes: tasks.length, sources: sum((t) => t.attached), packets: sum((t) => t.packets), bytes: sum((t) => t.bytes), drops: sum((t) => t.drops) };
  const nodes = tasks.map((t) => ({
    node: t.node, phase: t.phase ?? 'Pending', sources: t.attached, packets: t.packets ?? 0, bytes: t.bytes ?? 0, drops: t.drops ?? 0,
    ...(t.message ? { message: t.message.slice(0, 1024) } : {}),
  }));
  const out = (phase: DerivedMirrorStatus['phase'], c: Parameters<typeof kstatusConditions>[0]) => ({ phase, totals, nodes, conditions: kstatusConditions(c) });

  if (s.invalid) return out('Failed', { ready: false, reconciling: false, stalled: true, ...s.invalid });
  const failed = tasks.filter((t) => t.phase === 'Failed');
  if (failed.length > 0) {
    const reason = failed.some((t) => t.reason === 'CapabilityMissing') ? 'CapabilityMissing' : 'NodeFailed';
    const message = failed.map((t) => `${t.node}: ${t.message ?? 'failed'}`).join('; ');
    return out(failed.length === tasks.length ? 'Failed' : 'Degraded', { ready: false, reconciling: false, stalled: true, reason, message });
  }
  if (s.waiting) return out('Pending', { ready: false, reconciling: true, stalled: false, ...s.waiting });
  if (s.sourcesFound === 0) {
    return out('Pending', { ready: false, reconciling: false, stalled: false, reason: 'NoSources', message: 'no pod or node interface matches the mirror\'s source; waiting for one to appear' });
  }
  const wanted = sum((t) => t.sources);
  const starting = tasks.filter((t) => (t.phase ?? 'Pending') === 'Pending').map((t) => t.node);
  const failures = tasks.flatMap((t) => (t.failed ?? []).map((m) => `${t.node}: ${m}`));
  const why = failures.join('; ').slice(0, 900);
  // Sources the agents tried and failed to attach will not attach by waiting: say so, never "Attaching" forever.
  const pending = wanted - totals.sources - failures.length;
  if (starting.length === 0 && totals.sources === 0 && failures.length > 0 && pending <= 0) {
    return out('Degraded', { ready: false, reconciling: false, stalled: true, reason: 'AttachFailed', message: `no source is attached: ${why}` });
  }
  if (starting.length > 0 || pending > 0) {
    return out(starting.length === tasks.length ? 'Pending' : 'Running', {
      ready: false, reconciling: true, stalled: false, reason: 'Attaching',
      message: starting.length ? `waiting for the agents on ${starting.join(', ')}` : `${totals.sources}/${wanted} source(s) attached${why ? `; failed: ${why}` : ''}`,
    });
  }
  return out('Running', {
    ready: true, reconciling: false, stalled: false, reason: 'Mirroring',
    message: `mirroring ${totals.sources} source(s) on ${tasks.filter((t) => t.sources > 0).length} node(s): ${totals.packets} packets, ${totals.bytes} bytes${failures.length ? `; ${totals.sources} of ${wanted} attached, not attached: ${why}` : ''}`,
  });
}
