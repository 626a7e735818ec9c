// PacketCapture end to end: the operator and one agent per simulated node as processes,
// real pods (network namespaces), real packets, files read back with tshark and tcpdump.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NodeTaskStatus, NodeTaskType, PacketCaptureType } from '../../crds/src/index.js';
import type { NodeTask, PacketCapture } from '../../lib/kube/objects.js';
import { KubeClient, NodeType, isNotFound, type KubeObject } from '../../lib/kube/kube.js';
import { agentCaptureDir, captureFiles, countByInterface, packets, ping, sendUdp, tcpdumpCount } from '../support/capture.js';
import { addNode, addPod, cluster, delNode, delPod, readPod, runDir, type SimNode, type SimPod } from '../support/cluster.js';
import { adminConfig, createNamespace, deleteCaptureNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../support/kube.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
const ECHO = 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply';
/** The same packets as ECHO, as a Wireshark display filter. */
const ECHO_DISPLAY = 'icmp.type == 8 or icmp.type == 0';
let ns: string;
let nodes: SimNode[] = [];
const pods = new Map<string, SimPod>();

type Capture = PacketCapture & { status?: PacketCapture['status'] & { totals?: { packets: number; bytes: number; drops: number; files: number } } };

async function getCapture(name: string): Promise<Capture> {
  return admin.get<Capture>(PacketCaptureType, ns, name);
}
async function tasksOf(name: string): Promise<NodeTask[]> {
  return (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, name) })).items;
}
async function createCapture(name: string, spec: Record<string, unknown>): Promise<void> {
  await admin.create(PacketCaptureType, { metadata: { name, namespace: ns }, spec } as unknown as PacketCapture);
}
/** Waits until every NodeTask of the capture reports all its targets attached. */
async function attached(name: string, nodeCount: number, check?: (s: NodeTaskStatus, t: NodeTask) => boolean): Promise<NodeTask[]> {
  return waitFor(`${name}: targets attached on ${nodeCount} node(s)`, async () => {
    const t = await tasksOf(name);
    const ok = t.length === nodeCount && t.every((x) => x.status?.phase === 'Running'
      && (x.status.targets?.length ?? 0) === (x.spec.packetCapture?.pods?.length ?? 0) + (x.spec.packetCapture?.interfaces?.length ?? 0)
      && x.status.targets!.every((g) => g.state === 'Attached') && (!check || check(x.status, x)));
    return ok ? t : undefined;
  }, 30_000, 100);
}
function pod(name: string): SimPod {
  return pods.get(name)!;
}

beforeAll(async () => {
  ns = await createNamespace('e2e-pcap');
  nodes = [await addNode(uniqueName('pc')), await addNode(uniqueName('pc'))];
  for (const [name, node, app] of [['web-1', 0, 'web'], ['web-2', 1, 'web'], ['web-3', 0, 'web'], ['client', 1, 'client']] as const) {
    pods.set(name, await addPod(nodes[node]!.name, ns, name, { app }));
  }
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: `ringtap-system,${ns}` });
}, 180_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of pods.values()) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of nodes) await delNode(n.name).catch(() => undefined);
  await deleteCaptureNamespace(ns);
}, 180_000);

describe('a filtered capture of three pods on two nodes', () => {
  test('files hold exactly the matching packets per pod, totals equal the files, and it completes with its stop reason', async () => {
    await createCapture('echo', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: ECHO, limits: { duration: '12s' } });
    await attached('echo', 2);
    const sent = new Map([['web-1', 7], ['web-2', 5], ['web-3', 3]]);
    for (const [name, n] of sent) {
      await ping(pod('client').netns, pod(name).ip, n);
      await sendUdp(pod('client').netns, pod(name).ip, 9999, 20); // fails the filter
    }
    const done = await waitFor('the capture to complete', async () => {
      const c = await getCapture('echo');
      return c.status?.phase === 'Completed' ? c : undefined;
    }, 40_000, 250);
    expect(done.status?.stopReason).toBe('DurationReached');

    const files = nodes.flatMap((n) => captureFiles(agentCaptureDir(n.name, ns, 'echo')));
    expect(files.length).toBe(2);
    const perIface = await countByInterface(files);
    for (const [name, n] of sent) {
      const p = pod(name);
      // Each echo request and its reply cross the pod's eth0.
      expect(perIface.get(`node=${p.node} pod=${ns}/${name} uid=${p.uid} interface=eth0`)).toBe(2 * n);
    }
    let total = 0;
    for (const f of files) {
      expect(await packets(f, `not (${ECHO_DISPLAY})`)).toEqual([]);
      const n = (await packets(f)).length;
      expect(await tcpdumpCount(f)).toBe(n);
      total += n;
    }
    expect(total).toBe(30);
    expect(done.status?.totals?.packets).toBe(total);
    expect(done.status?.totals?.drops).toBe(0);
    // Each agent's /metrics says the same per capture.
    let fromMetrics = 0;
    for (const n of nodes) {
      const text = execFileSync('ip', ['netns', 'exec', n.netns, 'curl', '-sf', 'http://127.0.0.1:9090/metrics'], { encoding: 'utf8' });
      const m = new RegExp(`^ringtap_capture_packets\\{namespace="${ns}",capture="echo"\\} (\\d+)$`, 'm').exec(text);
      fromMetrics += Number(m?.[1] ?? NaN);
      expect(text).toMatch(/^ringtap_stream_consumers 0$/m);
    }
    expect(fromMetrics).toBe(total);
  }, 90_000);
});

describe('pods and agents come and go', () => {
  test('a pod restarted mid-capture is followed: a new IDB in the same capture', async () => {
    await createCapture('restart', { targets: { pods: { names: ['web-3'] } }, filter: ECHO, limits: { maxPackets: 100_000 } });
    const before = pod('web-3');
    await attached('restart', 1);
    await ping(pod('client').netns, before.ip, 4);

    await delPod(ns, 'web-3');
    const after = await addPod(before.node, ns, 'web-3', { app: 'web' });
    pods.set('web-3', after);
    await attached('restart', 1, (s) => s.targets?.[0]?.message?.includes(`uid=${after.uid}`) ?? false);
    await ping(pod('client').netns, after.ip, 3);

    const dir = agentCaptureDir(before.node, ns, 'restart');
    const counts = await waitFor('both segments of the pod in the file', async () => {
      const c = await countByInterface(captureFiles(dir));
      return c.get(`node=${before.node} pod=${ns}/web-3 uid=${after.uid} interface=eth0`) === 6 ? c : undefined;
    }, 10_000, 200);
    expect(counts.get(`node=${before.node} pod=${ns}/web-3 uid=${before.uid} interface=eth0`)).toBe(8);
    await admin.delete(PacketCaptureType, ns, 'restart');
  }, 90_000);

  test('an agent killed with SIGKILL mid-capture resumes in a new segment; files stay valid, counts never go backwards', async () => {
    await createCapture('survive', { targets: { pods: { names: ['web-2'] } }, filter: ECHO, limits: { maxPackets: 100_000 } });
    const web2 = pod('web-2');
    await attached('survive', 1);
    await ping(pod('client').netns, web2.ip, 5);
    await waitFor('10 packets reported', async () => ((await getCapture('survive')).status?.totals?.packets === 10) || undefined, 15_000, 200);

    const seen: number[] = [];
    const watch = setInterval(() => void getCapture('survive').then((c) => seen.push(c.status?.totals?.packets ?? 0), () => undefined), 100);
    try {
      const pid = Number(readFileSync(join(runDir(), 'pids', `agent-${web2.node}.pid`), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor('the agent to be gone', () => !existsSync(`/proc/${pid}`) || undefined, 5_000, 50);
      const killedAt = Date.now();
      await cluster(['ringtap', 'agent', web2.node]);
      // The status the dead agent left says Attached too: wait for one the new agent wrote.
      await attached('survive', 1, (s) => (s.counters?.packets ?? 0) >= 10 && Date.parse(s.lastUpdateTime ?? '') > killedAt);
      await ping(pod('client').netns, web2.ip, 4);
      await waitFor('18 packets reported', async () => ((await getCapture('survive')).status?.totals?.packets === 18) || undefined, 15_000, 200);
    } finally {
      clearInterval(watch);
    }
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    const files = captureFiles(agentCaptureDir(web2.node, ns, 'survive'));
    expect(files.length).toBe(2);
    let total = 0;
    for (const f of files) total += (await packets(f)).length; // tshark fails on a broken file
    expect(total).toBe(18);
    await admin.delete(PacketCaptureType, ns, 'survive');
  }, 90_000);
});

describe('changing a running capture', () => {
  test('a lower packet limit takes effect at once, in a new file segment, and counts carry over', async () => {
    await createCapture('grow', { targets: { pods: { names: ['web-1'] } }, filter: ECHO, limits: { maxPackets: 100_000 } });
    const web1 = pod('web-1');
    await attached('grow', 1);
    await ping(pod('client').netns, web1.ip, 2);
    await waitFor('4 packets reported', async () => ((await getCapture('grow')).status?.totals?.packets === 4) || undefined, 15_000, 200);
    await admin.mergePatch(PacketCaptureType, ns, 'grow', { spec: { limits: { maxPackets: 10 } } });
    await waitFor('the agent to take the new limit', async () => ((await tasksOf('grow'))[0]?.spec.packetCapture?.limits?.maxPackets === 10) || undefined, 10_000, 100);
    // The new settings run in a new file segment: wait for it before making more traffic.
    await attached('grow', 1, (s) => (s.counters?.packets ?? 0) === 4 && (s.files ?? []).some((f) => f.name.endsWith('-000001.pcapng')));
    await ping(pod('client').netns, web1.ip, 5);
    const done = await waitFor('the capture to complete on its new limit', async () => {
      const c = await getCapture('grow');
      return c.status?.phase === 'Completed' ? c : undefined;
    }, 20_000, 200);
    expect(done.status?.stopReason).toBe('PacketLimitReached');
    expect(done.status?.totals?.packets).toBe(10);
    const files = captureFiles(agentCaptureDir(web1.node, ns, 'grow'));
    expect(files.length).toBe(2);
    let n = 0;
    for (const f of files) n += (await packets(f)).length;
    expect(n).toBe(10);
    await admin.delete(PacketCaptureType, ns, 'grow');
  }, 90_000);
});

describe('files', () => {
  test('a full disk stops the capture with a clean file and says so', async () => {
    const node = pod('web-1').node;
    const dir = join(runDir(), 'agent-data', node, ns, 'full');
    mkdirSync(dir, { recursive: true });
    // The agent runs in a mount namespace of its own (ip netns exec makes one): mount there.
    const agentPid = readFileSync(join(runDir(), 'pids', `agent-${node}.pid`), 'utf8').trim();
    const inAgentMounts = (cmd: string[]) => execFileSync('nsenter', ['-t', agentPid, '-m', ...cmd]);
    inAgentMounts(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'ringtap-test', dir]);
    try {
      await createCapture('full', { targets: { pods: { names: ['web-1'] } }, limits: { maxPackets: 100_000 } });
      await attached('full', 1);
      // 1400-byte echoes fill 256 KiB after roughly 180 packets.
      execFileSync('ip', ['netns', 'exec', pod('client').netns, 'ping', '-c', '400', '-i', '0.005', '-s', '1400', '-q', pod('web-1').ip], { timeout: 30_000 });
      const c = await waitFor('the capture to fail on the full disk', async () => {
        const x = await getCapture('full');
        return x.status?.phase === 'Failed' ? x : undefined;
      }, 20_000, 200);
      const task = (await tasksOf('full'))[0]!;
      expect(task.status?.message).toMatch(/^DiskFull: /);
      expect(c.status?.conditions?.find((x) => x.type === 'Stalled')?.message).toContain('DiskFull');
      // Read the files as the agent sees them, through its mount namespace.
      const files = captureFiles(join(`/proc/${agentPid}/root`, dir, node));
      expect(files.length).toBe(1);
      const n = (await packets(files[0]!)).length;
      expect(n).toBeGreaterThan(50);
      expect(await tcpdumpCount(files[0]!)).toBe(n);
      await admin.delete(PacketCaptureType, ns, 'full');
      await waitFor('the capture to be deleted', async () => admin.get(PacketCaptureType, ns, 'full').then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 20_000);
    } finally {
      inAgentMounts(['umount', '-l', dir]);
    }
  }, 90_000);

  test('deleting a capture removes its files on every node', async () => {
    await createCapture('bye', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: ECHO, limits: { maxPackets: 100_000 } });
    await attached('bye', 2);
    await ping(pod('client').netns, pod('web-1').ip, 2);
    const dirs = nodes.map((n) => agentCaptureDir(n.name, ns, 'bye'));
    for (const d of dirs) expect(captureFiles(d).length).toBe(1);
    await admin.delete(PacketCaptureType, ns, 'bye');
    await waitFor('the capture to be gone', async () => admin.get(PacketCaptureType, ns, 'bye').then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 20_000);
    for (const d of dirs) expect(existsSync(d)).toBe(false);
  }, 60_000);

  test('a node interface deleted mid-capture closes cleanly and a recreated one resumes', async () => {
    const node = nodes[0]!;
    const peer = `${node.netns}-peer`;
    const mk = () => {
      execFileSync('ip', ['-n', node.netns, 'link', 'add', 'tap-test', 'type', 'veth', 'peer', 'name', 'tap-peer', 'netns', peer]);
      execFileSync('ip', ['-n', node.netns, 'addr', 'add', '192.0.2.1/30', 'dev', 'tap-test']);
      execFileSync('ip', ['-n', node.netns, 'link', 'set', 'tap-test', 'up']);
      execFileSync('ip', ['-n', peer, 'addr', 'add', '192.0.2.2/30', 'dev', 'tap-peer']);
      execFileSync('ip', ['-n', peer, 'link', 'set', 'tap-peer', 'up']);
    };
    execFileSync('ip', ['netns', 'add', peer]);
    try {
      mk();
      await createCapture('nodeif', { targets: { nodes: { names: [node.name], interfaces: ['tap-test'] } }, filter: ECHO, limits: { maxPackets: 100_000 } });
      await attached('nodeif', 1);
      await ping(peer, '192.0.2.1', 3);
      execFileSync('ip', ['-n', node.netns, 'link', 'del', 'tap-test']);
      await waitFor('the target to be detached', async () => ((await tasksOf('nodeif'))[0]?.status?.targets?.[0]?.state !== 'Attached') || undefined, 10_000, 100);
      mk();
      await attached('nodeif', 1);
      await ping(peer, '192.0.2.1', 2);
      const dir = agentCaptureDir(node.name, ns, 'nodeif');
      const c = await waitFor('10 packets in the file', async () => {
        const m = await countByInterface(captureFiles(dir), undefined, 'frame.interface_id');
        const n = [...m.values()].reduce((a, b) => a + b, 0);
        return n === 10 ? m : undefined;
      }, 10_000, 200);
      // Two IDBs for the same name: before and after the interface came back.
      const f = captureFiles(dir)[0]!;
      const idbs = execFileSync('capinfos', ['-I', f], { encoding: 'utf8' }).match(/Interface #\d+ info/g) ?? [];
      expect(idbs.length).toBe(2);
      expect([...c.values()].sort()).toEqual([4, 6]);
      await admin.delete(PacketCaptureType, ns, 'nodeif');
    } finally {
      execFileSync('ip', ['netns', 'del', peer]);
    }
  }, 90_000);
});

describe('node capabilities', () => {
  test('each node reports what this machine can do, visible with kubectl', async () => {
    for (const n of nodes) {
      const node = await admin.get<KubeObject>(NodeType, undefined, n.name);
      const l = node.metadata.labels ?? {};
      expect(l['ringtap.dev/tpacket-v3']).toBe('true');
      expect(l['ringtap.dev/ppp-kernel-bridge']).toBe(String(existsSync('/dev/ppp')));
      const caps = JSON.parse(node.metadata.annotations?.['ringtap.dev/capabilities'] ?? '{}');
      if (!existsSync('/dev/ppp')) expect(caps.pppKernelBridge.reason).toMatch(/kernel lacks PPP/);
    }
    const out = await cluster(['kubectl', 'get', 'nodes', nodes[0]!.name, '-L', 'ringtap.dev/tpacket-v3,ringtap.dev/ppp-kernel-bridge', '--no-headers']);
    expect(out).toMatch(/\btrue\b/);
    void readPod;
  });
});
