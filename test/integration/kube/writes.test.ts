// createOrPatch against the real API server: a NodeTask is created when the cache has none,
// merge-patched to exactly the desired spec when it differs, left alone when it agrees; a cache
// that is behind (the object exists, or changed since) costs a GET, not a lost or blind write.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { KubeClient, type KubeObject } from '../../../lib/kube/kube.js';
import { createOrPatch, type WriteCache } from '../../../lib/kube/writes.js';
import { NodeTaskType } from '../../../crds/src/index.js';
import type { NodeTask } from '../../../lib/kube/objects.js';
import { installCRDs } from '../../support/crds.js';
import { adminConfig, createNamespace, deleteNamespace, uniqueName } from '../../support/kube.js';

const kc = adminConfig();
const client = new KubeClient(kc, 'writes-test');
let ns = '';

/** The cache's side of a write, as the informer's: what it holds and what it is given. */
class MapCache implements WriteCache<NodeTask> {
  readonly objects = new Map<string, NodeTask>();
  get(namespace: string | undefined, name: string): NodeTask | undefined { return this.objects.get(`${namespace}/${name}`); }
  observe(o: NodeTask): void { this.objects.set(`${o.metadata.namespace}/${o.metadata.name}`, o); }
}

function task(name: string, limits: Record<string, number>, labels: Record<string, string> = { 'ringtap.dev/node': 'n1' }): NodeTask {
  return {
    metadata: { name, namespace: ns, labels },
    spec: {
      node: 'n1',
      parent: { kind: 'PacketCapture', name: 'pc', namespace: ns, uid: '00000000-0000-4000-8000-000000000001', generation: 1 },
      packetCapture: {
        pods: [{ name: 'p1', namespace: ns, uid: '00000000-0000-4000-8000-000000000002', ips: ['10.0.0.1'] }],
        interfaces: [], capturePoint: 'pod', filter: 'tcp', snapLength: 262144, limits, output: { format: 'pcapng' }, timestamps: 'software',
      },
    },
  } as unknown as NodeTask;
}

beforeAll(async () => {
  await installCRDs(kc);
  ns = await createNamespace('writes');
}, 60_000);

afterAll(async () => {
  if (ns) await deleteNamespace(ns);
});

describe('createOrPatch', () => {
  test('creates when absent (a create, not an apply), then writes nothing when nothing changed', async () => {
    const cache = new MapCache();
    const name = uniqueName('t');
    const first = await createOrPatch(client, NodeTaskType, cache, task(name, { maxPackets: 10 }));
    expect(first.written).toBe(true);
    const live = await client.get<NodeTask & { metadata: { managedFields?: { operation: string; manager: string }[] } }>(NodeTaskType, ns, name);
    expect(live.metadata.managedFields?.map((m) => `${m.manager} ${m.operation}`)).toEqual(['writes-test Update']);
    expect(cache.get(ns, name)?.metadata.resourceVersion).toBe(live.metadata.resourceVersion);
    const again = await createOrPatch(client, NodeTaskType, cache, task(name, { maxPackets: 10 }));
    expect(again.written).toBe(false);
    expect((await client.get<NodeTask>(NodeTaskType, ns, name)).metadata.resourceVersion).toBe(live.metadata.resourceVersion);
  });

  test('a changed spec field is patched to exactly the desired one: a key it no longer has is removed', async () => {
    const cache = new MapCache();
    const name = uniqueName('t');
    await createOrPatch(client, NodeTaskType, cache, task(name, { maxPackets: 10, maxBytes: 1000 }));
    const desired = task(name, { maxBytes: 2000 });
    const r = await createOrPatch(client, NodeTaskType, cache, desired);
    expect(r.written).toBe(true);
    const live = await client.get<NodeTask>(NodeTaskType, ns, name);
    expect(live.spec.packetCapture?.limits).toEqual({ maxBytes: 2000 });
    // cleanup is the server's default (false): a field the desired spec does not name stays.
    expect(live.spec).toEqual({ ...desired.spec, cleanup: false });
    expect(live.metadata.generation).toBe(2);
  });

  test('a cache that is behind: an existing object is patched, not created twice; a changed one is re-read, and others\' labels stay', async () => {
    const name = uniqueName('t');
    const writer = new MapCache();
    await createOrPatch(client, NodeTaskType, writer, task(name, { maxPackets: 10 }));
    // A cache that never saw the object: the create meets AlreadyExists, then a GET and a patch.
    const empty = new MapCache();
    const r = await createOrPatch(client, NodeTaskType, empty, task(name, { maxPackets: 20 }));
    expect(r.written).toBe(true);
    expect((await client.get<NodeTask>(NodeTaskType, ns, name)).spec.packetCapture?.limits).toEqual({ maxPackets: 20 });
    // `writer` still holds the first version; someone else labels the object meanwhile.
    await client.mergePatch<KubeObject>(NodeTaskType, ns, name, { metadata: { labels: { other: 'x' } } });
    const r2 = await createOrPatch(client, NodeTaskType, writer, task(name, { maxPackets: 30 }, { 'ringtap.dev/node': 'n1', mine: 'y' }));
    expect(r2.written).toBe(true);
    const live = await client.get<NodeTask>(NodeTaskType, ns, name);
    expect(live.spec.packetCapture?.limits).toEqual({ maxPackets: 30 });
    expect(live.metadata.labels).toEqual({ 'ringtap.dev/node': 'n1', mine: 'y', other: 'x' });
    expect(writer.get(ns, name)?.metadata.resourceVersion).toBe(live.metadata.resourceVersion);
  });
});
