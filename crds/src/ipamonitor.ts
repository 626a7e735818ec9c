// IPAMonitor: on nodes with Qualcomm IPA hardware, read the monitor stream, decode each
// status header, count traffic per endpoint pair and exception, and optionally write pcapng.
import { IPA_NODE_LABEL } from './labels.js';
import {
  commonStatusProps,
  FLIGHT_RECORDER_RULE,
  nodeStatusListSchema,
  outputSchema,
  resolvedOutputSchema,
  resolvedRetentionSchema,
  resolvedRotationSchema,
  resolvedSnapLengthSchema,
  retentionSchema,
  rotationSchema,
  snapLengthSchema,
  type CaptureOutput,
  type CaptureRetention,
  type CaptureRotation,
  type CommonStatus,
  type Duration,
  type NodeStatus,
  type ResolvedOutput,
  type ResolvedRetention,
  type ResolvedRotation,
} from './common.js';
import { ageColumn, fileNameLengthRule, phaseColumn, readyColumn, type KindDefinition } from './definition.js';
import { counter, labelSelectorSchema, PLURALS, type LabelSelector, type Resource } from './meta.js';
import { arr, bool, duration, enumStr, ifName, int, mapList, obj, set, str, withRules, type JSONSchemaProps } from './schema.js';

/** IPA hardware versions known to the upstream driver (drivers/net/ipa/ipa_version.h). */
export const IPA_VERSIONS = ['3.0', '3.1', '3.5', '3.5.1', '4.0', '4.1', '4.2', '4.5', '4.7', '4.9', '4.11', '5.0', '5.1', '5.5'] as const;
export type IPAVersion = (typeof IPA_VERSIONS)[number];

export interface IPAEndpointFilter {
  sources?: number[];
  destinations?: number[];
}

export interface IPACapture {
  enabled?: boolean;
  snapLength?: number;
  endpoints?: IPAEndpointFilter;
  output?: CaptureOutput;
  rotation?: CaptureRotation;
  retention?: CaptureRetention;
}

/** Bytes a payload may be padded to (spec.source.payloadAlignment). */
export const IPA_PAYLOAD_ALIGNMENTS = [1, 2, 4, 8, 16, 32, 64] as const;

/** Where the monitor stream arrives and how its payloads are laid out. */
export interface IPASourceSpec {
  /** Overrides the alignment the hardware pads payloads to (status 4, DPLv2 4, DPLv3 8). */
  payloadAlignment?: (typeof IPA_PAYLOAD_ALIGNMENTS)[number];
  /** The stream arrives as frames on this network device (status elements with their replicas). */
  netdev?: { interface: string };
}

export interface IPAMonitorSpec {
  nodeSelector?: LabelSelector;
  device?: string;
  source?: IPASourceSpec;
  ipaVersion?: 'auto' | IPAVersion;
  capture?: IPACapture;
  metricsInterval?: Duration;
}

export type IPAMonitorPhase = 'Pending' | 'Running' | 'Degraded' | 'Failed';
export const IPA_MONITOR_PHASES: readonly IPAMonitorPhase[] = ['Pending', 'Running', 'Degraded', 'Failed'];

export interface IPATotals {
  nodes?: number;
  records?: number;
  packets?: number;
  bytes?: number;
  drops?: number;
  exceptions?: number;
  files?: number;
}

export interface IPAMonitorNodeStatus extends NodeStatus {
  ipaVersion?: string;
  device?: string;
  records?: number;
  exceptions?: number;
}

/** One cell of the traffic matrix: records and bytes from one endpoint to another. */
export interface IPAMatrixCell {
  /** The source endpoint's name where the node's agent knows it, else ep<id>. */
  from: string;
  /** The destination endpoint's name, ep<id>, or "-" for DPL streams (no destination). */
  to: string;
  records: number;
  bytes: number;
  truncated?: number;
  /** Nodes that saw this pair. */
  nodes?: number;
}

export interface IPANamedCount {
  name: string;
  records: number;
  bytes: number;
}

export interface IPADecodeErrors {
  unknownOpcode?: number;
  impossibleLength?: number;
  garbage?: number;
  truncatedTail?: number;
  overflow?: number;
}

export interface IPAMonitorStatus extends CommonStatus<IPAMonitorPhase> {
  totals?: IPATotals;
  nodes?: IPAMonitorNodeStatus[];
  matrix?: IPAMatrixCell[];
  /** Pairs beyond the matrix bound, summed. */
  otherPairs?: { pairs: number; records: number; bytes: number };
  byException?: IPANamedCount[];
  byOpcode?: IPANamedCount[];
  decodeErrors?: IPADecodeErrors;
  truncated?: number;
}

/** What an agent publishes for an IPAMonitor task (NodeTask status.ipa): bounded. */
export interface IPATaskPair {
  src: number;
  /** -1 for DPL streams (no destination). */
  dst: number;
  srcName?: string;
  dstName?: string;
  records: number;
  bytes: number;
  truncated?: number;
}

export interface IPATaskFlow {
  src: number;
  dst: number;
  /** IP protocol number (TCP 6, UDP 17, ICMP 1, ICMPv6 58). */
  proto: number;
  srcAddr: string;
  dstAddr: string;
  srcPort?: number;
  dstPort?: number;
  records: number;
  bytes: number;
  /** Space-Saving overcount bound: the true byte count is within [bytes - error, bytes]. */
  error?: number;
}

export interface IPATaskStatus {
  format: 'status' | 'dplv2' | 'dplv3';
  source: string;
  records: number;
  packets: number;
  bytes: number;
  capturedBytes?: number;
  truncated?: number;
  exceptions?: number;
  unknownExceptions?: number;
  pairs?: IPATaskPair[];
  otherPairs?: { pairs: number; records: number; bytes: number };
  byOpcode?: IPANamedCount[];
  byException?: IPANamedCount[];
  topFlows?: IPATaskFlow[];
  flowsApproximate?: boolean;
  decodeErrors?: IPADecodeErrors;
  resyncs?: number;
  skippedBytes?: number;
  /** Times the source was opened again after its writer went away (a FIFO) or it failed. */
  reopens?: number;
}

/** Bounds of the published tables (NodeTask status.ipa and IPAMonitor status). */
export const IPA_MAX_PAIRS = 64;
export const IPA_MAX_NAMED = 64;
export const IPA_MAX_FLOWS = 20;

export type IPAMonitor = Resource<'IPAMonitor', IPAMonitorSpec, IPAMonitorStatus>;

export const DEVICE_PATTERN = '^(auto|[A-Za-z0-9][A-Za-z0-9_.-]{0,62})$';

export function ipaDeviceSchema(): JSONSchemaProps {
  return str(
    'The monitor device: auto (the default: the first of qcom_ipa0_monitor and ipa_adpl found under /dev) or a device ' +
      'name under /dev such as qcom_ipa0_monitor or ipa_adpl. Names only, no paths.',
    { maxLength: 63, pattern: DEVICE_PATTERN, default: 'auto' },
  );
}

export function ipaVersionSchema(): JSONSchemaProps {
  return enumStr(
    'The IPA hardware version, which selects the status header decoder (32-byte status before 5.0, with 5.0 field moves after). ' +
      'auto (the default) reads it from the ipa device in sysfs.',
    ['auto', ...IPA_VERSIONS],
    'auto',
  );
}

export function endpointFilterSchema(): JSONSchemaProps {
  const ep = int('An IPA endpoint id, 0 to 255.', { minimum: 0, maximum: 255 });
  return obj('Which records to capture, by IPA endpoint. Empty: all records. With both lists, a record must match both.', {
    sources: set('Capture records whose source endpoint is one of these.', ep, 32),
    destinations: set('Capture records whose destination endpoint is one of these.', ep, 32),
  });
}

export function ipaSourceSchema(): JSONSchemaProps {
  return obj('Where the monitor stream arrives, and how its payloads are laid out. Default: the monitor device (see device).', {
    payloadAlignment: {
      ...int(
        'The byte boundary each packet replica is padded to. Default: what the hardware does: 4 for status streams (every ' +
          'upstream IPA configuration pads its status endpoint to 4) and DPLv2 entries, 8 for DPLv3 entries. Set 1 for a ' +
          'stream recorded without padding. One of 1, 2, 4, 8, 16, 32, 64.',
        { minimum: 1, maximum: 64 },
      ),
      enum: [...IPA_PAYLOAD_ALIGNMENTS],
    },
    netdev: obj(
      'Read the stream from a network device instead of a monitor character device: each frame holds one or more 32-byte ' +
        'status elements with their replicas, after a 14-byte Ethernet header (EtherType 0x88B5). It is read through the ' +
        "same TPACKET_V3 rings as PacketCapture. The node's agent reports whether it has the device (capability ipa.sources).",
      { interface: ifName('The network device, in the node network namespace.') },
      ['interface'],
    ),
  });
}

const capture = withRules(
  obj(
    'Write the monitored packets as pcapng (raw IP, with the decoded status header in each packet comment). A monitor runs ' +
      'until it is deleted, so an enabled capture must be a bounded flight recorder: rotation plus retention.maxFiles or ' +
      'retention.maxTotalBytes.',
    {
      enabled: bool('Write packets to files. Default false: metrics only.', false),
      snapLength: snapLengthSchema(),
      endpoints: endpointFilterSchema(),
      output: outputSchema(),
      rotation: rotationSchema(),
      retention: retentionSchema(),
    },
  ),
  {
    rule: `!self.enabled || (${FLIGHT_RECORDER_RULE})`,
    message:
      'an enabled capture must be bounded: set rotation and retention.maxFiles or retention.maxTotalBytes, because a monitor runs until it is deleted',
    fieldPath: '.retention',
    reason: 'FieldValueRequired',
  },
);

/** A network-device source and a named monitor device are two sources: one of them. */
export const IPA_ONE_SOURCE_RULE = "!has(self.source) || !has(self.source.netdev) || !has(self.device) || self.device == 'auto'";

const spec = withRules(obj('Which nodes to monitor, and what to do with the stream.', {
  nodeSelector: {
    ...labelSelectorSchema(`The nodes to monitor. Default: nodes the agent labelled ${IPA_NODE_LABEL}=true because it found IPA hardware.`),
    default: { matchLabels: { [IPA_NODE_LABEL]: 'true' } },
  },
  device: ipaDeviceSchema(),
  source: ipaSourceSchema(),
  ipaVersion: ipaVersionSchema(),
  capture,
  metricsInterval: duration('How often per-endpoint and per-exception counters are published (default 30s).', '30s'),
}), {
  rule: IPA_ONE_SOURCE_RULE,
  message: 'source.netdev and a named device are two stream sources: set one of them (leave device at auto with source.netdev)',
  fieldPath: '.source.netdev',
  reason: 'FieldValueInvalid',
});

const src = int('The source endpoint id.', { minimum: 0, maximum: 255 });
const endpointName = (d: string) => str(d, { maxLength: 64 });
const namedCounts = (d: string) => mapList(d, obj('One count.', {
  name: str('The opcode or exception name (UNKNOWN_0xNN for values the decoder does not know).', { maxLength: 32 }),
  records: counter('Records.'),
  bytes: counter('Bytes of the packets they describe (original lengths).'),
}, ['name', 'records', 'bytes']), ['name'], IPA_MAX_NAMED);
const otherPairs = () => obj('Endpoint pairs beyond the listed ones, summed.', {
  pairs: counter('How many pairs.'),
  records: counter('Their records.'),
  bytes: counter('Their bytes.'),
});

export function decodeErrorsSchema(): JSONSchemaProps {
  return obj('Malformed input, by kind: each garbage run, impossible length, unknown opcode, cut final record or buffer overflow counts once.', {
    unknownOpcode: counter('Records with an opcode the decoder does not know (skipped in step).'),
    impossibleLength: counter('Packet headers claiming more bytes than an IPA buffer holds.'),
    garbage: counter('Runs of bytes that are no header (skipped until two headers are in step again).'),
    truncatedTail: counter('A final record cut short by the end of the stream.'),
    overflow: counter('Times the reader buffer filled without progress and was dropped.'),
  });
}

/** NodeTask status.ipa: what one node's agent decoded (bounded: the tables keep the largest entries). */
export function ipaTaskStatusSchema(): JSONSchemaProps {
  const ep = int('An IPA endpoint id; -1 where the format has none (DPL streams have no destination).', { minimum: -1, maximum: 255 });
  return obj('For IPAMonitor tasks: the decoded stream since the task started on this node.', {
    format: enumStr('The stream format: status (32-byte status elements), dplv2 or dplv3 (monitor device headers).', ['status', 'dplv2', 'dplv3']),
    source: str('Where the stream is read from (a device, FIFO or file path).', { maxLength: 512 }),
    records: counter('Records decoded.'),
    packets: counter('Records that describe a packet with bytes present.'),
    bytes: counter('Original bytes of those packets.'),
    capturedBytes: counter('Bytes of those packets present in the stream.'),
    truncated: counter('Packets present only in part (a truncated replica).'),
    exceptions: counter('Records with a non-zero exception.'),
    unknownExceptions: counter('Records with an exception value the decoder does not know (kept).'),
    pairs: mapList(`Traffic per endpoint pair, the ${IPA_MAX_PAIRS} largest by bytes.`, obj('One endpoint pair.', {
      src, dst: ep, srcName: endpointName('The source endpoint name, where known.'), dstName: endpointName('The destination endpoint name, where known.'),
      records: counter('Records.'), bytes: counter('Bytes.'), truncated: counter('Truncated packets.'),
    }, ['src', 'dst', 'records', 'bytes']), ['src', 'dst'], IPA_MAX_PAIRS),
    otherPairs: otherPairs(),
    byOpcode: namedCounts('Records per opcode.'),
    byException: namedCounts(`Records per exception (status streams), the ${IPA_MAX_NAMED} largest.`),
    topFlows: arr(`The ${IPA_MAX_FLOWS} largest IP flows by bytes.`, obj('One flow.', {
      src, dst: ep, proto: int('IP protocol number.', { minimum: 0, maximum: 255 }),
      srcAddr: str('Source address.', { maxLength: 64 }), dstAddr: str('Destination address.', { maxLength: 64 }),
      srcPort: int('Source port.', { minimum: 0, maximum: 65535 }), dstPort: int('Destination port.', { minimum: 0, maximum: 65535 }),
      records: counter('Records.'), bytes: counter('Bytes.'), error: counter('Overcount bound once the flow table was full (Space-Saving).'),
    }, ['src', 'dst', 'proto', 'srcAddr', 'dstAddr', 'records', 'bytes']), { maxItems: IPA_MAX_FLOWS, 'x-kubernetes-list-type': 'atomic' }),
    flowsApproximate: bool('True once more flows were seen than the table holds: counts are then upper bounds.'),
    decodeErrors: decodeErrorsSchema(),
    resyncs: counter('Times the reader lost step and resynchronised.'),
    skippedBytes: counter('Bytes skipped while resynchronising.'),
    reopens: counter('Times the source was opened again (its writer went away, or a read failed).'),
  }, ['format', 'source', 'records', 'packets', 'bytes']);
}
const status = obj('The observed state of the monitor, written by the operator.', {
  ...commonStatusProps('monitor', IPA_MONITOR_PHASES),
  totals: obj('Totals over all nodes.', {
    nodes: counter('Nodes monitored.'),
    records: counter('Status records decoded.'),
    packets: counter('Packets captured to files.'),
    bytes: counter('Bytes of packet data written.'),
    drops: counter('Records lost (reader too slow, or malformed records skipped).'),
    exceptions: counter('Records with a non-zero IPA exception.'),
    files: counter('Files currently kept.'),
  }),
  nodes: nodeStatusListSchema('monitor', {
    ipaVersion: str('The IPA version detected on this node.', { maxLength: 16 }),
    device: str('The monitor device in use on this node.', { maxLength: 63 }),
    records: counter('Status records decoded on this node.'),
    exceptions: counter('Records with a non-zero exception on this node.'),
  }),
  matrix: mapList(
    `The traffic matrix over all nodes: records and bytes per endpoint pair, the ${IPA_MAX_PAIRS} largest by bytes. Endpoints by name ` +
      'where the agent knows it (per-SoC configuration), else ep<id>; "-" is no destination (DPL streams).',
    obj('One endpoint pair.', {
      from: endpointName('The source endpoint.'),
      to: endpointName('The destination endpoint.'),
      records: counter('Records (status elements) from -> to.'),
      bytes: counter('Original bytes of the packets they describe.'),
      truncated: counter('Packets of this pair present only in part.'),
      nodes: counter('Nodes that saw this pair.'),
    }, ['from', 'to', 'records', 'bytes']),
    ['from', 'to'],
    IPA_MAX_PAIRS,
  ),
  otherPairs: otherPairs(),
  byException: namedCounts('Records per IPA exception over all nodes (NONE included).'),
  byOpcode: namedCounts('Records per IPA opcode over all nodes.'),
  decodeErrors: decodeErrorsSchema(),
  truncated: counter('Packets present only in part, over all nodes.'),
});


// ---- NodeTask work -------------------------------------------------------------------------

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

export const ipaMonitorWorkSchema = obj(
  'The resolved work of an IPAMonitor on this node.',
  {
    device: ipaDeviceSchema(),
    source: ipaSourceSchema(),
    ipaVersion: ipaVersionSchema(),
    capture: obj(
      'Packet capture settings, resolved to numbers.',
      {
        enabled: bool('Write packets to files.', false),
        snapLength: resolvedSnapLengthSchema(),
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

export const ipaMonitorDefinition: KindDefinition = {
  rootRules: [fileNameLengthRule],
  kind: 'IPAMonitor',
  plural: PLURALS.IPAMonitor,
  singular: 'ipamonitor',
  shortNames: ['ipam'],
  scope: 'Cluster',
  description:
    'IPAMonitor reads the Qualcomm IPA monitor stream on nodes with IPA hardware, decodes each status header, publishes ' +
    'counters per endpoint pair and exception, and optionally writes the packets as pcapng.',
  spec,
  status,
  printerColumns: [
    phaseColumn,
    readyColumn,
    { name: 'Nodes', type: 'integer', jsonPath: '.status.totals.nodes', description: 'Nodes monitored.' },
    { name: 'Records', type: 'integer', jsonPath: '.status.totals.records', description: 'Status records decoded.' },
    { name: 'Exceptions', type: 'integer', jsonPath: '.status.totals.exceptions', description: 'Records with an IPA exception.' },
    { name: 'Drops', type: 'integer', jsonPath: '.status.totals.drops', description: 'Records lost.' },
    ageColumn,
  ],
};
