// PacketCapture: capture the traffic of pods (own namespace) or node interfaces into
// pcapng/pcap files on the nodes, bounded by limits or by a flight-recorder retention.
import {
  BOUNDED_RULE,
  commonStatusProps,
  limitsSchema,
  MAX_TASK_PODS,
  nodeStatusListSchema,
  nodeTargetsSchema,
  outputSchema,
  podTargetsSchema,
  resolvedLimitsSchema,
  resolvedOutputSchema,
  resolvedPodSchema,
  resolvedRetentionSchema,
  resolvedRotationSchema,
  resolvedSnapLengthSchema,
  retentionSchema,
  rotationSchema,
  snapLengthSchema,
  type CaptureLimits,
  type CaptureOutput,
  type CaptureRetention,
  type CaptureRotation,
  type CommonStatus,
  type NodeStatus,
  type NodeTargets,
  type PodTargets,
  type ResolvedLimits,
  type ResolvedOutput,
  type ResolvedPod,
  type ResolvedRetention,
  type ResolvedRotation,
} from './common.js';
import { ageColumn, fileNameLengthRule, phaseColumn, readyColumn, type KindDefinition } from './definition.js';
import { counter, PLURALS, type Resource } from './meta.js';
import {
  arr,
  bool,
  cidr,
  dateTime,
  enumStr,
  ifName,
  immutable,
  int,
  obj,
  set,
  str,
  withRules,
  type JSONSchemaProps,
} from './schema.js';

export type CapturePoint = 'pod' | 'hostVeth';
export type MatchProtocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | 'any';
export type TCPFlag = 'SYN' | 'ACK' | 'FIN' | 'RST' | 'PSH' | 'URG' | 'ECE' | 'CWR';
export type TimestampSource = 'software' | 'hardware';

export interface PacketCaptureTargets {
  pods?: PodTargets;
  nodes?: NodeTargets;
}

export interface PortRange {
  port: number;
  endPort?: number;
}

/** A structured filter, compiled to BPF and ANDed with `filter`. */
export interface PacketMatch {
  protocol?: MatchProtocol;
  ports?: PortRange[];
  cidrs?: string[];
  tcpFlags?: TCPFlag[];
  bidirectional?: boolean;
}

export interface PacketCaptureSpec {
  targets: PacketCaptureTargets;
  capturePoint?: CapturePoint;
  podInterfaces?: string[];
  filter?: string;
  match?: PacketMatch;
  snapLength?: number;
  limits?: CaptureLimits;
  output?: CaptureOutput;
  rotation?: CaptureRotation;
  retention?: CaptureRetention;
  timestamps?: TimestampSource;
}

export type PacketCapturePhase = 'Pending' | 'Running' | 'Stopping' | 'Completed' | 'Failed';
export const PACKET_CAPTURE_PHASES: readonly PacketCapturePhase[] = ['Pending', 'Running', 'Stopping', 'Completed', 'Failed'];
/** A capture in one of these phases has finished and stays so. */
export const PACKET_CAPTURE_TERMINAL_PHASES: readonly PacketCapturePhase[] = ['Completed', 'Failed'];

export type StopReason = 'DurationReached' | 'PacketLimitReached' | 'ByteLimitReached' | 'Deleted' | 'Failed';
export const STOP_REASONS: readonly StopReason[] = ['DurationReached', 'PacketLimitReached', 'ByteLimitReached', 'Deleted', 'Failed'];

export interface CaptureTotals {
  nodes?: number;
  pods?: number;
  packets?: number;
  bytes?: number;
  drops?: number;
  freezes?: number;
  files?: number;
}

export interface PacketCaptureNodeStatus extends NodeStatus {
  pods?: number;
}

export interface PacketCaptureStatus extends CommonStatus<PacketCapturePhase> {
  startTime?: string;
  completionTime?: string;
  stopReason?: StopReason;
  totals?: CaptureTotals;
  nodes?: PacketCaptureNodeStatus[];
}

export type PacketCapture = Resource<'PacketCapture', PacketCaptureSpec, PacketCaptureStatus>;

export const FILTER_MAX_LENGTH = 4096;

export function bpfFilterSchema(description: string): JSONSchemaProps {
  return withRules(
    str(
      `${description} pcap-filter syntax as tcpdump takes it (e.g. "udp port 53"), at most ${FILTER_MAX_LENGTH} characters. ` +
        'The operator compiles it once per text; a syntax error, or a program longer than the kernel takes, is reported in a Stalled condition.',
      { maxLength: FILTER_MAX_LENGTH },
    ),
    // libpcap reads a C string: everything after a NUL would be silently dropped.
    { rule: "!self.matches('\\x00')", message: 'must not contain a NUL character' },
  );
}

function matchSchema(): JSONSchemaProps {
  const portRange = withRules(
    obj(
      'A port, or a range of ports from port to endPort inclusive.',
      {
        port: int('The port, 1 to 65535.', { minimum: 1, maximum: 65535 }),
        endPort: int('The last port of the range, at least port.', { minimum: 1, maximum: 65535 }),
      },
      ['port'],
    ),
    { rule: '!has(self.endPort) || self.endPort >= self.port', message: 'endPort must be greater than or equal to port' },
  );
  return withRules(
    obj(
      'A structured filter, an alternative or a complement to filter: it is compiled to BPF and ANDed with filter. ' +
        'All the fields given must match.',
      {
        protocol: enumStr('The IP protocol: tcp, udp, icmp, icmpv6, sctp, or any (the default).', ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'any'], 'any'),
        ports: arr('Ports to match (any of them); not allowed with icmp or icmpv6.', portRange, { maxItems: 16 }),
        cidrs: set('Addresses to match (any of them), as CIDRs; a single host is 192.0.2.1/32 or 2001:db8::1/128.', cidr('An IPv4 or IPv6 CIDR.'), 32),
        tcpFlags: set(
          'Capture only TCP segments with any of these flags set (e.g. SYN and RST to see connection attempts and resets); requires protocol tcp.',
          enumStr('A TCP flag.', ['SYN', 'ACK', 'FIN', 'RST', 'PSH', 'URG', 'ECE', 'CWR']),
          8,
        ),
        bidirectional: bool(
          'true (the default): ports and cidrs may match either the source or the destination, so both directions of a ' +
            'conversation are captured. false: they must match the destination.',
          true,
        ),
      },
    ),
    { rule: "!has(self.ports) || !(self.protocol in ['icmp', 'icmpv6'])", message: 'ports cannot be used with protocol icmp or icmpv6', fieldPath: '.ports' },
    { rule: "!has(self.tcpFlags) || self.protocol == 'tcp'", message: 'tcpFlags requires protocol tcp', fieldPath: '.tcpFlags' },
  );
}

const spec = withRules(
  obj(
    'What to capture, how, and when to stop.',
    {
      targets: immutable(
        withRules(
          obj('Where to capture: pods of this namespace, node interfaces, or both. At least one of pods or nodes.', {
            pods: podTargetsSchema('Pods to capture.'),
            nodes: nodeTargetsSchema('Node interfaces to capture.'),
          }),
          { rule: 'has(self.pods) || has(self.nodes)', message: 'set targets.pods, targets.nodes or both' },
        ),
        'targets is immutable: delete the capture and create a new one to capture something else',
      ),
      capturePoint: immutable(
        enumStr(
          "Where pod traffic is captured: pod (the default: the pod's own interfaces, inside its network namespace) or " +
            "hostVeth (the host side of the pod's veth pair, in the node's network namespace).",
          ['pod', 'hostVeth'],
          'pod',
        ),
        'capturePoint is immutable',
      ),
      podInterfaces: set(
        "The pod interfaces to capture when capturePoint is pod. Default: all of the pod's interfaces except lo; list lo to include it.",
        ifName('An interface name inside the pod.'),
        16,
        1,
      ),
      filter: bpfFilterSchema('A BPF filter: only matching packets are captured and counted.'),
      match: matchSchema(),
      snapLength: immutable(snapLengthSchema(), 'snapLength is immutable'),
      limits: limitsSchema(),
      output: immutable(outputSchema(), 'output is immutable: files already written keep their format'),
      rotation: rotationSchema(),
      retention: retentionSchema(),
      timestamps: immutable(
        enumStr(
          'The timestamp source: software (the default: the kernel stamps packets on receipt) or hardware (the NIC stamps ' +
            'them, where the driver supports it; otherwise the node reports a Stalled condition).',
          ['software', 'hardware'],
          'software',
        ),
        'timestamps is immutable',
      ),
    },
    ['targets'],
  ),
  {
    rule: BOUNDED_RULE,
    message:
      'a capture must be bounded: set at least one of limits.duration, limits.maxPackets or limits.maxBytes, or make it a ' +
      'bounded flight recorder with rotation plus retention.maxFiles or retention.maxTotalBytes',
    fieldPath: '.limits',
    reason: 'FieldValueRequired',
  },
  { rule: '!has(self.retention) || has(self.rotation)', message: 'retention requires rotation: only rotated files can be removed', fieldPath: '.retention' },
  {
    rule: "!has(self.podInterfaces) || self.capturePoint == 'pod'",
    message: 'podInterfaces requires capturePoint pod: a hostVeth capture has exactly one interface per pod',
    fieldPath: '.podInterfaces',
  },
  {
    rule: '!has(self.podInterfaces) || has(self.targets.pods)',
    message: 'podInterfaces requires targets.pods',
    fieldPath: '.podInterfaces',
  },
  {
    rule: 'has(self.filter) == has(oldSelf.filter) && (!has(self.filter) || self.filter == oldSelf.filter)',
    message: 'filter is immutable: delete the capture and create a new one to change the filter',
    fieldPath: '.filter',
  },
  {
    rule: 'has(self.match) == has(oldSelf.match) && (!has(self.match) || self.match == oldSelf.match)',
    message: 'match is immutable: delete the capture and create a new one to change the match',
    fieldPath: '.match',
  },
  {
    rule: 'has(self.podInterfaces) == has(oldSelf.podInterfaces) && (!has(self.podInterfaces) || self.podInterfaces == oldSelf.podInterfaces)',
    message: 'podInterfaces is immutable',
    fieldPath: '.podInterfaces',
  },
);

const status = obj('The observed state of the capture, written by the operator.', {
  ...commonStatusProps('capture', PACKET_CAPTURE_PHASES),
  startTime: dateTime('When the capture started on the first node.'),
  completionTime: dateTime('When the capture stopped on the last node.'),
  stopReason: enumStr(`Why the capture stopped: ${STOP_REASONS.join(', ')}.`, STOP_REASONS),
  totals: obj('Totals over all nodes.', {
    nodes: counter('Nodes taking part.'),
    pods: counter('Pods currently attached.'),
    packets: counter('Packets captured (after the filter).'),
    bytes: counter('Bytes of packet data written.'),
    drops: counter('Packets dropped by the kernel or the ring before they could be written.'),
    freezes: counter('Times a ring was full and the kernel froze its queue.'),
    files: counter('Files currently kept.'),
  }),
  nodes: nodeStatusListSchema('capture', { pods: counter('Pods attached on this node.') }),
});


// ---- NodeTask work -------------------------------------------------------------------------

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

export const packetCaptureWorkSchema = obj(
  'The resolved work of a PacketCapture on this node.',
  {
    // An atomic list, not a map keyed by uid: only the operator writes it, always whole (create or
    // merge patch), from distinct pods. As a map the API server tracked every pod's fields in
    // managedFields, which made a NodeTask create cost 7.8-8.9 ms of control-plane CPU against
    // 4.0-6.2 atomic (20 pods; docs/adr/0010-operator-scale.md).
    pods: arr('The pods on this node to capture, each once.', resolvedPodSchema('A pod to capture.'), { maxItems: MAX_TASK_PODS, 'x-kubernetes-list-type': 'atomic' }),
    interfaces: set('Node interfaces to capture (node targets).', ifName('An interface name.'), 16),
    capturePoint: enumStr('pod (inside the pod network namespace) or hostVeth.', ['pod', 'hostVeth'], 'pod'),
    podInterfaces: set('Interfaces inside each pod; empty means all but lo.', ifName('An interface name.'), 16),
    filter: str('The final BPF text: the parent filter ANDed with its compiled match. Empty captures everything.', { maxLength: 16384 }),
    snapLength: resolvedSnapLengthSchema(),
    limits: resolvedLimitsSchema(),
    output: resolvedOutputSchema(),
    rotation: resolvedRotationSchema(),
    retention: resolvedRetentionSchema(),
    timestamps: enumStr('software or hardware.', ['software', 'hardware'], 'software'),
  },
  ['capturePoint', 'snapLength', 'output', 'timestamps'],
);

export const packetCaptureDefinition: KindDefinition = {
  rootRules: [fileNameLengthRule],
  kind: 'PacketCapture',
  plural: PLURALS.PacketCapture,
  singular: 'packetcapture',
  shortNames: ['pcap'],
  scope: 'Namespaced',
  description:
    'PacketCapture captures the traffic of pods in its namespace, or of node interfaces, into pcapng or pcap files on the ' +
    'nodes, until a limit is reached (or, as a flight recorder, until it is deleted). Download or stream the files with ' +
    'kubectl ringtap.',
  spec,
  status,
  printerColumns: [
    phaseColumn,
    readyColumn,
    { name: 'Nodes', type: 'integer', jsonPath: '.status.totals.nodes', description: 'Nodes taking part.' },
    { name: 'Packets', type: 'integer', jsonPath: '.status.totals.packets', description: 'Packets captured.' },
    { name: 'Drops', type: 'integer', jsonPath: '.status.totals.drops', description: 'Packets dropped.' },
    { name: 'Stop Reason', type: 'string', jsonPath: '.status.stopReason', description: 'Why the capture stopped.', priority: 1 },
    ageColumn,
  ],
};
