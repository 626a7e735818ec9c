// The PacketCapture controller, run as a real operator process under its own ServiceAccount,
// against the real API server: placement, pod churn, status aggregation, validation, deletion.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { addNode, addPod, cluster, delNode, delPod, type SimPod } from '../../support/cluster.js';
import { adminConfig, agentNodeToken, createNamespace, deleteCaptureNamespace, OPERATOR_NS, parentSelector, tokenConfig, uniqueName, waitFor } from '../../support/kube.js';
import { KubeClient, isNotFound, type KubeObject } from '../../../lib/kube/kube.js';
import { NodeTaskType, PacketCaptureType } from '../../../crds/src/index.js';
import type { NodeTask, PacketCapture } from '../../../lib/kube/objects.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
let ns: string;
const nodes = [uniqueName('op'), uniqueName('op'), uniqueName('op')];
const pods: SimPod[] = [];

function captureObj(name: string, spec: Record<string, unknown>): PacketCapture {
  return { metadata: { name, namespace: ns }, spec: spec as unknown as PacketCapture["spec"] };
}
async function tasksOf(name: string): Promise<NodeTask[]> {
  const list = await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, name) });
  return list.items.sort((a, b) => a.spec.node.localeCompare(b.spec.node));
}
async function capture(name: string): Promise<PacketCapture> {
  return admin.get<PacketCapture>(PacketCaptureType, ns, name);
}
function condition(c: PacketCapture, type: string) {
  return c.status?.conditions?.find((x) => x.type === type);
}

/** A client with the node's agent token (bound to the Node), writing NodeTask status as that node's agent does. */
async function agentClient(node: string): Promise<KubeClient> {
  return new KubeClient(tokenConfig(await agentNodeToken(node)), `ringtap-agent/${node}`);
}

beforeAll(async () => {
  ns = await createNamespace('pcap');
  // The test plays the agents: it writes NodeTask status itself.
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: 'ringtap-system', RINGTAP_AGENTS: '0' });
  for (const n of nodes) await addNode(n);
  pods.push(await addPod(nodes[0]!, ns, 'web-0', { app: 'web' }));
  pods.push(await addPod(nodes[1]!, ns, 'web-1', { app: 'web' }));
  pods.push(await addPod(nodes[2]!, ns, 'web-2', { app: 'web' }));
  pods.push(await addPod(nodes[0]!, ns, 'db-0', { app: 'db' }));
}, 120_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of pods) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of nodes) await delNode(n).catch(() => undefined);
  await deleteCaptureNamespace(ns);
}, 120_000);

describe('placement', () => {
  test('one NodeTask per node with that node\'s selected pods, in the operator\'s namespace, naming the capture', async () => {
    await admin.create(PacketCaptureType, captureObj('web', {
      targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: 'tcp port 80', limits: { duration: '10m' },
    }));
    const tasks = await waitFor('three NodeTasks', async () => {
      const t = await tasksOf('web');
      return t.length === 3 ? t : undefined;
    });
    const cap = await capture('web');
    expect(tasks.map((t) => t.spec.node)).toEqual([...nodes].sort());
    for (const t of tasks) {
      const expected = pods.filter((p) => p.node === t.spec.node && p.name.startsWith('web'));
      expect(t.spec.packetCapture?.pods?.map((p) => [p.name, p.uid, p.ips])).toEqual(expected.map((p) => [p.name, p.uid, [p.ip]]));
      expect(t.spec.packetCapture?.filter).toBe('tcp port 80');
      expect(t.spec.packetCapture?.limits?.durationSeconds).toBe(600);
      expect(t.spec.parent).toMatchObject({ kind: 'PacketCapture', name: 'web', uid: cap.metadata.uid });
      expect(t.metadata.namespace).toBe(OPERATOR_NS);
      expect(t.spec.parent.namespace).toBe(ns);
      // No owner reference (it cannot cross namespaces): the parent is named by spec and labels.
      expect(t.metadata.ownerReferences).toBeUndefined();
      expect(t.metadata.labels).toMatchObject({
        'ringtap.dev/node': t.spec.node, 'ringtap.dev/parent-kind': 'PacketCapture', 'ringtap.dev/parent-namespace': ns,
        'ringtap.dev/parent-name': 'web', 'ringtap.dev/parent-uid': cap.metadata.uid,
      });
    }
    expect(cap.metadata.finalizers).toContain('ringtap.dev/cleanup');
  }, 30_000);

  test('pod churn: a new pod joins, a deleted pod leaves, a restarted pod is replaced, within 2 s', async () => {
    const joined = await addPod(nodes[0]!, ns, 'web-3', { app: 'web' });
    pods.push(joined);
    await waitFor('web-3 in the NodeTask of its node', async () => {
      const t = (await tasksOf('web')).find((x) => x.spec.node === nodes[0]);
      return t?.spec.packetCapture?.pods?.some((p) => p.uid === joined.uid) || undefined;
    }, 2_000, 50);

    // The only selected pod of node 3 goes: its NodeTask stays (its files with it), emptied.
    await delPod(ns, 'web-2');
    pods.splice(pods.findIndex((p) => p.name === 'web-2'), 1);
    await waitFor('the NodeTask of node 3 to be emptied', async () => {
      const t = (await tasksOf('web')).find((x) => x.spec.node === nodes[2]);
      return (t !== undefined && (t.spec.packetCapture?.pods ?? []).length === 0) || undefined;
    }, 2_000, 50);

    // A restart: same name, new UID.
    const old = pods.find((p) => p.name === 'web-1')!;
    await delPod(ns, 'web-1');
    const fresh = await addPod(nodes[1]!, ns, 'web-1', { app: 'web' });
    pods.splice(pods.indexOf(old), 1, fresh);
    await waitFor('web-1 replaced by its new UID', async () => {
      const t = (await tasksOf('web')).find((x) => x.spec.node === nodes[1]);
      const uids = t?.spec.packetCapture?.pods?.map((p) => p.uid) ?? [];
      return (uids.includes(fresh.uid) && !uids.includes(old.uid)) || undefined;
    }, 2_000, 50);
  }, 60_000);
});

describe('status aggregation', () => {
  test('NodeTask statuses written by agents add up in the capture\'s status', async () => {
    const tasks = await tasksOf('web');
    let i = 0;
    for (const t of tasks) {
      // The emptied task of node 3 runs too, with nothing to count.
      const empty = (t.spec.packetCapture?.pods?.length ?? 0) === 0;
      if (!empty) i += 1;
      await (await agentClient(t.spec.node)).apply({ ...NodeTaskType }, {
        metadata: { name: t.metadata.name, namespace: OPERATOR_NS },
        status: empty ? { phase: 'Running' } : { phase: 'Running', counters: { packets: 100 * i, bytes: 10_000 * i, drops: i }, files: [{ name: `f${i}.pcapng`, size: 1000 }] },
      } as KubeObject, { subresource: 'status' });
    }
    const running = await waitFor('the capture to be Running with summed totals', async () => {
      const c = await capture('web') as PacketCapture & { status: { totals?: { packets: number } } };
      return c.status?.phase === 'Running' && c.status.totals?.packets === 300 ? c : undefined;
    });
    expect((running.status as Record<string, unknown>).totals).toMatchObject({ nodes: 3, pods: 3, packets: 300, bytes: 30_000, drops: 3, files: 2 });
    expect(condition(running, 'Ready')?.status).toBe('True');
    expect(running.status?.startTime).toBeDefined();

    for (const t of tasks) {
      await (await agentClient(t.spec.node)).apply({ ...NodeTaskType }, {
        metadata: { name: t.metadata.name, namespace: OPERATOR_NS }, status: { phase: 'Completed', stopReason: 'DurationReached' },
      } as KubeObject, { subresource: 'status' });
    }
    const done = await waitFor('the capture to complete', async () => {
      const c = await capture('web');
      return c.status?.phase === 'Completed' ? c : undefined;
    });
    expect(done.status?.stopReason).toBe('DurationReached');
    expect(done.status?.completionTime).toBeDefined();
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'Completed' });
  }, 30_000);
});

describe('validation the schema cannot do', () => {
  test('a filter libpcap cannot compile makes the capture Stalled with libpcap\'s message', async () => {
    await admin.create(PacketCaptureType, captureObj('badfilter', {
      targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: 'tcp port eighty', limits: { maxPackets: 10 },
    }));
    const c = await waitFor('Stalled', async () => {
      const x = await capture('badfilter');
      return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
    });
    expect(condition(c, 'Stalled')?.reason).toBe('InvalidFilter');
    expect(condition(c, 'Stalled')?.message).toMatch(/^spec\.filter: .*(syntax error|unknown port|eighty)/);
    expect(await tasksOf('badfilter')).toEqual([]);
  });

  test('a node-interface target from an untrusted namespace is refused', async () => {
    await admin.create(PacketCaptureType, captureObj('nodes', {
      targets: { nodes: { all: true, interfaces: ['eth0'] } }, limits: { maxPackets: 10 },
    }));
    const c = await waitFor('Stalled', async () => {
      const x = await capture('nodes');
      return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
    });
    expect(condition(c, 'Stalled')?.reason).toBe('UntrustedNamespace');
    expect(condition(c, 'Stalled')?.message).toContain(`namespace ${ns} is not one`);
    expect(await tasksOf('nodes')).toEqual([]);
  });

  test('targets that match nothing give Ready=False with reason NoTargets', async () => {
    await admin.create(PacketCaptureType, captureObj('nobody', {
      targets: { pods: { selector: { matchLabels: { app: 'nothing-here' } } } }, limits: { maxPackets: 10 },
    }));
    const c = await waitFor('NoTargets', async () => {
      const x = await capture('nobody');
      return condition(x, 'Ready')?.reason === 'NoTargets' ? x : undefined;
    });
    expect(condition(c, 'Ready')?.status).toBe('False');
    expect(condition(c, 'Stalled')?.status).toBe('False');
    expect(c.status?.phase).toBe('Pending');
  });
});

describe('deletion', () => {
  test('deleting a capture waits for the agents\' cleanup, then removes its NodeTasks and finalizer', async () => {
    await admin.create(PacketCaptureType, captureObj('gone', {
      targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, limits: { maxPackets: 1000 },
    }));
    const tasks = await waitFor('NodeTasks', async () => {
      const t = await tasksOf('gone');
      return t.length === 2 ? t : undefined;
    });
    await admin.delete(PacketCaptureType, ns, 'gone');
    // The operator asks each agent to clean up; the capture stays until they acknowledge.
    await waitFor('cleanup requested on both NodeTasks', async () => {
      const t = await tasksOf('gone');
      return (t.length === 2 && t.every((x) => x.spec.cleanup === true)) || undefined;
    });
    expect((await capture('gone')).metadata.deletionTimestamp).toBeDefined();
    for (const t of tasks) {
      await (await agentClient(t.spec.node)).apply({ ...NodeTaskType }, {
        metadata: { name: t.metadata.name, namespace: OPERATOR_NS }, status: { phase: 'Stopped', cleanedUp: true },
      } as KubeObject, { subresource: 'status' });
    }
    await waitFor('the capture to be gone', async () => {
      try {
        await capture('gone');
        return undefined;
      } catch (err) {
        return isNotFound(err) || undefined;
      }
    });
    // The operator deleted them before it let the capture go: nothing is left to collect.
    expect(await tasksOf('gone')).toEqual([]);
  }, 60_000);

  test('a capture deleted while no operator runs leaves NodeTasks that the next operator deletes as orphans', async () => {
    await admin.create(PacketCaptureType, captureObj('orphaned', {
      targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, limits: { maxPackets: 1000 },
    }));
    await waitFor('NodeTasks', async () => ((await tasksOf('orphaned')).length === 2) || undefined);
    await cluster(['ringtap', 'stop']);
    // With no operator, someone removes the finalizer and the capture goes at once.
    await admin.mergePatch(PacketCaptureType, ns, 'orphaned', { metadata: { finalizers: null } });
    await admin.delete(PacketCaptureType, ns, 'orphaned');
    await waitFor('the capture to be gone', async () => (await admin.get(PacketCaptureType, ns, 'orphaned').then(() => false, (err: unknown) => isNotFound(err))) || undefined);
    expect((await tasksOf('orphaned')).length).toBe(2);
    await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: 'ringtap-system', RINGTAP_AGENTS: '0' });
    await waitFor('the orphaned NodeTasks to be deleted', async () => ((await tasksOf('orphaned')).length === 0) || undefined, 30_000);
    // The sweep took only the orphans: the live capture's tasks stay.
    expect((await tasksOf('web')).length).toBe(3);
  }, 90_000);
});
