// Spec and status pieces shared by several kinds: pod and node target sets, capture
// limits/output/rotation/retention (PacketCapture and IPAMonitor), per-node status entries.
import {
  conditionsSchema,
  counter,
  labelSelectorSchema,
  nodePhaseSchema,
  nonEmptySelector,
  observedGenerationSchema,
  type Condition,
  type LabelSelector,
  type NodePhase,
} from './meta.js';
import {
  byteSize,
  dateTime,
  DNS_LABEL_PATTERN,
  dnsSubdomain,
  positiveDuration,
  enumStr,
  ifName,
  int,
  ipAddress,
  mapList,
  obj,
  set,
  str,
  uid,
  withRules,
  type JSONSchemaProps,
} from './schema.js';
import { MAX_SNAP_LENGTH } from './defaults.js';

/** A Go-style duration string such as "5m" or "1h30m". */
export type Duration = string;
/** A byte count: an integer or a quantity string such as "100Mi". */
export type ByteSize = number | string;

// ---- target sets ----------------------------------------------------------------------------

/**
 * Pods of the resource's own namespace. `names` and `selector` may be combined (their union);
 * `all: true` is the explicit way to take every pod, because an empty selector `{}` would
 * silently match the whole namespace and is rejected.
 */
export interface PodTargets {
  selector?: LabelSelector;
  names?: string[];
  all?: boolean;
}

/** Node interfaces on nodes picked by selector, by name, or explicitly all nodes. */
export interface NodeTargets {
  selector?: LabelSelector;
  names?: string[];
  all?: boolean;
  interfaces: string[];
}

const SELECT_RULE_MESSAGE_PODS =
  'select pods with a non-empty selector (matchLabels or matchExpressions), with names, or with all: true; ' +
  'an empty selector would match every pod in the namespace';
const SELECT_RULE_MESSAGE_NODES =
  'select nodes with a non-empty selector (matchLabels or matchExpressions), with names, or with all: true; ' +
  'an empty selector would match every node';

function selectionRules(what: 'pods' | 'nodes'): JSONSchemaProps['x-kubernetes-validations'] {
  return [
    {
      rule: `(has(self.all) && self.all) || (has(self.names) && size(self.names) > 0) || (has(self.selector) && (${nonEmptySelector('self.selector')}))`,
      message: what === 'pods' ? SELECT_RULE_MESSAGE_PODS : SELECT_RULE_MESSAGE_NODES,
    },
    {
      rule: '!(has(self.all) && self.all) || (!has(self.selector) && !has(self.names))',
      message: `all: true takes every ${what === 'pods' ? 'pod in the namespace' : 'node'}; it cannot be combined with selector or names`,
    },
  ];
}

export function podTargetsSchema(description: string): JSONSchemaProps {
  return obj(
    `${description} Only pods in the resource's own namespace can be selected. selector and names may be combined ` +
      '(the union is taken); all: true selects every pod explicitly. An empty selector is rejected.',
    {
      selector: labelSelectorSchema('Pods whose labels match this selector. It must not be empty.'),
      names: set('Names of pods in the same namespace.', dnsSubdomain('A pod name.'), 64),
      all: { type: 'boolean', description: 'Select every pod in the namespace. Must be set explicitly; an empty selector is not enough.' },
    },
    [],
    { 'x-kubernetes-validations': selectionRules('pods') },
  );
}

export function nodeTargetsSchema(description: string): JSONSchemaProps {
  return obj(
    `${description} Node interfaces are a cluster administrator's business: the operator accepts them only from ` +
      'namespaces it is configured to trust, and reports a Stalled condition otherwise.',
    {
      selector: labelSelectorSchema('Nodes whose labels match this selector. It must not be empty.'),
      names: set('Names of nodes.', dnsSubdomain('A node name.'), 64),
      all: { type: 'boolean', description: 'Select every node. Must be set explicitly; an empty selector is not enough.' },
      interfaces: set(
        "Names of the host interfaces to use on each selected node, e.g. eth0 or bond0. Interfaces a node lacks are reported in that node's status.",
        ifName('An interface name.'),
        16,
        1,
      ),
    },
    ['interfaces'],
    { 'x-kubernetes-validations': selectionRules('nodes') },
  );
}

// ---- capture limits, output, rotation, retention -------------------------------------------------

export type CaptureFormat = 'pcapng' | 'pcap';

/** The first limit reached stops the capture. */
export interface CaptureLimits {
  duration?: Duration;
  maxPackets?: number;
  maxBytes?: ByteSize;
}

export interface CaptureOutput {
  format: CaptureFormat;
}

export interface CaptureRotation {
  fileSize?: ByteSize;
  fileDuration?: Duration;
}

export interface CaptureRetention {
  maxFiles?: number;
  maxAge?: Duration;
  maxTotalBytes?: ByteSize;
}

export function snapLengthSchema(): JSONSchemaProps {
  return int(
    `How many bytes of each packet to keep (the snap length). Longer packets are truncated and keep their original ` +
      `length in the file. 1 to ${MAX_SNAP_LENGTH}; the default keeps whole packets.`,
    { minimum: 1, maximum: MAX_SNAP_LENGTH, default: MAX_SNAP_LENGTH },
  );
}

export function limitsSchema(): JSONSchemaProps {
  return withRules(
    obj(
      'When the capture stops by itself. Limits apply per node: each node stops when the first of them is reached there, ' +
        'and the capture completes once every node has stopped; status.stopReason records which limit. Set at least one ' +
        'limit, unless rotation and retention make the capture a bounded flight recorder.',
      {
        duration: positiveDuration('How long the capture runs: one deadline, counted from status.startTime (when the capture started), that every node keeps.'),
        maxPackets: int('Stop a node after this many packets captured on that node, counted after the filter (per node, not summed over nodes).', { minimum: 1 }),
        maxBytes: byteSize('Stop a node after this many bytes of packet data written on that node (per node, not summed over nodes).'),
      },
    ),
    {
      rule: 'has(self.duration) || has(self.maxPackets) || has(self.maxBytes)',
      message: 'set at least one of duration, maxPackets or maxBytes, or remove limits',
    },
  );
}

export function outputSchema(): JSONSchemaProps {
  return obj(
    'How the capture is written. Files live under a directory the agent owns on each node; users never choose host paths.',
    {
      format: enumStr(
        'The file format: pcapng (the default: one interface block per captured interface, nanosecond timestamps, ' +
          'pod and node names in the interface descriptions) or pcap (classic libpcap format, microsecond timestamps).',
        ['pcapng', 'pcap'],
        'pcapng',
      ),
    },
    [],
    { default: { format: 'pcapng' } },
  );
}

export function rotationSchema(): JSONSchemaProps {
  return withRules(
    obj('When to start a new file. Without rotation each node writes one file.', {
      fileSize: byteSize('Start a new file when the current one reaches this size.'),
      fileDuration: positiveDuration('Start a new file when the current one has been open this long.'),
    }),
    { rule: 'has(self.fileSize) || has(self.fileDuration)', message: 'set fileSize, fileDuration or both' },
  );
}

export function retentionSchema(): JSONSchemaProps {
  return withRules(
    obj(
      'Which rotated files to keep on each node: the oldest files are deleted first once any bound is exceeded. ' +
        'With rotation and maxFiles or maxTotalBytes, a capture without limits is a bounded flight recorder that runs ' +
        'until it is deleted.',
      {
        maxFiles: int('Keep at most this many files per node.', { minimum: 1, maximum: 100000 }),
        maxAge: positiveDuration('Delete files older than this.'),
        maxTotalBytes: byteSize('Keep at most this many bytes of files per node.'),
      },
    ),
    { rule: 'has(self.maxFiles) || has(self.maxAge) || has(self.maxTotalBytes)', message: 'set at least one of maxFiles, maxAge or maxTotalBytes' },
  );
}

/** CEL (on an object having limits/rotation/retention) true when the capture cannot grow without bound. */
export const BOUNDED_RULE =
  '(has(self.limits) && (has(self.limits.duration) || has(self.limits.maxPackets) || has(self.limits.maxBytes))) || ' +
  '(has(self.rotation) && has(self.retention) && (has(self.retention.maxFiles) || has(self.retention.maxTotalBytes)))';

export const FLIGHT_RECORDER_RULE =
  'has(self.rotation) && has(self.retention) && (has(self.retention.maxFiles) || has(self.retention.maxTotalBytes))';

// ---- status pieces ----------------------------------------------------------------------------------

/** One node's share of a parent resource, aggregated from its NodeTask. */
export interface NodeStatus {
  node: string;
  phase: NodePhase;
  packets?: number;
  bytes?: number;
  drops?: number;
  files?: number;
  message?: string;
}

/** The fields every parent kind's status has (kstatus). */
export interface CommonStatus<Phase extends string> {
  observedGeneration?: number;
  phase?: Phase;
  conditions?: Condition[];
}

export function nodeStatusListSchema(subject: string, extra: Record<string, JSONSchemaProps> = {}): JSONSchemaProps {
  return mapList(
    `Per-node state of the ${subject}, aggregated by the operator from the node's NodeTask. One entry per node, keyed by node.`,
    obj(
      'The state of one node.',
      {
        node: str('The node name.', { maxLength: 253 }),
        phase: nodePhaseSchema("The node's phase: Pending, Running, Completed, Failed or Stopped."),
        packets: counter('Packets handled on this node.'),
        bytes: counter('Bytes handled on this node.'),
        drops: counter('Packets the kernel or the ring dropped on this node.'),
        files: counter('Files currently kept on this node.'),
        ...extra,
        message: str('Why the node is in this phase, when it is not obvious (e.g. which interface is missing).', { maxLength: 1024 }),
      },
      ['node', 'phase'],
    ),
    ['node'],
    5000,
  );
}

export function commonStatusProps(subject: string, phases: readonly string[]): Record<string, JSONSchemaProps> {
  return {
    observedGeneration: observedGenerationSchema(),
    phase: enumStr(`A one-word summary of the ${subject}'s lifecycle: ${phases.join(', ')}.`, phases),
    conditions: conditionsSchema(subject),
  };
}

export function nodeRef(description: string): JSONSchemaProps {
  return dnsSubdomain(description);
}

// ---- resolved pieces of NodeTask work (several kinds) --------------------------------------

/** The most pods one NodeTask takes (one capture or mirror on one node). */
export const MAX_TASK_PODS = 512;

/** A pod resolved by the operator: the agent finds its network namespace from the UID. */
export interface ResolvedPod {
  name: string;
  namespace: string;
  uid: string;
  ips?: string[];
  /** Host-side veth name, when the operator knows it (hostVeth capture points and mirrors). */
  hostVeth?: string;
}

/** Limits in plain numbers; stopAt is absolute so that an agent restart does not reset the clock. */
export interface ResolvedLimits {
  durationSeconds?: number;
  stopAt?: string;
  maxPackets?: number;
  maxBytes?: number;
}

export interface ResolvedRotation {
  fileSizeBytes?: number;
  fileDurationSeconds?: number;
}

export interface ResolvedRetention {
  maxFiles?: number;
  maxAgeSeconds?: number;
  maxTotalBytes?: number;
}

export interface ResolvedOutput {
  format: CaptureFormat;
}


export function resolvedPodSchema(description: string, extra: Record<string, JSONSchemaProps> = {}, extraRequired: string[] = []): JSONSchemaProps {
  return obj(
    description,
    {
      name: dnsSubdomain('The pod name.'),
      namespace: str('The pod namespace.', { maxLength: 63, pattern: DNS_LABEL_PATTERN }),
      uid: uid('The pod UID; the agent finds the pod cgroup and network namespace from it.'),
      ips: set('The pod IPs.', ipAddress('A pod IP.'), 8),
      hostVeth: ifName('The host side of the pod veth pair, when known.'),
      ...extra,
    },
    ['name', 'namespace', 'uid', ...extraRequired],
  );
}

const seconds = (d: string) => int(`${d} In seconds.`, { minimum: 1 });
const bytes = (d: string) => int(`${d} In bytes.`, { minimum: 1 });

export function resolvedLimitsSchema(): JSONSchemaProps {
  return obj('The capture limits, resolved to numbers. The first reached stops the task.', {
    durationSeconds: seconds('How long to capture.'),
    stopAt: dateTime('An absolute deadline computed by the operator from the parent start time and duration; it survives agent restarts.'),
    maxPackets: int('Stop after this many packets on this node: the parent\'s limit as written, which applies to each node.', { minimum: 1 }),
    maxBytes: bytes('Stop after this many bytes of packet data on this node: the parent\'s limit as written, which applies to each node.'),
  });
}

export function resolvedOutputSchema(): JSONSchemaProps {
  return obj('The file format.', { format: enumStr('pcapng or pcap.', ['pcapng', 'pcap'], 'pcapng') }, ['format']);
}

export function resolvedRotationSchema(): JSONSchemaProps {
  return obj('When to start a new file.', {
    fileSizeBytes: bytes('Start a new file at this size.'),
    fileDurationSeconds: seconds('Start a new file after this long.'),
  });
}

export function resolvedRetentionSchema(): JSONSchemaProps {
  return obj('Which files to keep on this node; the oldest go first.', {
    maxFiles: int('Keep at most this many files.', { minimum: 1, maximum: 100000 }),
    maxAgeSeconds: seconds('Delete files older than this.'),
    maxTotalBytes: bytes('Keep at most this many bytes of files.'),
  });
}

export const resolvedSnapLengthSchema = () =>
  int(`The snap length, 1 to ${MAX_SNAP_LENGTH}.`, { minimum: 1, maximum: MAX_SNAP_LENGTH, default: MAX_SNAP_LENGTH });
