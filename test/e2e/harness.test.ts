// The simulated cluster behaves like a real one where ringtap looks: Ready nodes, running pods
// that reach each other across nodes, and pods findable from their UID alone.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findHostVeth, podInterfaces, resolvePodNetns } from '../../agent/src/node/podnetns.js';
import { addNode, addPod, cluster, delNode, delPod, inNetns, readEnvFile, type SimNode, type SimPod } from '../support/cluster.js';
import { uniqueName } from '../support/kube.js';

const execFileP = promisify(execFile);

function kubectlBin(): string {
  const cache = process.env.RINGTAP_CACHE ?? join(process.env.HOME ?? '/root', '.cache/ringtap');
  const dir = readdirSync(join(cache, 'bin')).find((d) => d.startsWith('k8s-'));
  if (!dir) throw new Error('control-plane binaries not built');
  return join(cache, 'bin', dir, 'kubectl');
}

describe('two simulated nodes with pods', () => {
  const n1 = uniqueName('hn'), n2 = uniqueName('hn'), ns = uniqueName('harness');
  let nodes: SimNode[] = [];
  let pods: SimPod[] = [];

  beforeAll(async () => {
    nodes = [await addNode(n1), await addNode(n2)];
    pods = [
      await addPod(n1, ns, 'web-1', { app: 'web' }),
      await addPod(n2, ns, 'web-2', { app: 'web' }),
    ];
  }, 60_000);

  afterAll(async () => {
    for (const p of pods) await delPod(p.namespace, p.name).catch(() => undefined);
    for (const n of [n1, n2]) await delNode(n).catch(() => undefined);
    await cluster(['kubectl', 'delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(() => undefined);
  }, 60_000);

  test('kubectl get nodes shows both nodes Ready', async () => {
    const { stdout } = await execFileP(kubectlBin(), ['--kubeconfig', process.env.KUBECONFIG!, 'get', 'nodes', n1, n2, '--no-headers']);
    const lines = stdout.trim().split('\n').map((l) => l.split(/\s+/));
    expect(lines.map((l) => [l[0], l[1]]).sort()).toEqual([[n1, 'Ready'], [n2, 'Ready']].sort());
  });

  test('pods are Running with their pod IPs, bound to their nodes', async () => {
    const out = await cluster(['kubectl', 'get', 'pods', '-n', ns, '-o', 'json']);
    const items = (JSON.parse(out) as { items: { metadata: { name: string; uid: string }; spec: { nodeName: string }; status: { phase: string; podIP: string } }[] }).items;
    const got = items.map((p) => [p.metadata.name, p.metadata.uid, p.spec.nodeName, p.status.phase, p.status.podIP]).sort();
    expect(got).toEqual(pods.map((p) => [p.name, p.uid, p.node, 'Running', p.ip]).sort());
  });

  test('a pod reaches a pod on the other node', async () => {
    const out = await inNetns(pods[0]!.netns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', pods[1]!.ip]);
    expect(out).toMatch(/3 packets transmitted, 3 received/);
  });

  test('the network namespace and host-side veth are found from the pod UID alone', async () => {
    for (const pod of pods) {
      const found = await resolvePodNetns(pod.uid);
      expect(found.pid).toBe(pod.pid);
      // Same namespace as the one the harness created, compared by inode.
      expect(found.netnsInode).toBe(statSync(`/run/netns/${pod.netns}`).ino);
      expect((await podInterfaces(found.netnsPath)).map((i) => i.name)).toEqual(['eth0']);
      const node = nodes.find((n) => n.name === pod.node)!;
      expect(await findHostVeth(found.netnsPath, 'eth0', `/run/netns/${node.netns}`)).toBe(pod.hostVeth);
    }
  });

  test('a restarted pod (deleted and re-added) has a new UID, namespace and veth', async () => {
    const old = pods[0]!;
    await delPod(old.namespace, old.name);
    await expect(resolvePodNetns(old.uid)).rejects.toMatchObject({ code: 'ERR_RINGTAP_POD_NOT_FOUND' });
    const fresh = await addPod(old.node, old.namespace, old.name, { app: 'web' });
    pods[0] = fresh;
    expect(fresh.uid).not.toBe(old.uid);
    expect(fresh.netns).not.toBe(old.netns);
    expect(fresh.hostVeth).not.toBe(old.hostVeth);
    const found = await resolvePodNetns(fresh.uid);
    expect(found.netnsInode).toBe(statSync(`/run/netns/${fresh.netns}`).ino);
  }, 30_000);
});

describe('hack/cluster down', () => {
  test('leaves no namespace, link, cgroup or process of the run behind', async () => {
    // A cluster of its own, so that tearing it down does not disturb the shared one.
    const own = mkdtempSync(join(tmpdir(), 'ringtap-down-'));
    const env = { ...process.env, RINGTAP_RUN_DIR: own };
    await cluster(['up'], env);
    try {
      const c = readEnvFile(join(own, 'cluster.env'));
      await cluster(['node', 'add', 'd1'], env);
      await cluster(['pod', 'add', 'd1', 'x', 'p1', 'app=x'], env);
      const pids = readdirSync(join(own, 'pids')).map((f) => Number(readFileSync(join(own, 'pids', f), 'utf8')));
      pids.push(Number(readEnvFile(join(own, 'pods', 'x_p1.env')).POD_PID));
      expect(pids.every((p) => existsSync(`/proc/${p}`))).toBe(true);

      await cluster(['down'], env);

      const netns = (await execFileP('ip', ['netns', 'list'])).stdout;
      expect(netns.split('\n').filter((l) => l.startsWith(`${c.PREFIX}-`))).toEqual([]);
      const links = (await execFileP('ip', ['-o', 'link', 'show'])).stdout;
      expect(links).not.toContain(`${c.PREFIX}ul`);
      expect(existsSync(c.CGROUP_DIR!)).toBe(false);
      expect(pids.filter((p) => existsSync(`/proc/${p}`))).toEqual([]);
      expect(existsSync(own)).toBe(false);
      // Idempotent: a second down is a no-op.
      await cluster(['down'], env);
    } finally {
      await cluster(['down'], env).catch(() => undefined);
    }
  }, 120_000);
});
