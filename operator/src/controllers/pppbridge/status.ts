// PPPBridge status from what was observed: the node, its published capabilities and the one
// NodeTask's status. Pure, so it can be table-tested.
//
// Reasons (kstatus conditions). Stalled only where a person must act; Reconciling while the
// bridge waits for the world:
//   NodeNotFound        spec.nodeName names no Node: Reconciling, no NodeTask; the bridge is set
//                       up as soon as the node appears (node events requeue it)
//   InterfaceNotFound   the agent reports a PPPoE interface missing (NodeTask reason): Reconciling,
//                       the agent retries and bridges when it appears
//   CapabilityMissing   mode kernel on a node that cannot (its capability annotation, or the
//                       agent's NodeTask reason CapabilityMissing): Stalled, with the node's reason
//   BridgeFailed        the agent failed for any other reason: Stalled
//   Starting            waiting for the agent: Reconciling
//   Bridged             the agent forwards: Ready
import { kstatusConditions, type DesiredCondition } from '../../../../lib/kube/conditions.js';
import type { BridgeMode, ConditionReason, NodePhase, PPPBridgePhase, PPPDirectionCounters } from '../../../../crds/src/index.js';

export interface ObservedBridgeTask {
  phase?: NodePhase;
  /** The agent's reason for the phase (NodeTask status.reason). */
  reason?: ConditionReason;
  message?: string;
  dataPath?: 'kernel' | 'userspace';
  bridgedSince?: string;
  aToB?: PPPDirectionCounters;
  bToA?: PPPDirectionCounters;
}

export interface BridgeState {
  nodeName: string;
  nodeExists: boolean;
  mode: BridgeMode;
  /** The node's pppKernelBridge capability as its agent published it; undefined: not published yet. */
  kernelCapability?: { available: boolean; reason?: string };
  task?: ObservedBridgeTask;
}

export interface DerivedBridgeStatus {
  phase: PPPBridgePhase;
  conditions: DesiredCondition[];
  dataPath?: 'kernel' | 'userspace';
  bridgedSince?: string;
  aToB: { packets: number; bytes: number; drops: number };
  bToA: { packets: number; bytes: number; drops: number };
  message?: string;
}

/** True when the operator must not create a NodeTask (nothing the agent could do would help). */
export function blocked(s: Pick<BridgeState, 'nodeExists' | 'mode' | 'kernelCapability'>): boolean {
  return !s.nodeExists || (s.mode === 'kernel' && s.kernelCapability?.available === false);
}

const counters = (c: PPPDirectionCounters | undefined) => ({ packets: c?.packets ?? 0, bytes: c?.bytes ?? 0, drops: c?.drops ?? 0 });

export function deriveBridgeStatus(s: BridgeState): DerivedBridgeStatus {
  const t = s.task;
  const base = {
    aToB: counters(t?.aToB),
    bToA: counters(t?.bToA),
    ...(t?.dataPath ? { dataPath: t.dataPath } : {}),
  };
  const out = (phase: PPPBridgePhase, c: Parameters<typeof kstatusConditions>[0], extra: Partial<DerivedBridgeStatus> = {}): DerivedBridgeStatus => ({
    phase, ...base, ...extra, conditions: kstatusConditions(c), message: c.message.slice(0, 1024),
  });
  const stalled = (phase: PPPBridgePhase, reason: ConditionReason, message: string) => out(phase, { ready: false, reconciling: false, stalled: true, reason, message });

  const waiting = (reason: ConditionReason, message: string) => out('Pending', { ready: false, reconciling: true, stalled: false, reason, message });

  if (!s.nodeExists) return waiting('NodeNotFound', `node ${s.nodeName} does not exist; the bridge is set up when it appears`);
  if (s.mode === 'kernel' && s.kernelCapability?.available === false) {
    return stalled('Failed', 'CapabilityMissing', `node ${s.nodeName} cannot bridge in the kernel: ${s.kernelCapability.reason ?? 'pppKernelBridge unavailable'}`);
  }
  const msg = t?.message ?? '';
  if (t?.phase === 'Failed') {
    if (t.reason === 'CapabilityMissing') return stalled('Failed', 'CapabilityMissing', `node ${s.nodeName} cannot bridge in the kernel: ${msg}`);
    return stalled('Failed', 'BridgeFailed', `node ${s.nodeName}: ${msg || 'the agent failed to set up the bridge'}`);
  }
  if (t?.reason === 'InterfaceNotFound' && t.phase !== 'Running') return waiting('InterfaceNotFound', `node ${s.nodeName}: ${msg}; waiting for it`);
  if (t?.phase === 'Running') {
    const how = t.dataPath ?? 'unknown data path';
    return out('Bridged', {
      ready: true, reconciling: false, stalled: false, reason: 'Bridged',
      message: `bridged on ${s.nodeName} (${how}): a to b ${base.aToB.packets} frames, b to a ${base.bToA.packets} frames`,
    }, t.bridgedSince ? { bridgedSince: t.bridgedSince } : {});
  }
  if (t?.phase === 'Stopped' || t?.phase === 'Completed') {
    return out('Pending', { ready: false, reconciling: true, stalled: false, reason: 'Starting', message: `the bridge on ${s.nodeName} stopped; waiting for its agent to restart it` });
  }
  return out('Pending', { ready: false, reconciling: true, stalled: false, reason: 'Starting', message: `waiting for the agent on ${s.nodeName} to bridge the sessions` });
}
