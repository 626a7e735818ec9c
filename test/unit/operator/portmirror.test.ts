// PortMirror controller logic without a cluster: status derivation (table) and placement
// (which node gets which sources and which destination).
import { describe, expect, test } from '@jest/globals';
import { deriveMirrorStatus } from '../../../operator/src/controllers/portmirror/status.js';
import { mirrorTaskName, PortMirrorReconciler } from '../../../operator/src/controllers/portmirror/reconciler.js';
import { mirrorVni } from '../../../crds/src/index.js';
import type { PortMirror } from '../../../lib/kube/objects.js';
import { taskName } from '../../../operator/src/controllers/shared/parent.js';

const cond = (s: ReturnType<typeof deriveMirrorStatus>, type: string) => s.conditions.find((c) => c.type === type)!;

describe('deriveMirrorStatus', () => {
  test.each([
    ['no sources', { sourcesFound: 0, tasks: [] }, 'Pending', 'Ready', 'False', 'NoSources'],
    ['collector missing', { sourcesFound: 1, tasks: [], waiting: { reason: 'CollectorNotFound' as const, message: 'x' } }, 'Pending', 'Reconciling', 'True', 'CollectorNotFound'],
    ['agents starting', { sourcesFound: 1, tasks: [{ node: 'a', sources: 1, attached: 0 }] }, 'Pending', 'Reconciling', 'True', 'Attaching'],
    ['attaching', { sourcesFound: 2, tasks: [{ node: 'a', sources: 2, attached: 1, phase: 'Running' as const }] }, 'Running', 'Ready', 'False', 'Attaching'],
    ['all attached', { sourcesFound: 2, tasks: [{ node: 'a', sources: 2, attached: 2, phase: 'Running' as const }, { node: 'b', sources: 0, attached: 0, phase: 'Running' as const }] }, 'Running', 'Ready', 'True', 'Mirroring'],
    ['gre missing on every node', { sourcesFound: 1, tasks: [{ node: 'a', sources: 1, attached: 0, phase: 'Failed' as const, reason: 'CapabilityMissing' as const, message: 'gre is not available on this node' }] }, 'Failed', 'Stalled', 'True', 'CapabilityMissing'],
    ['one node failed', { sourcesFound: 2, tasks: [{ node: 'a', sources: 1, attached: 0, phase: 'Failed' as const, message: 'boom' }, { node: 'b', sources: 1, attached: 1, phase: 'Running' as const }] }, 'Degraded', 'Stalled', 'True', 'NodeFailed'],
    ['invalid', { sourcesFound: 0, tasks: [], invalid: { reason: 'UntrustedNamespace' as const, message: 'no' } }, 'Failed', 'Stalled', 'True', 'UntrustedNamespace'],
  ])('%s', (_n, state, phase, type, status, reason) => {
    const d = deriveMirrorStatus(state);
    expect(d.phase).toBe(phase);
    expect(cond(d, type)).toMatchObject({ status, reason });
  });

  test('totals count attached sources and add up counters', () => {
    const d = deriveMirrorStatus({ sourcesFound: 3, tasks: [
      { node: 'b', sources: 2, attached: 2, phase: 'Running', packets: 10, bytes: 1000, drops: 1 },
      { node: 'a', sources: 1, attached: 1, phase: 'Running', packets: 5, bytes: 500 },
    ] });
    expect(d.totals).toEqual({ nodes: 2, sources: 3, packets: 15, bytes: 1500, drops: 1 });
    expect(d.nodes.map((n) => n.node)).toEqual(['a', 'b']);
  });
});

describe('placement', () => {
  const UID = '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';
  const informer = <T extends { metadata: { name: string; namespace?: string } }>(items: T[]) => ({
    list: (ns?: string) => items.filter((i) => !ns || i.metadata.namespace === ns),
    get: (ns: string | undefined, name: string) => items.find((i) => i.metadata.name === name && (!ns || i.metadata.namespace === ns)),
  });
  const pod = (name: string, node: string, app: string, uid: string) => ({
    metadata: { name, namespace: 'ns', uid, labels: { app } }, spec: { nodeName: node }, status: { phase: 'Running', podIP: `10.0.0.${uid.slice(-1)}` },
  });
  const pods = [pod('w1', 'n1', 'web', 'u1'), pod('w2', 'n2', 'web', 'u2'), pod('col', 'n2', 'web', 'u3'), pod('db', 'n1', 'db', 'u4')];
  const nodes = [
    { metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '100.64.0.11' }] } },
    { metadata: { name: 'n2' }, status: { addresses: [{ type: 'InternalIP', address: '100.64.0.12' }] } },
  ];
  const ctl = new PortMirrorReconciler({ pods: informer(pods), nodes: informer(nodes) } as never, {} as never);
  const mirror = (destination: object): PortMirror => ({ metadata: { name: 'm', namespace: 'ns', uid: UID }, spec: { source: { pods: { selector: { matchLabels: { app: 'web' } } } }, destination } } as PortMirror);

  test('a collector pod elsewhere is reached over VXLAN to its node; its own node delivers locally; the collector is never a source', () => {
    const r = ctl.resolve(mirror({ pod: { name: 'col' } }));
    expect([...r.byNode.keys()].sort()).toEqual(['n1', 'n2']);
    expect(r.byNode.get('n2')!.map((s) => s.pod!.name)).toEqual(['w2']);
    expect(r.collectorNode).toBe('n2');
    expect(r.destination('n1')).toEqual({ remote: { address: '100.64.0.12', protocol: 'vxlan', vni: mirrorVni(UID), port: 4789 } });
    expect(r.destination('n2')).toMatchObject({ pod: { name: 'col', uid: 'u3', node: 'n2', interface: 'eth0' } });
  });

  test('a missing collector waits; a node interface and a remote go to every node as given', () => {
    expect(ctl.resolve(mirror({ pod: { name: 'nope' } })).waiting?.reason).toBe('CollectorNotFound');
    expect(ctl.resolve(mirror({ interface: { name: 'mon0' } })).destination('n1')).toEqual({ interface: { name: 'mon0' } });
    expect(ctl.resolve(mirror({ remote: { address: '192.0.2.1', protocol: 'vxlan', vni: 7 } })).destination('n2')).toEqual({ remote: { address: '192.0.2.1', protocol: 'vxlan', vni: 7, port: 4789 } });
  });

  test('NodeTask names differ from a PacketCapture of the same name', () => {
    const m = { metadata: { name: 'x', namespace: 'team-a' } } as PortMirror;
    expect(mirrorTaskName(m, 'n1')).not.toBe(taskName({ kind: 'PacketCapture', namespace: 'team-a', name: 'x' }, 'n1'));
    expect(mirrorTaskName(m, 'n1')).not.toBe(mirrorTaskName({ metadata: { name: 'x', namespace: 'team-b' } } as PortMirror, 'n1'));
  });
});
