// kstatus conditions as pure functions: the same observed state always gives the same
// conditions, and lastTransitionTime moves only when a condition's status changes.
import type { Condition, ConditionReason } from '../../crds/src/index.js';

export type { Condition };
export type ConditionStatus = Condition['status'];
/** A condition as a status function computes it: its reason from the one list in crds/src/reasons.ts. */
export interface DesiredCondition { type: Condition['type']; status: ConditionStatus; reason: ConditionReason; message: string }

/** Merges desired conditions into the previous ones, keeping transition times that did not change. */
export function mergeConditions(previous: readonly Condition[] | undefined, desired: readonly DesiredCondition[], generation: number | undefined, now: string): Condition[] {
  const prev = new Map((previous ?? []).map((c) => [c.type, c]));
  return desired.map((d) => {
    const p = prev.get(d.type);
    return {
      ...d,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      lastTransitionTime: p && p.status === d.status ? p.lastTransitionTime : now,
    };
  });
}

/** The three kstatus conditions for one state of a resource. */
export function kstatusConditions(state: { ready: boolean; reconciling: boolean; stalled: boolean; reason: ConditionReason; message: string }): DesiredCondition[] {
  const { ready, reconciling, stalled, reason, message } = state;
  return [
    { type: 'Ready', status: ready ? 'True' : 'False', reason, message },
    { type: 'Reconciling', status: reconciling ? 'True' : 'False', reason: reconciling ? reason : 'Idle', message: reconciling ? message : '' },
    { type: 'Stalled', status: stalled ? 'True' : 'False', reason: stalled ? reason : 'NotStalled', message: stalled ? message : '' },
  ];
}

/** The current time as the API server writes metav1.Time (seconds precision). */
export function nowTime(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}
