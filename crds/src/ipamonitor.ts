// IPAMonitor: on nodes with Qualcomm IPA hardware, read the monitor stream, decode each
// status header, count traffic per endpoint pair and exception, and optionally write pcapng.
import {
  FLIGHT_RECORDER_RULE,
  commonStatusProps,
  nodeStatusListSchema,
  outputSchema,
  retentionSchema,
  rotationSchema,
  snapLengthSchema,
  type CaptureOutput,
  type CaptureRetention,
  type CaptureRotation,
  type CommonStatus,
  type Duration,
  type NodeStatus,
} from './common.js';
import { ageColumn, phaseColumn, readyColumn, type KindDefinition } from './definition.js';
import { counter, labelSelectorSchema, PLURALS, type LabelSelector, type Resource } from './meta.js';
import { bool, duration, enumStr, int, obj, set, str, withRules, type JSONSchemaProps } from './schema.js';

/** IPA hardware versions known to the upstream driver (drivers/net/ipa/ipa_version.h). */
export const IPA_VERSIONS = ['3.0', '3.1', '3.5', '3.5.1', '4.0', '4.1', '4.2', '4.5', '4.7', '4.9', '4.11', '5.0', '5.1', '5.5'] as const;
export type IPAVersion = (typeof IPA_VERSIONS)[number];

/** The label the agent puts on nodes where it finds IPA hardware. */
export const IPA_NODE_LABEL = 'ringtap.dev/ipa';

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

export interface IPAMonitorSpec {
  nodeSelector?: LabelSelector;
  device?: string;
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

export interface IPAMonitorStatus extends CommonStatus<IPAMonitorPhase> {
  totals?: IPATotals;
  nodes?: IPAMonitorNodeStatus[];
}

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

const spec = obj('Which nodes to monitor, and what to do with the stream.', {
  nodeSelector: {
    ...labelSelectorSchema(`The nodes to monitor. Default: nodes the agent labelled ${IPA_NODE_LABEL}=true because it found IPA hardware.`),
    default: { matchLabels: { [IPA_NODE_LABEL]: 'true' } },
  },
  device: ipaDeviceSchema(),
  ipaVersion: ipaVersionSchema(),
  capture,
  metricsInterval: duration('How often per-endpoint and per-exception counters are published (default 30s).', '30s'),
});

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
});

export const ipaMonitorDefinition: KindDefinition = {
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
