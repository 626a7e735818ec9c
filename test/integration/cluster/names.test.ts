// hack/cluster writes names as JSON strings: names that YAML 1.1 would read as booleans or
// numbers (`y`, `no`, `on`, `123`) make nodes, pods and labels like any other name.
import { afterAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { addNode, addPod, cluster, delNode, delPod } from '../../support/cluster.js';
import { adminConfig } from '../../support/kube.js';

const core = adminConfig().makeApiClient(k8s.CoreV1Api);
const node = 'y', namespace = 'no', pods = ['y', '123'];

afterAll(async () => {
  for (const p of pods) await delPod(namespace, p).catch(() => undefined);
  await delNode(node).catch(() => undefined);
  await cluster(['kubectl', 'delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']).catch(() => undefined);
}, 60_000);

describe('hack/cluster names that YAML 1.1 reads as other types', () => {
  test('a node named y', async () => {
    await addNode(node);
    const n = await core.readNode({ name: node });
    expect(n.metadata?.name).toBe('y');
    expect(n.metadata?.labels?.['kubernetes.io/hostname']).toBe('y');
  }, 30_000);

  test('pods named y and 123 in namespace no, with a label on=yes', async () => {
    for (const name of pods) {
      const p = await addPod(node, namespace, name, { on: 'yes' });
      expect(p.uid).toMatch(/^[0-9a-f-]{36}$/);
      const live = await core.readNamespacedPod({ namespace, name });
      expect(live.metadata?.name).toBe(name);
      expect(live.metadata?.labels).toEqual({ on: 'yes' });
      expect(live.spec?.nodeName).toBe('y');
      expect(live.status?.phase).toBe('Running');
    }
  }, 60_000);
});
