// Every condition reason ringtap writes, in one list: the operator's conditions on the parent
// kinds, the agents' on NodeTasks (status.reason, and their conditions). Status functions read
// these values; nothing parses message text.
export const REASONS = [
  // kstatus placeholders of a condition that does not hold
  'Idle', 'NotStalled',
  // waiting for the world (Reconciling)
  'Starting', 'NodesStarting', 'Attaching', 'NoTargets', 'NoSources', 'NoNodes', 'NodeNotFound',
  'CollectorNotFound', 'CollectorNodeUnreachable', 'InterfaceNotFound',
  // working (Ready)
  'Capturing', 'Mirroring', 'Bridged', 'Monitoring', 'Running', 'Completed', 'Stopped',
  // a person must act (Stalled)
  'InvalidSpec', 'InvalidFilter', 'UntrustedNamespace', 'CapabilityMissing', 'NodeFailed', 'BridgeFailed',
  'CaptureFailed', 'AttachFailed', 'IPASourceUnavailable', 'Forbidden', 'RingBudgetExhausted', 'Failed',
  // a NodeTask's phase as its reason, before the agent has said more
  'Pending',
] as const;
export type ConditionReason = (typeof REASONS)[number];
