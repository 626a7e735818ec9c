// The finalizer, labels and annotations ringtap writes on objects: who writes each is named
// beside it.

/** On every parent kind (operator): removed only after the agents have cleaned up. */
export const FINALIZER = 'ringtap.dev/cleanup';

/** On every NodeTask (operator): the node that runs it. */
export const LABEL_NODE = 'ringtap.dev/node';
/** On every NodeTask (operator): the kind of the parent it belongs to. */
export const LABEL_PARENT_KIND = 'ringtap.dev/parent-kind';
/** On every NodeTask (operator): the name of the parent it belongs to (its first 63 characters). */
export const LABEL_PARENT_NAME = 'ringtap.dev/parent-name';
/** On every NodeTask of a namespaced parent (operator): the parent's namespace. NodeTasks all live in the operator's namespace. */
export const LABEL_PARENT_NAMESPACE = 'ringtap.dev/parent-namespace';
/** On every NodeTask (operator): the UID of the parent it belongs to; a parent's tasks are selected by it. */
export const LABEL_PARENT_UID = 'ringtap.dev/parent-uid';

/** On Nodes (agent): the node's capabilities as JSON, read by the operator. */
export const CAPABILITY_ANNOTATION = 'ringtap.dev/capabilities';
/** On Nodes (agent): the SHA-256 fingerprint of the agent's self-signed serving certificate. */
export const AGENT_CERT_ANNOTATION = 'ringtap.dev/agent-cert-sha256';

/** On Nodes (agent): "true" where it finds IPA hardware; IPAMonitor's default node selector. */
export const IPA_NODE_LABEL = 'ringtap.dev/ipa';
/** On Nodes (agent): the IPA hardware version, when the node shows one. */
export const IPA_VERSION_LABEL = 'ringtap.dev/ipa-version';

/** On Nodes (agent): one "true"/"false" label per capability, for kubectl get nodes -L and node selectors. */
export const CAPABILITY_LABELS = {
  tpacketV3: 'ringtap.dev/tpacket-v3',
  pppKernelBridge: 'ringtap.dev/ppp-kernel-bridge',
  tcMirror: 'ringtap.dev/tc-mirror',
  vxlan: 'ringtap.dev/vxlan',
  gre: 'ringtap.dev/gre',
  ipa: IPA_NODE_LABEL,
  hardwareTimestamps: 'ringtap.dev/hw-timestamps',
} as const;

/** The operator's Events (reportingController). */
export const OPERATOR_EVENT_SOURCE = 'ringtap.dev/operator';
