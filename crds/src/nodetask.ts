// NodeTask: the operator's per-node share of one parent resource. The operator writes the
// resolved work into spec (pods, interfaces, final filter text, limits in plain numbers);
// the node's agent watches only its own tasks (fieldSelector spec.node=NAME) and writes status.
// Owned by the parent through an ownerReference, so deleting the parent deletes its tasks.
import type { CaptureFormat } from './common.js';
import { MAX_SNAP_LENGTH } from './defaults.js';
import { REASONS, type ConditionReason } from './reasons.js';
import { ageColumn, readyColumn, type KindDefinition } from './definition.js';
import {
  conditionsSchema,
  counter,
  NODE_PHASES,
  observedGenerationSchema,
  PARENT_KINDS,
  PLURALS,
  type Condition,
  type NodePhase,
  type ParentKind,
  type Resource,
} from './meta.js';
import { remoteDestinationSchema, type MirrorDirection, type RemoteDestination } from './portmirror.js';
import { DISTINCT_ENDPOINTS_MESSAGE, DISTINCT_ENDPOINTS_RULE, mtuSchema, pppEndpointSchema, type BridgeMode, type PPPEndpoint } from './pppbridge.js';
import { endpointFilterSchema, ipaDeviceSchema, ipaSourceSchema, ipaTaskStatusSchema, ipaVersionSchema, type IPAEndpointFilter, type IPASourceSpec, type IPATaskStatus, type IPAVersion } from './ipamonitor.js';
import { STOP_REASONS, type CapturePoint, type StopReason, type TimestampSource } from './packetcapture.js';
import {
  arr,
  bool,
  dateTime,
  DNS_LABEL_PATTERN,
  dnsSubdomain,
  enumStr,
  exactlyOne,
  ifName,
  immutable,
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

// ---- spec types ---------------------------------------------------------------------------------

export interface ParentRef {
  kind: ParentKind;
  name: string;
  /** Empty for cluster-scoped parents (PPPBridge, IPAMonitor). */
  namespace?: string;
  uid: string;
  /** The parent's metadata.generation this task was computed from. */
  generation: number;
}

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

export interface PacketCaptureWork {
  pods?: ResolvedPod[];
  /** Node interfaces (node targets). */
  interfaces?: string[];
  capturePoint: CapturePoint;
  /** Interfaces inside each pod; empty means all but lo. */
  podInterfaces?: string[];
  /** The final BPF text: the parent's filter ANDed with its compiled match. Empty captures everything. */
  filter?: string;
  snapLength: number;
  limits?: ResolvedLimits;
  output: ResolvedOutput;
  rotation?: ResolvedRotation;
  retention?: ResolvedRetention;
  timestamps: TimestampSource;
}

/** Exactly one of pod or interface. */
export interface MirrorSourceRef {
  pod?: ResolvedPod;
  interface?: string;
}

export interface ResolvedPodDestination extends ResolvedPod {
  node: string;
  interface: string;
}

/** Exactly one of interface, pod or remote. */
export interface ResolvedMirrorDestination {
  interface?: { name: string };
  pod?: ResolvedPodDestination;
  remote?: RemoteDestination;
}

export interface PortMirrorWork {
  sources: MirrorSourceRef[];
  direction: MirrorDirection;
  filter?: string;
  sampling: number;
  destination: ResolvedMirrorDestination;
}

export interface PPPBridgeWork {
  mode: BridgeMode;
  a: PPPEndpoint;
  b: PPPEndpoint;
  mtu?: number;
}

export interface IPACaptureWork {
  enabled: boolean;
  snapLength: number;
  endpoints?: IPAEndpointFilter;
  output: ResolvedOutput;
  rotation?: ResolvedRotation;
  retention?: ResolvedRetention;
}

export interface IPAMonitorWork {
  device: string;
  source?: IPASourceSpec;
  ipaVersion: 'auto' | IPAVersion;
  capture?: IPACaptureWork;
  metricsIntervalSeconds: number;
}

/** Exactly one of the four work fields is set: the one matching parent.kind. */
export interface NodeTaskSpec {
  node: string;
  parent: ParentRef;
  cleanup?: boolean;
  packetCapture?: PacketCaptureWork;
  portMirror?: PortMirrorWork;
  pppBridge?: PPPBridgeWork;
  ipaMonitor?: IPAMonitorWork;
}

// ---- status types -------------------------------------------------------------------------------

export type NodeTaskPhase = NodePhase;

export interface NodeTaskCounters {
  packets?: number;
  bytes?: number;
  drops?: number;
  freezes?: number;
  records?: number;
  exceptions?: number;
}

export interface NodeTaskFile {
  name: string;
  size: number;
  packets?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
}

export type TargetState = 'Attached' | 'Detached' | 'Failed';

export interface NodeTaskTarget {
  name: string;
  state: TargetState;
  message?: string;
}

export interface NodeTaskStatus {
  observedGeneration?: number;
  phase?: NodeTaskPhase;
  conditions?: Condition[];
  counters?: NodeTaskCounters;
  files?: NodeTaskFile[];
  targets?: NodeTaskTarget[];
  stopReason?: StopReason;
  /** Why the task is in its phase, when the agent knows more than the phase says. */
  reason?: ConditionReason;
  message?: string;
  lastUpdateTime?: string;
  startTime?: string;
  dataPath?: 'kernel' | 'userspace';
  pppBridge?: NodeTaskPPPBridgeStatus;
  ipaVersion?: string;
  /** For IPAMonitor tasks: the decoded stream (bounded). */
  ipa?: IPATaskStatus;
  cleanedUp?: boolean;
}

/** Why frames of one bridge direction were dropped (userspace relay; the kernel bridge does not say). */
export interface PPPDropReasons {
  short?: number;
  badVersion?: number;
  badSession?: number;
  badLength?: number;
  control?: number;
  sendError?: number;
  rxOverflow?: number;
}

export interface PPPDirectionCounters {
  packets?: number;
  bytes?: number;
  drops?: number;
  dropReasons?: PPPDropReasons;
}

/** For PPPBridge tasks: per-direction counters (a to b: received on a, sent on b). */
export interface NodeTaskPPPBridgeStatus {
  aToB?: PPPDirectionCounters;
  bToA?: PPPDirectionCounters;
  bridgedSince?: string;
}

export type NodeTask = Resource<'NodeTask', NodeTaskSpec, NodeTaskStatus>;

export const MAX_TASK_FILES = 1000;
export const MAX_TASK_PODS = 512;

// ---- schema ---------------------------------------------------------------------------------

function resolvedPodSchema(description: string, extra: Record<string, JSONSchemaProps> = {}, extraRequired: string[] = []): JSONSchemaProps {
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

function resolvedLimitsSchema(): JSONSchemaProps {
  return obj('The capture limits, resolved to numbers. The first reached stops the task.', {
    durationSeconds: seconds('How long to capture.'),
    stopAt: dateTime('An absolute deadline computed by the operator from the parent start time and duration; it survives agent restarts.'),
    maxPackets: int('Stop after this many packets on this node: the parent\'s limit as written, which applies to each node.', { minimum: 1 }),
    maxBytes: bytes('Stop after this many bytes of packet data on this node: the parent\'s limit as written, which applies to each node.'),
  });
}

function resolvedOutputSchema(): JSONSchemaProps {
  return obj('The file format.', { format: enumStr('pcapng or pcap.', ['pcapng', 'pcap'], 'pcapng') }, ['format']);
}

function resolvedRotationSchema(): JSONSchemaProps {
  return obj('When to start a new file.', {
    fileSizeBytes: bytes('Start a new file at this size.'),
    fileDurationSeconds: seconds('Start a new file after this long.'),
  });
}

function resolvedRetentionSchema(): JSONSchemaProps {
  return obj('Which files to keep on this node; the oldest go first.', {
    maxFiles: int('Keep at most this many files.', { minimum: 1, maximum: 100000 }),
    maxAgeSeconds: seconds('Delete files older than this.'),
    maxTotalBytes: bytes('Keep at most this many bytes of files.'),
  });
}

const snapLength = () =>
  int(`The snap length, 1 to ${MAX_SNAP_LENGTH}.`, { minimum: 1, maximum: MAX_SNAP_LENGTH, default: MAX_SNAP_LENGTH });

const packetCaptureWork = obj(
  'The resolved work of a PacketCapture on this node.',
  {
    pods: mapList('The pods on this node to capture.', resolvedPodSchema('A pod to capture.'), ['uid'], MAX_TASK_PODS),
    interfaces: set('Node interfaces to capture (node targets).', ifName('An interface name.'), 16),
    capturePoint: enumStr('pod (inside the pod network namespace) or hostVeth.', ['pod', 'hostVeth'], 'pod'),
    podInterfaces: set('Interfaces inside each pod; empty means all but lo.', ifName('An interface name.'), 16),
    filter: str('The final BPF text: the parent filter ANDed with its compiled match. Empty captures everything.', { maxLength: 16384 }),
    snapLength: snapLength(),
    limits: resolvedLimitsSchema(),
    output: resolvedOutputSchema(),
    rotation: resolvedRotationSchema(),
    retention: resolvedRetentionSchema(),
    timestamps: enumStr('software or hardware.', ['software', 'hardware'], 'software'),
  },
  ['capturePoint', 'snapLength', 'output', 'timestamps'],
);

const portMirrorWork = obj(
  'The resolved work of a PortMirror on this node.',
  {
    sources: arr(
      'The source interfaces on this node.',
      withRules(
        obj('One source: a pod (its host veth) or a node interface.', {
          pod: resolvedPodSchema('A source pod.'),
          interface: ifName('A node interface.'),
        }),
        { rule: exactlyOne(['pod', 'interface']), message: 'set exactly one of pod or interface' },
      ),
      { maxItems: MAX_TASK_PODS },
    ),
    direction: enumStr("ingress, egress or both, from the source's point of view.", ['ingress', 'egress', 'both'], 'both'),
    filter: str('The BPF text selecting packets to mirror. Empty mirrors everything.', { maxLength: 16384 }),
    sampling: int('Mirror one packet in every N.', { minimum: 1, maximum: 1000000, default: 1 }),
    destination: withRules(
      obj('The resolved destination: exactly one of interface, pod or remote.', {
        interface: obj('A host interface on this node.', { name: ifName('The interface name.') }, ['name']),
        pod: resolvedPodSchema(
          'The collector pod, with the node it runs on.',
          { node: dnsSubdomain('The node the collector runs on.'), interface: ifName('The interface inside the collector pod.') },
          ['node', 'interface'],
        ),
        remote: remoteDestinationSchema(),
      }),
      { rule: exactlyOne(['interface', 'pod', 'remote']), message: 'set exactly one of interface, pod or remote' },
    ),
  },
  ['sources', 'direction', 'sampling', 'destination'],
);

const pppBridgeWork = withRules(
  obj(
    'The work of a PPPBridge on this node: the two sessions, as in the parent.',
    {
      mode: enumStr('auto, kernel or userspace.', ['auto', 'kernel', 'userspace'], 'auto'),
      a: pppEndpointSchema('One side of the bridge.'),
      b: pppEndpointSchema('The other side of the bridge.'),
      mtu: mtuSchema(),
    },
    ['mode', 'a', 'b'],
  ),
  { rule: DISTINCT_ENDPOINTS_RULE, message: DISTINCT_ENDPOINTS_MESSAGE, fieldPath: '.b' },
);

const ipaMonitorWork = obj(
  'The resolved work of an IPAMonitor on this node.',
  {
    device: ipaDeviceSchema(),
    source: ipaSourceSchema(),
    ipaVersion: ipaVersionSchema(),
    capture: obj(
      'Packet capture settings, resolved to numbers.',
      {
        enabled: bool('Write packets to files.', false),
        snapLength: snapLength(),
        endpoints: endpointFilterSchema(),
        output: resolvedOutputSchema(),
        rotation: resolvedRotationSchema(),
        retention: resolvedRetentionSchema(),
      },
      ['enabled', 'snapLength', 'output'],
    ),
    metricsIntervalSeconds: int('How often to publish counters, in seconds.', { minimum: 1, maximum: 86400, default: 30 }),
  },
  ['device', 'ipaVersion', 'metricsIntervalSeconds'],
);

function pppDirectionSchema(description: string): JSONSchemaProps {
  return obj(description, {
    packets: counter('Frames forwarded.'),
    bytes: counter('PPP bytes forwarded (protocol and payload, without encapsulation).'),
    drops: counter('Frames dropped, all reasons.'),
    dropReasons: obj('Frames dropped, by reason (userspace relay only).', {
      short: counter('Too short for the headers or the PPP protocol field.'),
      badVersion: counter('PPPoE version/type/code or L2TP version wrong.'),
      badSession: counter('Another tunnel or session.'),
      badLength: counter('A length field beyond the frame or inside the header.'),
      control: counter('L2TP control messages (never relayed).'),
      sendError: counter('Sending on the other side failed (e.g. above its MTU).'),
      rxOverflow: counter('Dropped by the kernel before the relay read them (receive queue full).'),
    }),
  });
}

const parent = withRules(
  obj(
    'The resource this task is part of. Also recorded as the controlling ownerReference.',
    {
      kind: enumStr(`The parent kind: ${PARENT_KINDS.join(', ')}.`, PARENT_KINDS),
      name: dnsSubdomain('The parent name.'),
      namespace: str('The parent namespace; empty for cluster-scoped parents (PPPBridge, IPAMonitor).', {
        maxLength: 63,
        pattern: DNS_LABEL_PATTERN,
      }),
      uid: uid('The parent UID, so a task of a deleted and recreated parent is never mistaken for a current one.'),
      generation: int('The parent metadata.generation this task was computed from.', { minimum: 1 }),
    },
    ['kind', 'name', 'uid', 'generation'],
  ),
  {
    // `namespace` is a CEL reserved word: Kubernetes exposes the field as __namespace__.
    rule: "(self.kind in ['PacketCapture', 'PortMirror']) == has(self.__namespace__)",
    message: 'namespace is required for PacketCapture and PortMirror parents and must be empty for PPPBridge and IPAMonitor parents',
    fieldPath: '.namespace',
  },
  {
    rule: 'self.kind == oldSelf.kind && self.name == oldSelf.name && self.uid == oldSelf.uid && has(self.__namespace__) == has(oldSelf.__namespace__) && (!has(self.__namespace__) || self.__namespace__ == oldSelf.__namespace__)',
    message: 'parent kind, name, namespace and uid are immutable; only generation may change',
  },
);

const WORK_FIELDS: Record<ParentKind, string> = {
  PacketCapture: 'packetCapture',
  PortMirror: 'portMirror',
  PPPBridge: 'pppBridge',
  IPAMonitor: 'ipaMonitor',
};

const spec = withRules(
  obj(
    'The desired work on one node, written by the operator.',
    {
      node: immutable(dnsSubdomain('The node whose agent does this work. A selectable field: agents list and watch with fieldSelector spec.node=NODE.'), 'node is immutable'),
      parent,
      cleanup: withRules(
        bool('Set by the operator to ask the agent to stop the work and clean up (remove filters, devices and, once fetched or expired, files). Cannot be unset.', false),
        { rule: '!oldSelf || self', message: 'cleanup cannot be undone once requested' },
      ),
      packetCapture: packetCaptureWork,
      portMirror: portMirrorWork,
      pppBridge: pppBridgeWork,
      ipaMonitor: ipaMonitorWork,
    },
    ['node', 'parent'],
  ),
  {
    rule: PARENT_KINDS.map((k) => `has(self.${WORK_FIELDS[k]}) == (self.parent.kind == '${k}')`).join(' && '),
    message: 'set exactly one of packetCapture, portMirror, pppBridge or ipaMonitor: the one matching parent.kind',
  },
);

const status = obj('The observed state on the node, written by its agent.', {
  observedGeneration: observedGenerationSchema(),
  phase: enumStr(`The task phase: ${NODE_PHASES.join(', ')}.`, NODE_PHASES),
  conditions: conditionsSchema('task'),
  counters: obj('Counters since the task started on this node.', {
    packets: counter('Packets captured or forwarded.'),
    bytes: counter('Bytes captured or forwarded.'),
    drops: counter('Packets dropped by the kernel or the ring.'),
    freezes: counter('Times a ring queue was frozen because it was full.'),
    records: counter('IPA status records decoded.'),
    exceptions: counter('IPA records with a non-zero exception.'),
  }),
  files: mapList(
    `Files kept on this node, oldest first (at most ${MAX_TASK_FILES}; retention removes older ones).`,
    obj(
      'One capture file.',
      {
        name: str('The file name, relative to the agent data directory of this task.', { maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
        size: counter('Size in bytes.'),
        packets: counter('Packets in the file.'),
        firstTimestamp: dateTime('Timestamp of the first packet.'),
        lastTimestamp: dateTime('Timestamp of the last packet.'),
      },
      ['name', 'size'],
    ),
    ['name'],
    MAX_TASK_FILES,
  ),
  targets: mapList(
    'Per-target attach state: pods (namespace/name) and interfaces, so joins, leaves and failures are visible.',
    obj(
      'One target.',
      {
        name: str('namespace/pod, namespace/pod/interface, or a node interface name.', { maxLength: 600 }),
        state: enumStr('Attached, Detached or Failed.', ['Attached', 'Detached', 'Failed']),
        message: str('Why, when Detached or Failed.', { maxLength: 1024 }),
      },
      ['name', 'state'],
    ),
    ['name'],
    MAX_TASK_PODS,
  ),
  stopReason: enumStr(`Why the task stopped: ${STOP_REASONS.join(', ')}.`, STOP_REASONS),
  reason: enumStr(
    'Why the task is in its phase, as a condition reason the operator reads (never the message): e.g. CapabilityMissing ' +
      '(the node cannot do this work), InterfaceNotFound (waiting for an interface to appear). Unset: the phase says it all.',
    REASONS,
  ),
  message: str('A human-readable summary, e.g. the error that failed the task.', { maxLength: 4096 }),
  lastUpdateTime: dateTime('When the agent last wrote this status.'),
  startTime: dateTime('When the work started on this node.'),
  dataPath: enumStr('For PPPBridge tasks: the data path in use, kernel or userspace.', ['kernel', 'userspace']),
  pppBridge: obj('For PPPBridge tasks: per-direction counters since the bridge started on this node.', {
    aToB: pppDirectionSchema('Frames received on a and sent on b.'),
    bToA: pppDirectionSchema('Frames received on b and sent on a.'),
    bridgedSince: dateTime('When the two sessions were bridged on this node.'),
  }),
  ipaVersion: str('For IPAMonitor tasks: the IPA version detected.', { maxLength: 16 }),
  ipa: ipaTaskStatusSchema(),
  cleanedUp: bool('True once the agent has stopped the work and removed what it set up, after spec.cleanup was requested.'),
});

export const nodeTaskDefinition: KindDefinition = {
  kind: 'NodeTask',
  plural: PLURALS.NodeTask,
  singular: 'nodetask',
  shortNames: ['nt'],
  scope: 'Namespaced',
  description:
    "NodeTask is internal: the operator's per-node share of a PacketCapture, PortMirror, PPPBridge or IPAMonitor. The " +
    'operator writes the resolved work in spec; the agent on spec.node writes status. Do not create NodeTasks by hand.',
  spec,
  status,
  printerColumns: [
    { name: 'Node', type: 'string', jsonPath: '.spec.node', description: 'The node doing the work.' },
    { name: 'Parent', type: 'string', jsonPath: '.spec.parent.kind', description: 'The parent kind.' },
    { name: 'Parent Name', type: 'string', jsonPath: '.spec.parent.name', description: 'The parent name.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'The task phase.' },
    readyColumn,
    { name: 'Packets', type: 'integer', jsonPath: '.status.counters.packets', description: 'Packets handled.' },
    { name: 'Drops', type: 'integer', jsonPath: '.status.counters.drops', description: 'Packets dropped.' },
    ageColumn,
  ],
  selectableFields: [{ jsonPath: '.spec.node' }],
};
