// The operator's cache transforms and indexes change nothing placement decides: the slim
// objects select the same pods and nodes, through the indexes, as the whole objects did
// by scanning; and the informer's store keeps its indexes in step with every change.
import { describe, expect, test } from '@jest/globals';
import { compareResourceVersion, dropManagedFields, Informer, sameButVersion, Store } from '../../../lib/kube/informer.js';
import { newLogger } from '../../../lib/observe/log.js';
import type { KubeObject } from '../../../lib/kube/kube.js';
import type { NodeTask } from '../../../lib/kube/objects.js';
import {
  BY_LABEL, BY_PARENT, labelIndex, nodeForPlacement, parentIndex, podForPlacement, selectTargets,
  type IndexedCache, type PlacementNode, type PlacementPod, type TargetSelection,
} from '../../../operator/src/controllers/shared/cache.js';
import { matchesSelector, type LabelSelector } from '../../../operator/src/controllers/shared/selectors.js';

const key = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/** The lookups of an Informer over a Store, as the operator's informers give them. */
function cache<T extends KubeObject>(objects: T[], transform: (o: T) => T): IndexedCache<T> & { store: Store<T> } {
  const store = new Store<T>({ [BY_LABEL]: labelIndex });
  for (const o of objects) store.set(key(o), transform(o));
  return {
    store,
    get: (ns, name) => store.get(ns ? `${ns}/${name}` : name),
    list: (ns) => store.list(ns),
    byIndex: (i, v) => store.byIndex(i, v),
    countByIndex: (i, v) => store.countByIndex(i, v),
  };
}

/** A pod as the API server sends it: managedFields, annotations, a full spec and status. */
function fullPod(i: number, ns: string, labels: Record<string, string>, extra: Partial<{ hostNetwork: boolean; deleting: boolean; phase: string }> = {}): PlacementPod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: `pod-${i}`, namespace: ns, uid: `uid-${i}`, resourceVersion: String(100 + i), labels,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"x"}' },
      managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }],
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs-uid' }],
      ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    } as PlacementPod['metadata'],
    spec: {
      nodeName: `node-${i % 5}`,
      ...(extra.hostNetwork !== undefined ? { hostNetwork: extra.hostNetwork } : {}),
      containers: [{ name: 'c', image: 'pause' }],
    } as PlacementPod['spec'],
    status: {
      phase: extra.phase ?? 'Running', podIP: `10.0.0.${i}`, podIPs: [{ ip: `10.0.0.${i}` }, { ip: `fd00::${i}` }],
      conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'c', restartCount: 3 }],
    } as PlacementPod['status'],
  };
}

describe('cache transforms', () => {
  test('a pod keeps exactly what placement and authorization read', () => {
    const slim = podForPlacement(fullPod(7, 'a', { app: 'web' }, { hostNetwork: true, deleting: true }));
    expect(slim).toEqual({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'pod-7', namespace: 'a', uid: 'uid-7', resourceVersion: '107', labels: { app: 'web' }, deletionTimestamp: '2026-01-01T00:00:00Z' },
      spec: { nodeName: 'node-2', hostNetwork: true },
      status: { phase: 'Running', podIP: '10.0.0.7', podIPs: [{ ip: '10.0.0.7' }, { ip: 'fd00::7' }] },
    });
  });

  test('a pod whose container status changes is unchanged after the transform; a label change is not', () => {
    const a = fullPod(1, 'a', { app: 'web' });
    const b = structuredClone(a);
    b.metadata.resourceVersion = '999';
    (b.status as { containerStatuses: { restartCount: number }[] }).containerStatuses[0]!.restartCount = 4;
    expect(sameButVersion(podForPlacement(a), podForPlacement(b))).toBe(true);
    expect(sameButVersion(a, b)).toBe(false);
    b.metadata.labels = { app: 'db' };
    expect(sameButVersion(podForPlacement(a), podForPlacement(b))).toBe(false);
  });

  test('a node keeps its identity, labels, annotations and addresses, not its heartbeats', () => {
    const node = {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: 'n1', uid: 'u', resourceVersion: '5', labels: { zone: 'a' }, annotations: { 'ringtap.dev/capabilities': '{}' }, managedFields: [{}] },
      spec: { podCIDR: '10.1.0.0/24' },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }], conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 't' }], images: [{ names: ['x'] }] },
    } as unknown as PlacementNode;
    expect(nodeForPlacement(node)).toEqual({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: 'n1', uid: 'u', resourceVersion: '5', labels: { zone: 'a' }, annotations: { 'ringtap.dev/capabilities': '{}' } },
      status: { addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] },
    });
  });

  test('the default transform drops managedFields and nothing else', () => {
    const o = { metadata: { name: 'x', labels: { a: 'b' }, managedFields: [{}] }, spec: { y: 1 } } as unknown as KubeObject;
    expect(dropManagedFields(o)).toEqual({ metadata: { name: 'x', labels: { a: 'b' } }, spec: { y: 1 } });
    const plain = { metadata: { name: 'x' } };
    expect(dropManagedFields(plain)).toBe(plain);
  });
});

describe('selection through the indexes', () => {
  // Pods over three namespaces with labels from a small alphabet, so selectors overlap.
  const values = ['a', 'b', 'c'];
  const pods: PlacementPod[] = [];
  for (let i = 0; i < 300; i++) {
    const labels: Record<string, string> = { app: values[i % 3]!, tier: values[(i >> 2) % 3]! };
    if (i % 5 === 0) labels.canary = 'true';
    pods.push(fullPod(i, `ns${i % 3}`, labels, { hostNetwork: i % 7 === 0, deleting: i % 11 === 0, phase: i % 13 === 0 ? 'Pending' : 'Running' }));
  }
  const selectors: LabelSelector[] = [
    {},
    { matchLabels: { app: 'a' } },
    { matchLabels: { app: 'b', tier: 'c' } },
    { matchLabels: { app: 'z' } },
    { matchExpressions: [{ key: 'canary', operator: 'Exists' }] },
    { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }, { key: 'tier', operator: 'In', values: ['a', 'b'] }] },
    { matchLabels: { tier: 'b' }, matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['c'] }] },
  ];
  const selections: TargetSelection[] = [
    { all: true },
    { names: ['pod-3', 'pod-4', 'pod-9', 'pod-nope'] },
    ...selectors.map((selector) => ({ selector })),
    { names: ['pod-1'], selector: { matchLabels: { app: 'c' } } },
  ];
  // What the controller decided before: a scan of whole pods.
  const scan = (ns: string, t: TargetSelection) => pods.filter((p) => p.metadata.namespace === ns && (
    t.all === true || (t.names?.includes(p.metadata.name) ?? false) || (t.selector !== undefined && matchesSelector(t.selector, p.metadata.labels))));
  // What placement takes of a pod: everything it puts into a NodeTask or decides on.
  const placed = (p: PlacementPod) => ({
    name: p.metadata.name, uid: p.metadata.uid, node: p.spec?.nodeName, hostNetwork: p.spec?.hostNetwork, phase: p.status?.phase,
    deleting: p.metadata.deletionTimestamp !== undefined, ips: p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []),
  });
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  const c = cache(pods, podForPlacement);

  test.each(selections.map((t, i) => [i, t] as const))('selection %i picks the same pods with the same placement fields as a scan of whole pods', (_i, t) => {
    for (const ns of ['ns0', 'ns1', 'ns2', 'ns-empty']) {
      expect(selectTargets(c, ns, t).map(placed).sort(byName)).toEqual(scan(ns, t).map(placed).sort(byName));
    }
  });

  test('a matchLabels selector reads only the smallest label index entry, not the namespace', () => {
    let listed = 0;
    const counting: IndexedCache<PlacementPod> = { ...c, list: (ns) => { listed += 1; return c.list(ns); } };
    const picked = selectTargets(counting, 'ns0', { selector: { matchLabels: { app: 'a', canary: 'true' } } });
    expect(listed).toBe(0);
    expect(picked.length).toBeGreaterThan(0);
    expect(picked.every((p) => p.metadata.labels?.app === 'a' && p.metadata.labels.canary === 'true')).toBe(true);
  });

  test('nodes are selected by name, selector or all, cluster-wide', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => ({ metadata: { name: `n${i}`, labels: { pool: i % 2 ? 'odd' : 'even' } } }) as PlacementNode);
    const nc = cache(nodes, nodeForPlacement);
    expect(selectTargets(nc, undefined, { all: true })).toHaveLength(20);
    expect(selectTargets(nc, undefined, { selector: { matchLabels: { pool: 'odd' } } }).map((n) => n.metadata.name).sort()).toEqual(nodes.filter((_, i) => i % 2).map((n) => n.metadata.name).sort());
    expect(selectTargets(nc, undefined, { names: ['n3', 'n30'], selector: { matchLabels: { pool: 'none' } } }).map((n) => n.metadata.name)).toEqual(['n3']);
  });
});

describe('Store', () => {
  const task = (name: string, ns: string, parent: string): NodeTask => ({
    metadata: { name, namespace: ns }, spec: { node: 'n', parent: { kind: 'PacketCapture', name: 'p', namespace: ns, uid: parent, generation: 1 } },
  }) as NodeTask;

  test('set, replace and delete keep the namespace and secondary indexes in step', () => {
    const s = new Store<NodeTask>({ [BY_PARENT]: parentIndex, [BY_LABEL]: labelIndex });
    s.set('a/t1', task('t1', 'a', 'u1'));
    s.set('a/t2', task('t2', 'a', 'u1'));
    s.set('b/t3', task('t3', 'b', 'u2'));
    expect(s.byIndex(BY_PARENT, 'u1').map((t) => t.metadata.name).sort()).toEqual(['t1', 't2']);
    expect(s.list('a')).toHaveLength(2);
    expect(s.list()).toHaveLength(3);
    // A new version under another parent and with a label moves between index entries.
    const moved = task('t2', 'a', 'u2');
    moved.metadata.labels = { k: 'v' };
    expect(s.set('a/t2', moved)?.spec.parent.uid).toBe('u1');
    expect(s.byIndex(BY_PARENT, 'u1').map((t) => t.metadata.name)).toEqual(['t1']);
    expect(s.byIndex(BY_PARENT, 'u2').map((t) => t.metadata.name).sort()).toEqual(['t2', 't3']);
    expect(s.byIndex(BY_LABEL, 'a/k=v')).toEqual([moved]);
    expect(s.delete('a/t2')).toBe(moved);
    expect(s.delete('a/t2')).toBeUndefined();
    expect(s.byIndex(BY_LABEL, 'a/k=v')).toEqual([]);
    expect(s.countByIndex(BY_PARENT, 'u2')).toBe(1);
    expect(s.list('a').map((t) => t.metadata.name)).toEqual(['t1']);
    expect(s.size).toBe(2);
    expect(() => s.byIndex('nope', 'x')).toThrow('no index named nope');
  });
});

describe('compareResourceVersion', () => {
  test('orders decimal resourceVersions by value, and refuses anything else', () => {
    expect(compareResourceVersion('9', '10')).toBeLessThan(0);
    expect(compareResourceVersion('100', '99')).toBeGreaterThan(0);
    expect(compareResourceVersion('123', '123')).toBe(0);
    expect(compareResourceVersion('12a', '13')).toBeUndefined();
    expect(compareResourceVersion('012', '13')).toBeUndefined();
    expect(compareResourceVersion(undefined, '13')).toBeUndefined();
  });
});

describe('Informer.observe', () => {
  // Never started: no request is made; observe() and get() work on the cache alone.
  const informer = () => new Informer<KubeObject>({ watcher: {} } as never, { group: 'ringtap.dev', version: 'v1alpha1', plural: 'things', kind: 'Thing', namespaced: true }, newLogger('test'), { namespace: 'a' });
  const obj = (rv: string, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'x', namespace: 'a', resourceVersion: rv, managedFields: [{}] }, ...extra }) as KubeObject;

  test('a write\'s answer enters the cache, transformed, unless the cache holds that version or a newer one', () => {
    const i = informer();
    i.observe(obj('10', { spec: 1 }));
    expect(i.get('a', 'x')).toEqual({ metadata: { name: 'x', namespace: 'a', resourceVersion: '10' }, spec: 1 });
    i.observe(obj('9', { spec: 0 }));
    expect(i.get('a', 'x')?.metadata.resourceVersion).toBe('10');
    i.observe(obj('11', { spec: 2 }));
    expect((i.get('a', 'x') as { spec?: number }).spec).toBe(2);
  });

  test('without comparable resourceVersions, or outside the informer\'s namespace, it does nothing', () => {
    const i = informer();
    i.observe(obj('abc'));
    expect(i.get('a', 'x')).toBeUndefined();
    i.observe({ metadata: { name: 'y', namespace: 'b', resourceVersion: '5' } });
    expect(i.get('b', 'y')).toBeUndefined();
  });
});
