// PortMirror: copy a source's traffic (pods or node interfaces) to a node interface, a
// collector pod, or a remote collector over VXLAN, GRE or ERSPAN (tc clsact + act_mirred).
import { VXLAN_DEFAULT_PORT } from './defaults.js';
import {
  commonStatusProps,
  MAX_TASK_PODS,
  nodeStatusListSchema,
  nodeTargetsSchema,
  podTargetsSchema,
  resolvedPodSchema,
  type CommonStatus,
  type NodeStatus,
  type NodeTargets,
  type PodTargets,
  type ResolvedPod,
} from './common.js';
import { ageColumn, phaseColumn, readyColumn, type KindDefinition } from './definition.js';
import { counter, PLURALS, type Resource } from './meta.js';
import { bpfFilterSchema } from './packetcapture.js';
import {
  arr,
  dnsSubdomain,
  enumStr,
  exactlyOne,
  ifName,
  immutable,
  int,
  ipAddress,
  obj,
  set,
  str,
  withRules,
  type JSONSchemaProps,
} from './schema.js';

export type MirrorDirection = 'ingress' | 'egress' | 'both';
export type RemoteProtocol = 'vxlan' | 'gre' | 'erspan';

export interface MirrorSource {
  pods?: PodTargets;
  nodes?: NodeTargets;
}

export interface InterfaceDestination {
  name: string;
}

export interface PodDestination {
  name: string;
  interface?: string;
}

export interface ERSPANOptions {
  version?: 1 | 2;
  sessionId?: number;
}

export interface RemoteDestination {
  address: string;
  protocol: RemoteProtocol;
  vni?: number;
  key?: number;
  port?: number;
  erspan?: ERSPANOptions;
}

/** Exactly one of interface, pod or remote. */
export interface MirrorDestination {
  interface?: InterfaceDestination;
  pod?: PodDestination;
  remote?: RemoteDestination;
}

export interface PortMirrorSpec {
  source: MirrorSource;
  direction?: MirrorDirection;
  filter?: string;
  destination: MirrorDestination;
  sampling?: number;
}

export type PortMirrorPhase = 'Pending' | 'Running' | 'Degraded' | 'Failed';
export const PORT_MIRROR_PHASES: readonly PortMirrorPhase[] = ['Pending', 'Running', 'Degraded', 'Failed'];

export interface MirrorTotals {
  nodes?: number;
  sources?: number;
  packets?: number;
  bytes?: number;
  drops?: number;
}

export interface PortMirrorNodeStatus extends NodeStatus {
  sources?: number;
}

export interface PortMirrorStatus extends CommonStatus<PortMirrorPhase> {
  totals?: MirrorTotals;
  nodes?: PortMirrorNodeStatus[];
}

export type PortMirror = Resource<'PortMirror', PortMirrorSpec, PortMirrorStatus>;

export function remoteDestinationSchema(): JSONSchemaProps {
  return withRules(
    obj(
      'A remote collector reached through an encapsulation device on each source node (the copies leave the node).',
      {
        address: ipAddress('The collector address; the tunnel endpoint.'),
        protocol: enumStr('The encapsulation: vxlan, gre (gretap) or erspan.', ['vxlan', 'gre', 'erspan']),
        vni: int('The VXLAN network identifier, 0 to 16777215; required with vxlan, not allowed otherwise.', { minimum: 0, maximum: 16777215 }),
        key: int('The GRE key, 0 to 4294967295; optional with gre and erspan, not allowed with vxlan.', { minimum: 0, maximum: 4294967295 }),
        port: int(`The UDP destination port, 1 to 65535 (default ${VXLAN_DEFAULT_PORT}); used by vxlan only.`, {
          minimum: 1,
          maximum: 65535,
          default: VXLAN_DEFAULT_PORT,
        }),
        erspan: obj('ERSPAN options; allowed with protocol erspan only.', {
          version: int('The ERSPAN version: 1 (type II, the default) or 2 (type III).', { minimum: 1, maximum: 2, default: 1 }),
          sessionId: int('The ERSPAN session id, 0 to 1023 (default 0).', { minimum: 0, maximum: 1023, default: 0 }),
        }),
      },
      ['address', 'protocol'],
    ),
    { rule: "self.protocol != 'vxlan' || has(self.vni)", message: 'vni is required when protocol is vxlan', fieldPath: '.vni', reason: 'FieldValueRequired' },
    { rule: "self.protocol == 'vxlan' || !has(self.vni)", message: 'vni is allowed only when protocol is vxlan', fieldPath: '.vni' },
    { rule: "self.protocol != 'vxlan' || !has(self.key)", message: 'key is allowed only when protocol is gre or erspan', fieldPath: '.key' },
    { rule: "self.protocol == 'erspan' || !has(self.erspan)", message: 'erspan options are allowed only when protocol is erspan', fieldPath: '.erspan' },
  );
}

const destinationFields = ['interface', 'pod', 'remote'];

const spec = obj(
  'What to mirror and where to send the copies.',
  {
    source: withRules(
      obj('The traffic to mirror: pods of this namespace, or node interfaces. Exactly one of pods or nodes.', {
        pods: podTargetsSchema('Pods whose traffic is mirrored (on the host side of their veth).'),
        nodes: nodeTargetsSchema('Node interfaces whose traffic is mirrored.'),
      }),
      { rule: exactlyOne(['pods', 'nodes']), message: 'set exactly one of source.pods or source.nodes' },
    ),
    direction: enumStr(
      "Which traffic, from the source's point of view: ingress (received by the source), egress (sent by the source) or both (the default).",
      ['ingress', 'egress', 'both'],
      'both',
    ),
    filter: bpfFilterSchema('A BPF filter: only matching packets are mirrored.'),
    destination: immutable(
      withRules(
        obj('Where the copies go. Exactly one of interface, pod or remote.', {
          interface: obj(
            'A host interface on each source node, e.g. a dedicated monitoring NIC.',
            { name: ifName('The interface name.') },
            ['name'],
          ),
          pod: obj(
            'A collector pod in the same namespace (for example an IDS); copies arrive as received frames on its interface.',
            {
              name: dnsSubdomain('The collector pod name.'),
              interface: { ...ifName('The interface inside the collector pod to deliver to (default eth0).'), default: 'eth0' },
            },
            ['name'],
          ),
          remote: remoteDestinationSchema(),
        }),
        { rule: exactlyOne(destinationFields), message: 'set exactly one of destination.interface, destination.pod or destination.remote' },
      ),
      'destination is immutable: delete the mirror and create a new one to send the copies elsewhere',
    ),
    sampling: int('Mirror one packet in every N (1-in-N sampling), 1 to 1000000. 1, the default, mirrors every packet.', {
      minimum: 1,
      maximum: 1000000,
      default: 1,
    }),
  },
  ['source', 'destination'],
);

const status = obj('The observed state of the mirror, written by the operator.', {
  ...commonStatusProps('mirror', PORT_MIRROR_PHASES),
  totals: obj('Totals over all nodes.', {
    nodes: counter('Nodes taking part.'),
    sources: counter('Source interfaces with the mirror attached.'),
    packets: counter('Packets mirrored.'),
    bytes: counter('Bytes mirrored.'),
    drops: counter('Copies that could not be sent.'),
  }),
  nodes: nodeStatusListSchema('mirror', { sources: counter('Source interfaces attached on this node.') }),
});


// ---- NodeTask work -------------------------------------------------------------------------

/** Exactly one of pod or interface. */
export interface MirrorSourceRef {
  pod?: ResolvedPod;
  interface?: string;
}

export interface ResolvedPodDestination extends ResolvedPod {
  node: string;
  interface: string;
  /**
   * On the collector's node: the addresses of the source nodes that send this mirror's frames
   * over VXLAN. The receive side accepts the mirror's VNI from these only.
   */
  receiveFrom?: string[];
}

/** At most this many source nodes per mirror send to one collector. */
export const MAX_MIRROR_SENDERS = 1000;

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

export const portMirrorWorkSchema = obj(
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
          {
            node: dnsSubdomain('The node the collector runs on.'),
            interface: ifName('The interface inside the collector pod.'),
            receiveFrom: set(
              "On the collector's node: the source nodes' addresses; VXLAN frames of this mirror from any other address are dropped.",
              ipAddress('A source node address.'),
              MAX_MIRROR_SENDERS,
            ),
          },
          ['node', 'interface'],
        ),
        remote: remoteDestinationSchema(),
      }),
      { rule: exactlyOne(['interface', 'pod', 'remote']), message: 'set exactly one of interface, pod or remote' },
    ),
  },
  ['sources', 'direction', 'sampling', 'destination'],
);

export const portMirrorDefinition: KindDefinition = {
  kind: 'PortMirror',
  plural: PLURALS.PortMirror,
  singular: 'portmirror',
  shortNames: ['pmir'],
  scope: 'Namespaced',
  description:
    "PortMirror copies the traffic of pods in its namespace, or of node interfaces, to a node interface, a collector pod, " +
    'or a remote collector over VXLAN, GRE or ERSPAN, for as long as it exists.',
  spec,
  status,
  printerColumns: [
    phaseColumn,
    readyColumn,
    { name: 'Nodes', type: 'integer', jsonPath: '.status.totals.nodes', description: 'Nodes taking part.' },
    { name: 'Sources', type: 'integer', jsonPath: '.status.totals.sources', description: 'Source interfaces attached.' },
    { name: 'Packets', type: 'integer', jsonPath: '.status.totals.packets', description: 'Packets mirrored.' },
    { name: 'Drops', type: 'integer', jsonPath: '.status.totals.drops', description: 'Copies dropped.' },
    ageColumn,
  ],
};
