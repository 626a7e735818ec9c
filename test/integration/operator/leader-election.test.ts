// Two operator processes share one Lease: killing the leader by PID hands leadership to the
// other within the lease duration, and placement goes on without duplicate or lost NodeTasks.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addNode, addPod, cluster, delNode, delPod, runDir, type SimPod } from '../../support/cluster.js';
import { adminConfig, createNamespace, deleteCaptureNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../../support/kube.js';
import { KubeClient, LeaseType, type KubeObject } from '../../../lib/kube/kube.js';
import { NodeTaskType, PacketCaptureType } from '../../../crds/src/index.js';
import type { NodeTask, PacketCapture } from '../../../lib/kube/objects.js';

type Lease = KubeObject & { spec?: { holderIdentity?: string | null; leaseTransitions?: number } };
const admin = new KubeClient(adminConfig(), 'test-admin');
let ns: string;
const nodes = [uniqueName('le'), uniqueName('le')];
const pods: SimPod[] = [];

const pidOf = (id: string) => Number(readFileSync(join(runDir(), 'pids', `${id}.pid`), 'utf8'));
const holder = async () => (await admin.get<Lease>(LeaseType, 'ringtap-system', 'ringtap-operator')).spec?.holderIdentity ?? '';
const tasks = async (name: string) => (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, name) })).items;

beforeAll(async () => {
  ns = await createNamespace('lease');
  await cluster(['ringtap', 'stop']);
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_OPERATOR_REPLICAS: '2', RINGTAP_AGENTS: '0' });
  for (const n of nodes) await addNode(n);
  pods.push(await addPod(nodes[0]!, ns, 'a', { app: 'x' }));
}, 120_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of pods) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of nodes) await delNode(n).catch(() => undefined);
  await deleteCaptureNamespace(ns);
}, 120_000);

test('the standby takes over within the lease duration after the leader is killed', async () => {
  const leader = await waitFor('a leader', async () => (await holder()) || undefined);
  expect(['operator-0', 'operator-1']).toContain(leader);
  const standby = leader === 'operator-0' ? 'operator-1' : 'operator-0';

  await admin.create(PacketCaptureType, { metadata: { name: 'x', namespace: ns }, spec: { targets: { pods: { selector: { matchLabels: { app: 'x' } } } }, limits: { maxPackets: 10 } } } as unknown as PacketCapture);
  await waitFor('the leader to place the capture', async () => ((await tasks('x')).length === 1) || undefined);

  const killedAt = Date.now();
  process.kill(pidOf(leader), 'SIGKILL');
  await waitFor('the standby to hold the lease', async () => ((await holder()) === standby) || undefined, 20_000, 200);
  const takeover = Date.now() - killedAt;
  expect(takeover).toBeLessThan(15_000 + 2_000 * 2); // lease duration plus two retry periods of slack

  // The new leader keeps placing: a pod on the second node gets its NodeTask, exactly one per node.
  pods.push(await addPod(nodes[1]!, ns, 'b', { app: 'x' }));
  const t = await waitFor('two NodeTasks', async () => {
    const list = await tasks('x');
    return list.length === 2 ? list : undefined;
  }, 20_000);
  expect(t.map((x) => x.spec.node).sort()).toEqual([...nodes].sort());
  const lease = await admin.get<Lease>(LeaseType, 'ringtap-system', 'ringtap-operator');
  expect(lease.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
}, 90_000);
