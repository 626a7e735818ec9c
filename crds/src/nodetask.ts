// NodeTask: the operator's per-node share of one parent resource. The operator writes the
// resolved work into spec (pods, interfaces, final filter text, limits in plain numbers);
// the node's agent watches only its own tasks (fieldSelector spec.node=NAME) and writes status.
// Every NodeTask lives in the operator's namespace, whatever its parent's namespace
// (docs/adr/0012-nodetasks-in-the-operator-namespace.md): spec.parent and the parent labels
// are its only link to the parent (an ownerReference cannot cross namespaces), and the
// operator deletes a parent's tasks itself after the cleanup handshake, and any task whose
// parent is gone.
// Each kind's work type and schema live with the kind (packetcapture.ts, portmirror.ts,
// pppbridge.ts, ipamonitor.ts); the resolved pieces several kinds share are in common.ts.
import { MAX_TASK_PODS } from './common.js';
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
import {
  portMirrorWorkSchema,
  type PortMirrorWork,
} from './portmirror.js';
import {
  pppBridgeWorkSchema,
  pppDirectionSchema,
  type NodeTaskPPPBridgeStatus,
  type PPPBridgeWork,
} from './pppbridge.js';
import {
  ipaMonitorWorkSchema,
  ipaTaskStatusSchema,
  type IPAMonitorWork,
  type IPATaskStatus,
} from './ipamonitor.js';
import {
  packetCaptureWorkSchema,
  STOP_REASONS,
  type PacketCaptureWork,
  type StopReason,
} from './packetcapture.js';
import {
  bool,
  dateTime,
  DNS_LABEL_PATTERN,
  dnsSubdomain,
  enumStr,
  immutable,
  int,
  mapList,
  obj,
  str,
  uid,
  withRules,
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

export type NodeTask = Resource<'NodeTask', NodeTaskSpec, NodeTaskStatus>;

export const MAX_TASK_FILES = 1000;

// ---- schema ---------------------------------------------------------------------------------

const parent = withRules(
  obj(
    'The resource this task is part of. NodeTasks live in the operator\'s namespace, so this (with the labels ringtap.dev/parent-kind, ' +
      'parent-namespace, parent-name and parent-uid) is their only link to the parent: the agent takes the parent\'s namespace from here, ' +
      'never from the NodeTask\'s own, and the operator deletes a task whose parent UID no longer exists.',
    {
      kind: enumStr(`The parent kind: ${PARENT_KINDS.join(', ')}.`, PARENT_KINDS),
      name: dnsSubdomain('The parent name.'),
      namespace: str('The parent namespace (the task itself lives in the operator\'s); empty for cluster-scoped parents (PPPBridge, IPAMonitor). ' +
        'The agent allows the task only pods of this namespace, and node interfaces only when it is a trusted namespace.', {
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
      packetCapture: packetCaptureWorkSchema,
      portMirror: portMirrorWorkSchema,
      pppBridge: pppBridgeWorkSchema,
      ipaMonitor: ipaMonitorWorkSchema,
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
    "operator writes the resolved work in spec, always in its own namespace; the agent on spec.node writes status. Agents " +
    'ignore NodeTasks in any other namespace. Do not create NodeTasks by hand.',
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
