// PacketCapture status from what was observed: the capture, its resolved targets and its
// NodeTasks' statuses. Pure, so it can be table-tested.
import { kstatusConditions, type DesiredCondition } from '../../../../lib/kube/conditions.js';
import {
  PACKET_CAPTURE_TERMINAL_PHASES,
  TERMINAL_NODE_PHASES,
  type ConditionReason,
  type NodePhase,
  type PacketCapturePhase,
} from '../../../../crds/src/index.js';

export interface ObservedTask {
  node: string;
  pods: number;
  phase?: NodePhase;
  packets?: number;
  bytes?: number;
  drops?: number;
  freezes?: number;
  files?: number;
  stopReason?: string;
  message?: string;
  /** From the agent's targets report, when it sent one: how many are attached, and why the others are not. */
  attached?: number;
  /** Of the targets not attached, those the agent tried and failed to attach (each with its reason in notAttached). */
  failedTargets?: number;
  notAttached?: string[];
}

export interface CaptureState {
  /** Set when the spec cannot be acted on; the capture is Stalled with this reason. */
  invalid?: { reason: ConditionReason; message: string };
  targetsFound: number;
  tasks: ObservedTask[];
  previousPhase?: string;
}

export interface DerivedStatus {
  phase: PacketCapturePhase;
  conditions: DesiredCondition[];
  totals: { nodes: number; pods: number; packets: number; bytes: number; drops: number; freezes: number; files: number };
  nodes: { node: string; phase: string; pods: number; packets: number; bytes: number; drops: number; files: number; message?: string }[];
  stopReason?: string;
  terminal: boolean;
}

const TERMINAL = new Set<string>(TERMINAL_NODE_PHASES);
const FINISHED = new Set<string>(PACKET_CAPTURE_TERMINAL_PHASES);

export function deriveCaptureStatus(s: CaptureState): DerivedStatus {
  const tasks = [...s.tasks].sort((a, b) => a.node.localeCompare(b.node));
  const sum = (f: (t: ObservedTask) => number | undefined) => tasks.reduce((acc, t) => acc + (f(t) ?? 0), 0);
  const totals = {
    nodes: tasks.length, pods: sum((t) => t.pods), packets: sum((t) => t.packets), bytes: sum((t) => t.bytes),
    drops: sum((t) => t.drops), freezes: sum((t) => t.freezes), files: sum((t) => t.files),
  };
  const nodes = tasks.map((t) => ({
    node: t.node, phase: t.phase ?? 'Pending', pods: t.pods, packets: t.packets ?? 0, bytes: t.bytes ?? 0,
    drops: t.drops ?? 0, files: t.files ?? 0, ...(t.message ? { message: t.message } : {}),
  }));

  if (s.invalid) {
    return {
      phase: 'Failed', totals, nodes, terminal: false,
      conditions: kstatusConditions({ ready: false, reconciling: false, stalled: true, ...s.invalid }),
    };
  }
  const phases = tasks.map((t) => t.phase ?? 'Pending');
  // Finished once every node finished; and a finished capture stays finished.
  if (tasks.length > 0 && phases.every((p) => TERMINAL.has(p)) && (s.targetsFound > 0 || FINISHED.has(s.previousPhase ?? ''))) {
    return finished(tasks, phases, totals, nodes);
  }
  if (tasks.length === 0 || s.targetsFound === 0) {
    return {
      phase: 'Pending', totals, nodes, terminal: false,
      conditions: kstatusConditions({ ready: false, reconciling: false, stalled: false, reason: 'NoTargets', message: 'no pod or node interface matches the capture\'s targets; waiting for one to appear' }),
    };
  }
  if (phases.includes('Running') || phases.some((p) => TERMINAL.has(p))) {
    const waiting = tasks.filter((t) => (t.phase ?? 'Pending') === 'Pending').map((t) => t.node);
    // Running agents that attached nothing capture nothing: not Ready, and say why.
    const running = tasks.filter((t) => t.phase === 'Running');
    const why = running.flatMap((t) => (t.notAttached ?? []).map((m) => `${t.node}: ${m}`)).join('; ');
    if (waiting.length === 0 && running.length > 0 && running.every((t) => t.attached === 0)) {
      // Every target the agents tried failed (no such interface, no hardware timestamps...):
      // nothing will change without a person, so Stalled. Otherwise they are still looking.
      const stuck = running.every((t) => (t.notAttached?.length ?? 0) > 0 && t.failedTargets === t.notAttached!.length);
      return {
        phase: 'Running', totals, nodes, terminal: false,
        conditions: kstatusConditions({
          ready: false, reconciling: !stuck, stalled: stuck, reason: stuck ? 'AttachFailed' : 'Attaching',
          message: `no target is attached${why ? `: ${why}` : ''}`.slice(0, 1024),
        }),
      };
    }
    const attached = running.reduce((a, t) => a + (t.attached ?? 0), 0);
    const notAttached = running.reduce((a, t) => a + (t.notAttached?.length ?? 0), 0);
    const partly = notAttached > 0 ? `; ${attached} of ${attached + notAttached} targets attached, not attached: ${why}` : '';
    return {
      phase: 'Running', totals, nodes, terminal: false,
      conditions: kstatusConditions({
        ready: waiting.length === 0, reconciling: waiting.length > 0,
        stalled: false, reason: waiting.length ? 'NodesStarting' : 'Capturing',
        message: (waiting.length ? `waiting for the agents on ${waiting.join(', ')}` : `capturing on ${tasks.length} node(s): ${totals.packets} packets, ${totals.drops} drops${partly}`).slice(0, 1024),
      }),
    };
  }
  return {
    phase: 'Pending', totals, nodes, terminal: false,
    conditions: kstatusConditions({ ready: false, reconciling: true, stalled: false, reason: 'NodesStarting', message: `waiting for the agents on ${tasks.map((t) => t.node).join(', ')}` }),
  };
}

function finished(tasks: ObservedTask[], phases: string[], totals: DerivedStatus['totals'], nodes: DerivedStatus['nodes']): DerivedStatus {
  const failed = phases.includes('Failed');
  // Nodes whose agents stopped (the capture deleted) finished too: the stop reason says how.
  const phase: PacketCapturePhase = failed ? 'Failed' : 'Completed';
  const stopReason = firstStopReason(tasks);
  const failMsg = tasks.filter((t) => t.phase === 'Failed').map((t) => `${t.node}: ${t.message ?? 'failed'}`).join('; ');
  return {
    phase, totals, nodes, terminal: true, ...(stopReason ? { stopReason } : {}),
    conditions: kstatusConditions({
      ready: !failed, reconciling: false, stalled: failed, reason: failed ? 'NodeFailed' : phase,
      message: failed ? failMsg : summary(phase, totals, stopReason),
    }),
  };
}

function firstStopReason(tasks: ObservedTask[]): string | undefined {
  return tasks.map((t) => t.stopReason).find((r) => r !== undefined && r !== '');
}

function summary(phase: string, totals: DerivedStatus['totals'], stopReason?: string): string {
  return `${phase.toLowerCase()}${stopReason ? ` (${stopReason})` : ''}: ${totals.packets} packets, ${totals.bytes} bytes, ${totals.drops} drops in ${totals.files} file(s) on ${totals.nodes} node(s)`;
}
