// IPAMonitor status derivation (pure) and work resolution: phases and conditions from the
// observed NodeTasks, the traffic matrix summed over nodes by endpoint name and bounded.
import { describe, expect, test } from '@jest/globals';
import { IPA_MAX_PAIRS, type IPATaskStatus } from '../../../crds/src/index.js';
import { deriveIPAMonitorStatus, type IPAMonitorState, type ObservedIPATask } from '../../../operator/src/controllers/ipamonitor/status.js';
import { ipaTaskName, resolveIPAWork } from '../../../operator/src/controllers/ipamonitor/reconciler.js';

const ipa = (over: Partial<IPATaskStatus> = {}): IPATaskStatus => ({
  format: 'status', source: '/dev/x', records: 10, packets: 8, bytes: 1000, exceptions: 2, truncated: 1,
  pairs: [
    { src: 3, dst: 12, srcName: 'AP_LAN_RX', dstName: 'MODEM_TX', records: 6, bytes: 800, truncated: 1 },
    { src: 9, dst: 3, dstName: 'AP_LAN_RX', records: 4, bytes: 200, truncated: 0 },
  ],
  otherPairs: { pairs: 0, records: 0, bytes: 0 },
  byOpcode: [{ name: 'PACKET', records: 10, bytes: 1000 }],
  byException: [{ name: 'NONE', records: 8, bytes: 900 }, { name: 'CHECKSUM', records: 2, bytes: 100 }],
  decodeErrors: { unknownOpcode: 1, impossibleLength: 0, garbage: 2, truncatedTail: 1, overflow: 0 },
  ...over,
});
const running = (node: string, over: Partial<ObservedIPATask> = {}): ObservedIPATask => ({ node, phase: 'Running', ipaVersion: '4.9', ipa: ipa(), files: 2, packets: 8, bytes: 900, ...over });

describe('deriveIPAMonitorStatus', () => {
  const cases: [string, IPAMonitorState, { phase: string; reason: string; ready: string }][] = [
    ['no node matches: Pending NoNodes', { selectedNodes: 0, tasks: [] }, { phase: 'Pending', reason: 'NoNodes', ready: 'False' }],
    ['an invalid spec stalls', { invalid: { reason: 'InvalidSpec', message: 'x' }, selectedNodes: 1, tasks: [] }, { phase: 'Failed', reason: 'InvalidSpec', ready: 'False' }],
    ['a selected node without a task yet', { selectedNodes: 1, tasks: [] }, { phase: 'Pending', reason: 'Starting', ready: 'False' }],
    ['an agent not started yet', { selectedNodes: 1, tasks: [{ node: 'a' }] }, { phase: 'Pending', reason: 'Starting', ready: 'False' }],
    ['all running', { selectedNodes: 2, tasks: [running('a'), running('b')] }, { phase: 'Running', reason: 'Monitoring', ready: 'True' }],
    ['one node without a source', { selectedNodes: 2, tasks: [running('a'), { node: 'b', phase: 'Failed', reason: 'IPASourceUnavailable', message: 'no device' }] }, { phase: 'Degraded', reason: 'IPASourceUnavailable', ready: 'False' }],
    ['every node failed', { selectedNodes: 1, tasks: [{ node: 'b', phase: 'Failed', message: 'boom' }] }, { phase: 'Failed', reason: 'NodeFailed', ready: 'False' }],
    ['a source that cannot be read (retrying)', { selectedNodes: 1, tasks: [running('a', { reason: 'IPASourceUnavailable', message: 'reading /dev/ipa failed (EACCES); retrying' })] }, { phase: 'Degraded', reason: 'IPASourceUnavailable', ready: 'False' }],
    ['a capture that failed on disk', { selectedNodes: 1, tasks: [running('a', { reason: 'CaptureFailed', message: 'writing /data failed: ENOSPC' })] }, { phase: 'Degraded', reason: 'CaptureFailed', ready: 'False' }],
  ];
  test.each(cases)('%s', (_n, state, want) => {
    const d = deriveIPAMonitorStatus(state);
    expect(d.phase).toBe(want.phase);
    const ready = d.conditions.find((c) => c.type === 'Ready')!;
    expect(ready.status).toBe(want.ready);
    expect(ready.reason).toBe(want.reason);
  });

  test('the matrix sums nodes by endpoint name, ep<id> where unnamed; totals and errors add up', () => {
    const d = deriveIPAMonitorStatus({ selectedNodes: 2, tasks: [running('a'), running('b')] });
    expect(d.matrix).toEqual([
      { from: 'AP_LAN_RX', to: 'MODEM_TX', records: 12, bytes: 1600, truncated: 2, nodes: 2 },
      { from: 'ep9', to: 'AP_LAN_RX', records: 8, bytes: 400, truncated: 0, nodes: 2 },
    ]);
    expect(d.totals).toEqual({ nodes: 2, records: 20, packets: 16, bytes: 1800, drops: 0, exceptions: 4, files: 4 });
    expect(d.byException).toEqual([{ name: 'NONE', records: 16, bytes: 1800 }, { name: 'CHECKSUM', records: 4, bytes: 200 }]);
    expect(d.decodeErrors).toEqual({ unknownOpcode: 2, impossibleLength: 0, garbage: 4, truncatedTail: 2, overflow: 0 });
    expect(d.truncated).toBe(2);
    expect(d.nodes[0]).toMatchObject({ node: 'a', phase: 'Running', records: 10, exceptions: 2, ipaVersion: '4.9', device: '/dev/x', files: 2 });
  });

  test('DPL pairs have no destination: "-"', () => {
    const d = deriveIPAMonitorStatus({ selectedNodes: 1, tasks: [running('a', { ipa: ipa({ format: 'dplv3', pairs: [{ src: 5, dst: -1, records: 3, bytes: 30 }] }) })] });
    expect(d.matrix).toEqual([{ from: 'ep5', to: '-', records: 3, bytes: 30, truncated: 0, nodes: 1 }]);
  });

  test(`the matrix keeps the ${IPA_MAX_PAIRS} largest cells and sums the rest with the nodes' own overflow`, () => {
    const pairs = Array.from({ length: IPA_MAX_PAIRS + 6 }, (_, i) => ({ src: i % 32, dst: Math.floor(i / 32), records: 1, bytes: 1000 - i }));
    const d = deriveIPAMonitorStatus({ selectedNodes: 1, tasks: [running('a', { ipa: ipa({ pairs, otherPairs: { pairs: 2, records: 5, bytes: 7 } }) })] });
    expect(d.matrix).toHaveLength(IPA_MAX_PAIRS);
    expect(d.matrix[0]!.bytes).toBe(1000);
    expect(d.otherPairs).toEqual({ pairs: 8, records: 11, bytes: 7 + [64, 65, 66, 67, 68, 69].reduce((a, i) => a + 1000 - i, 0) });
  });
});

describe('resolveIPAWork', () => {
  test('quantities become numbers; defaults filled', () => {
    expect(resolveIPAWork({
      capture: { enabled: true, rotation: { fileSize: '1Mi', fileDuration: '1m' }, retention: { maxFiles: 3, maxAge: '1h', maxTotalBytes: '10Mi' } },
      metricsInterval: '1500ms',
    })).toEqual({
      device: 'auto', ipaVersion: 'auto', metricsIntervalSeconds: 2,
      capture: {
        enabled: true, snapLength: 262144, output: { format: 'pcapng' },
        rotation: { fileSizeBytes: 1048576, fileDurationSeconds: 60 }, retention: { maxFiles: 3, maxAgeSeconds: 3600, maxTotalBytes: 10485760 },
      },
    });
  });
  test('task names differ per node and from other kinds', () => {
    expect(ipaTaskName('m', 'n1')).not.toBe(ipaTaskName('m', 'n2'));
    expect(ipaTaskName('m', 'n1')).toMatch(/^ipa-m-n1-[0-9a-f]{16}$/);
  });
});
