import { describe, expect, test } from '@jest/globals';
import { deriveCaptureStatus } from '../../../operator/src/controllers/packetcapture/status.js';
import { effectiveFilter, matchToBpf } from '../../../operator/src/controllers/shared/bpf.js';
import { matchesSelector } from '../../../operator/src/controllers/shared/selectors.js';
import { parseBytes, parseDurationMs } from '../../../operator/src/controllers/shared/units.js';
import { resolveWork } from '../../../operator/src/controllers/packetcapture/reconciler.js';
import { taskName } from '../../../operator/src/controllers/shared/parent.js';
import type { PacketCapture } from '../../../lib/kube/objects.js';

const cond = (s: ReturnType<typeof deriveCaptureStatus>, type: string) => s.conditions.find((c) => c.type === type)!;

describe('deriveCaptureStatus', () => {
  test.each([
    ['no targets', { targetsFound: 0, tasks: [] }, 'Pending', 'Ready', 'False', 'NoTargets'],
    ['agents not started', { targetsFound: 2, tasks: [{ node: 'a', pods: 1 }, { node: 'b', pods: 1 }] }, 'Pending', 'Reconciling', 'True', 'NodesStarting'],
    ['one node running', { targetsFound: 2, tasks: [{ node: 'a', pods: 1, phase: 'Running' as const }, { node: 'b', pods: 1 }] }, 'Running', 'Ready', 'False', 'NodesStarting'],
    ['all running', { targetsFound: 2, tasks: [{ node: 'a', pods: 1, phase: 'Running' as const }, { node: 'b', pods: 1, phase: 'Running' as const }] }, 'Running', 'Ready', 'True', 'Capturing'],
    ['all completed', { targetsFound: 2, tasks: [{ node: 'a', pods: 1, phase: 'Completed' as const, stopReason: 'PacketLimitReached' }, { node: 'b', pods: 1, phase: 'Completed' as const }] }, 'Completed', 'Ready', 'True', 'Completed'],
    ['one failed', { targetsFound: 2, tasks: [{ node: 'a', pods: 1, phase: 'Failed' as const, message: 'disk full' }, { node: 'b', pods: 1, phase: 'Completed' as const }] }, 'Failed', 'Stalled', 'True', 'NodeFailed'],
    ['invalid spec', { targetsFound: 0, tasks: [], invalid: { reason: 'InvalidFilter' as const, message: 'spec.filter: syntax error' } }, 'Failed', 'Stalled', 'True', 'InvalidFilter'],
  ])('%s', (_name, state, phase, type, status, reason) => {
    const d = deriveCaptureStatus(state);
    expect(d.phase).toBe(phase);
    expect(cond(d, type)).toMatchObject({ status, reason });
  });

  test('running agents that attached no target: not Ready, with the agents\' reasons', () => {
    const d = deriveCaptureStatus({ targetsFound: 2, tasks: [
      { node: 'a', pods: 1, phase: 'Running', attached: 0, notAttached: ['ns/web Failed: ERR_RINGTAP_NETNS_PERMISSION_DENIED: permission denied (EACCES)'] },
      { node: 'b', pods: 1, phase: 'Running', attached: 0, notAttached: ['ns/db Detached'] },
    ] });
    expect(d.phase).toBe('Running');
    expect(cond(d, 'Ready')).toMatchObject({ status: 'False', reason: 'Attaching' });
    expect(cond(d, 'Ready').message).toBe('no target is attached: a: ns/web Failed: ERR_RINGTAP_NETNS_PERMISSION_DENIED: permission denied (EACCES); b: ns/db Detached');
    expect(cond(d, 'Reconciling').status).toBe('True');
    // One attached target anywhere: capturing.
    const one = deriveCaptureStatus({ targetsFound: 2, tasks: [
      { node: 'a', pods: 1, phase: 'Running', attached: 0, notAttached: ['ns/web Failed: x'] },
      { node: 'b', pods: 1, phase: 'Running', attached: 1, notAttached: [] },
    ] });
    expect(cond(one, 'Ready')).toMatchObject({ status: 'True', reason: 'Capturing' });
  });

  test('totals add up per node and nodes are sorted', () => {
    const d = deriveCaptureStatus({ targetsFound: 3, tasks: [
      { node: 'b', pods: 2, phase: 'Running', packets: 10, bytes: 100, drops: 1, files: 1 },
      { node: 'a', pods: 1, phase: 'Running', packets: 5, bytes: 50, drops: 0, files: 2 },
    ] });
    expect(d.totals).toEqual({ nodes: 2, pods: 3, packets: 15, bytes: 150, drops: 1, freezes: 0, files: 3 });
    expect(d.nodes.map((n) => n.node)).toEqual(['a', 'b']);
  });

  test('a completed capture stays completed when a late pod brings a new pending task', () => {
    const d = deriveCaptureStatus({ targetsFound: 1, previousPhase: 'Completed', tasks: [{ node: 'a', pods: 1, phase: 'Completed' }] });
    expect(d.phase).toBe('Completed');
    expect(d.terminal).toBe(true);
  });
});

describe('structured match to BPF', () => {
  test.each([
    [{ protocol: 'udp' as const, ports: [{ port: 53 }] }, 'udp and udp port 53'],
    [{ protocol: 'tcp' as const, ports: [{ port: 8000, endPort: 8080 }, { port: 443 }] }, 'tcp and (tcp portrange 8000-8080 or tcp port 443)'],
    [{ cidrs: ['10.0.0.0/8'], bidirectional: false }, 'dst net 10.0.0.0/8'],
    [{ protocol: 'tcp' as const, tcpFlags: ['SYN', 'RST'] }, 'tcp and ((tcp[tcpflags] & tcp-syn != 0) or (tcp[tcpflags] & tcp-rst != 0))'],
    [{ protocol: 'icmpv6' as const }, 'icmp6'],
    [{ protocol: 'any' as const }, ''],
  ])('%j -> %s', (m, want) => {
    expect(matchToBpf(m)).toBe(want);
  });
  test('filter and match are both required', () => {
    expect(effectiveFilter('host 10.0.0.1', { protocol: 'tcp' })).toBe('(host 10.0.0.1) and (tcp)');
    expect(effectiveFilter('  ', undefined)).toBe('');
  });
});

describe('selectors', () => {
  test('matchLabels and every operator of matchExpressions', () => {
    const l = { app: 'web', tier: 'front' };
    expect(matchesSelector({ matchLabels: { app: 'web' } }, l)).toBe(true);
    expect(matchesSelector({ matchLabels: { app: 'db' } }, l)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'x'] }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, l)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, l)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, l)).toBe(false);
    expect(matchesSelector(undefined, l)).toBe(false);
  });
});

describe('units and resolved work', () => {
  test('durations and byte sizes', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(() => parseDurationMs('5 minutes')).toThrow(/invalid duration "5 minutes"/);
    expect(parseBytes('100Mi')).toBe(104_857_600);
    expect(parseBytes('2G')).toBe(2_000_000_000);
    expect(parseBytes(1500)).toBe(1500);
    expect(() => parseBytes('1.5 GB')).toThrow(/invalid byte size/);
  });
  test('the NodeTask carries numbers, and an absolute stop time once the capture started', () => {
    const c = {
      metadata: { name: 'x', namespace: 'n' },
      spec: { targets: {}, limits: { duration: '5m', maxBytes: '1Mi' }, rotation: { fileSize: '10Mi', fileDuration: '1m' }, retention: { maxFiles: 3 } },
      status: { startTime: '2026-01-01T00:00:00Z' },
    } as unknown as PacketCapture;
    const w = resolveWork(c, [], [], 'tcp');
    expect(w.limits).toEqual({ durationSeconds: 300, stopAt: '2026-01-01T00:05:00Z', maxBytes: 1_048_576 });
    expect(w.rotation).toEqual({ fileSizeBytes: 10_485_760, fileDurationSeconds: 60 });
    expect(w).toMatchObject({ capturePoint: 'pod', snapLength: 262144, output: { format: 'pcapng' }, timestamps: 'software', filter: 'tcp' });
  });
  test('task names are stable, distinct per node and valid names', () => {
    const cap = { kind: 'PacketCapture', namespace: 'shop', name: 'cap' } as const;
    expect(taskName(cap, 'node-a')).toBe(taskName(cap, 'node-a'));
    expect(taskName(cap, 'node-a')).not.toBe(taskName(cap, 'node-b'));
    expect(taskName(cap, 'node-a')).toMatch(/^pc-shop-cap-node-a-[0-9a-f]{16}$/);
    const dns = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
    expect(taskName({ kind: 'PacketCapture', namespace: 'n'.repeat(63), name: 'c'.repeat(253) }, 'x'.repeat(253))).toMatch(dns);
    // Dots of a name or a node name (DNS subdomains) do not survive into the DNS label.
    expect(taskName({ kind: 'PacketCapture', namespace: 'a', name: 'web.v2.' }, 'ip-10-0-0-1.ec2.internal')).toMatch(dns);
  });
  test('all NodeTasks share the operator\'s namespace: parents of the same name in other namespaces, or of other kinds, never share a task name', () => {
    const names = new Set<string>();
    const long = 'x'.repeat(40);
    for (const namespace of ['team-a', 'team-b', `${long}-1`, `${long}-2`]) {
      for (const name of ['web', `${long}a`, `${long}b`]) {
        for (const kind of ['PacketCapture', 'PortMirror'] as const) names.add(taskName({ kind, namespace, name }, 'node-a'));
      }
    }
    for (const name of ['web', `${long}a`, `${long}b`]) for (const kind of ['PPPBridge', 'IPAMonitor'] as const) names.add(taskName({ kind, name }, 'node-a'));
    expect(names.size).toBe(4 * 3 * 2 + 3 * 2);
    // A capture named like another kind's old suffixed names does not meet it either.
    expect(taskName({ kind: 'PacketCapture', namespace: 'ringtap-system', name: 'br-ppp' }, 'n1')).not.toBe(taskName({ kind: 'PPPBridge', name: 'br' }, 'n1'));
  });
});
