// Hostile tenants, done as the attacker would do it, on the local cluster with three ordinary
// ServiceAccount users:
//   tenant    ringtap-edit + ringtap-view in team-a
//   outsider  no roles at all
//   owner     every verb on every resource of team-c (a namespace owner), nothing elsewhere
// NodeTasks, which drive the agents, live only in the operator's namespace (ADR 0012).
// Each test is one defect of the audit; it checks that the harmful outcome no longer happens.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { HttpMethod } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { mirrorVni, NodeTaskType, PacketCaptureType, PortMirrorType } from '../../crds/src/index.js';
import { dataPath } from '../../crds/src/dataapi.js';
import type { NodeTask, PacketCapture, PortMirror } from '../../lib/kube/objects.js';
import { EventType, isNotFound, KubeClient, PodType, type KubeObject } from '../../lib/kube/kube.js';
import { agentCaptureDir, captureFiles, ping, sendUdp } from '../support/capture.js';
import { addNode, addPod, cluster, delNode, delPod, inNetns, readClusterEnv, runDir, type SimNode, type SimPod } from '../support/cluster.js';
import { adminConfig, apiMessage, createNamespace, deleteCaptureNamespace, OPERATOR_NS, parentSelector, tokenConfig, waitFor } from '../support/kube.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
let teamA: string, teamB: string, teamC: string;
let node: SimNode, nodeB: SimNode;
let a1: SimPod, a2: SimPod, b1: SimPod, c1: SimPod;
const tokens: Record<'tenant' | 'outsider' | 'owner', string> = { tenant: '', outsider: '', owner: '' };
let tenant: KubeClient, owner: KubeClient;

type Capture = PacketCapture & { status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[]; totals?: { packets: number } } };
type Mirror = PortMirror & { status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

function condition(o: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } }, type: string) {
  return o.status?.conditions?.find((c) => c.type === type);
}

/** GET on the API server as a user, raw (status and body), for paths no client wraps. */
async function rawGet(token: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, readClusterEnv().APISERVER_URL);
  const ca = readFileSync(join(runDir(), 'pki/ca.crt'));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.end();
  });
}

async function token(sa: string, namespace: string): Promise<string> {
  return (await cluster(['kubectl', 'create', 'token', sa, '-n', namespace, '--duration=1h'])).trim();
}

/** tcpdump in a namespace, started and listening; until() resolves with what it printed once a line matches. */
async function sniff(netns: string, filter: string): Promise<{ until(re: RegExp): Promise<string> }> {
  const p = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '-n', '-l', '-i', 'eth0', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (c: Buffer) => { err += c.toString(); if (err.includes('listening on')) resolve(); });
    p.on('exit', () => reject(new Error(`tcpdump ended: ${err}`)));
  });
  return {
    async until(re: RegExp): Promise<string> {
      try {
        return await waitFor(`tcpdump in ${netns} to print ${re}`, () => (re.test(out) ? out : undefined), 20_000, 50);
      } finally {
        p.kill('SIGTERM');
      }
    },
  };
}

function pidOf(proc: string): number {
  return Number(readFileSync(join(runDir(), 'pids', `${proc}.pid`), 'utf8').trim());
}
const agentPid = () => pidOf(`agent-${node.name}`);
const operatorPid = () => pidOf('operator-0');
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function capture(client: KubeClient, ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await client.create(PacketCaptureType, { metadata: { name, namespace: ns }, spec } as unknown as PacketCapture);
}
async function getCapture(ns: string, name: string): Promise<Capture> {
  return admin.get<Capture>(PacketCaptureType, ns, name);
}
async function packetsOf(ns: string, name: string): Promise<number> {
  return (await getCapture(ns, name)).status?.totals?.packets ?? 0;
}
async function runningWithTargets(ns: string, name: string): Promise<void> {
  await waitFor(`${ns}/${name}: Ready`, async () => {
    const c = await getCapture(ns, name);
    return condition(c, 'Ready')?.status === 'True' ? c : undefined;
  }, 30_000, 200);
}

beforeAll(async () => {
  teamA = await createNamespace('sec-team-a');
  teamB = await createNamespace('sec-team-b');
  teamC = await createNamespace('sec-team-c');
  node = await addNode('sec');
  a1 = await addPod(node.name, teamA, 'a1', { app: 'a' });
  a2 = await addPod(node.name, teamA, 'a2', { app: 'peer' });
  b1 = await addPod(node.name, teamB, 'b1', { app: 'b' });
  nodeB = await addNode('secb');
  c1 = await addPod(nodeB.name, teamA, 'c1', { app: 'collector' });
  // Only the operator's own namespace is trusted: every team is a tenant.
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: 'ringtap-system' });
  await cluster(['kubectl', 'create', 'serviceaccount', 'tenant', '-n', teamA]);
  await cluster(['kubectl', 'create', 'rolebinding', 'tenant-edit', '-n', teamA, '--clusterrole=ringtap-edit', `--serviceaccount=${teamA}:tenant`]);
  await cluster(['kubectl', 'create', 'rolebinding', 'tenant-view', '-n', teamA, '--clusterrole=ringtap-view', `--serviceaccount=${teamA}:tenant`]);
  await cluster(['kubectl', 'create', 'serviceaccount', 'outsider', '-n', teamB]);
  await cluster(['kubectl', 'create', 'serviceaccount', 'owner', '-n', teamC]);
  await cluster(['kubectl', 'create', 'role', 'owner', '-n', teamC, '--verb=*', '--resource=*.*']);
  await cluster(['kubectl', 'create', 'rolebinding', 'owner', '-n', teamC, '--role=owner', `--serviceaccount=${teamC}:owner`]);
  tokens.tenant = await token('tenant', teamA);
  tokens.outsider = await token('outsider', teamB);
  tokens.owner = await token('owner', teamC);
  tenant = new KubeClient(tokenConfig(tokens.tenant), 'tenant');
  owner = new KubeClient(tokenConfig(tokens.owner), 'owner');
  // The neighbour: team-b's own capture on the same node, which must keep counting.
  await capture(admin, teamB, 'neighbour', { targets: { pods: { names: ['b1'] } }, filter: 'icmp', limits: { duration: '30m' } });
  await runningWithTargets(teamB, 'neighbour');
}, 180_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of [a1, a2, b1, c1]) if (p) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of [node, nodeB]) if (n) await delNode(n.name).catch(() => undefined);
  for (const ns of [teamA, teamB, teamC]) if (ns) await deleteCaptureNamespace(ns);
}, 180_000);

/** The neighbour counts what is sent to b1 now: the agent is alive and its other tasks work. */
async function neighbourStillCounts(): Promise<void> {
  const before = await packetsOf(teamB, 'neighbour');
  await ping(a2.netns, b1.ip, 3);
  await waitFor('the neighbour capture to count 6 more packets', async () => ((await packetsOf(teamB, 'neighbour')) >= before + 6 ? true : undefined), 20_000, 200);
}

describe('the tenant cannot take the agent down', () => {
  test('rotation.fileSize 1 + retention.maxFiles 1 under traffic, downloaded in parallel loops: the agent and operator PIDs survive, the neighbour keeps counting', async () => {
    const pid = agentPid();
    const opPid = operatorPid();
    expect(alive(pid) && alive(opPid)).toBe(true);
    await capture(tenant, teamA, 'churn', {
      targets: { pods: { names: ['a1'] } }, rotation: { fileSize: '1' }, retention: { maxFiles: 1 },
    });
    await runningWithTargets(teamA, 'churn');
    // Every packet closes a file and retention removes the one before, while the tenant lists
    // and downloads them as fast as it can through the data API.
    let stop = false;
    const downloads = Array.from({ length: 4 }, async () => {
      let n = 0;
      while (!stop) {
        const list = await rawGet(tokens.tenant, dataPath('PacketCapture', teamA, 'churn', 'files'));
        const files = list.status === 200 ? (JSON.parse(list.body) as { items?: { path: string }[]; nodes?: { files: { path: string }[] }[] }) : {};
        const paths = [...(files.items ?? []), ...(files.nodes ?? []).flatMap((x) => x.files)].map((f) => f.path);
        for (const p of paths.slice(-3)) await rawGet(tokens.tenant, p).catch(() => undefined);
        await rawGet(tokens.tenant, dataPath('PacketCapture', teamA, 'churn', 'pcap')).catch(() => undefined);
        n++;
      }
      return n;
    });
    await inNetns(a2.netns, ['ping', '-q', '-i', '0.005', '-c', '600', '-W', '1', a1.ip], 60_000).catch(() => undefined);
    await sendUdp(a2.netns, a1.ip, 9999, 200);
    stop = true;
    const rounds = await Promise.all(downloads);
    expect(rounds.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    expect(agentPid()).toBe(pid);
    expect(alive(pid)).toBe(true);
    expect(operatorPid()).toBe(opPid);
    expect(alive(opPid)).toBe(true);
    await neighbourStillCounts();
    // The hostile capture itself is either still recording or failed with a reason, never silent.
    const c = await getCapture(teamA, 'churn');
    if (c.status?.phase === 'Failed') expect(condition(c, 'Stalled')?.message).toBeTruthy();
    else expect(c.status?.phase).toBe('Running');
    expect(captureFiles(agentCaptureDir(node.name, teamA, 'churn')).length).toBeLessThanOrEqual(2);
    await tenant.delete(PacketCaptureType, teamA, 'churn');
  }, 180_000);
});

describe('the namespace owner of team-c cannot forge NodeTasks', () => {
  const forged = (ns: string, parentNs: string, extra: Record<string, unknown>) => ({
    metadata: { name: `forged-${node.name}`, namespace: ns },
    spec: {
      node: node.name,
      parent: { kind: 'PacketCapture', name: 'neighbour', namespace: parentNs, uid: '0b5c6a1e-3d2f-4c7b-9a8e-1f2d3c4b5a69', generation: 1 },
      ...extra,
    },
  }) as unknown as NodeTask;
  const work = (pods: object[], interfaces: string[] = []) => ({
    packetCapture: { pods, interfaces, capturePoint: 'pod', snapLength: 262144, limits: { durationSeconds: 600 }, output: { format: 'pcapng' }, timestamps: 'software' },
  });

  test('a NodeTask naming team-b\'s pod and the node\'s eth0 is refused at admission in team-c, and by RBAC where agents look', async () => {
    const err = await owner.create(NodeTaskType, forged(teamC, teamC, work([{ name: 'b1', namespace: teamC, uid: b1.uid }], ['eth0']))).catch((e: unknown) => e);
    expect(apiMessage(err)).toMatch(/spec: only the ringtap operator writes NodeTasks/);
    expect((await admin.list<NodeTask>(NodeTaskType, teamC)).items).toEqual([]);
    // The only namespace whose NodeTasks an agent acts on is the operator's: the owner has no right there at all.
    const there = await owner.create(NodeTaskType, forged(OPERATOR_NS, teamC, work([{ name: 'b1', namespace: teamC, uid: b1.uid }], ['eth0']))).catch((e: unknown) => e);
    expect(apiMessage(there)).toMatch(/forbidden/i);
    expect((await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/node=${node.name}` })).items.map((t) => t.metadata.name)).not.toContain(`forged-${node.name}`);
  }, 30_000);

  test('a cleanup NodeTask for team-b\'s capture is refused, and team-b\'s files survive', async () => {
    const files = captureFiles(agentCaptureDir(node.name, teamB, 'neighbour'));
    expect(files.length).toBeGreaterThan(0);
    const err = await owner.create(NodeTaskType, forged(teamC, teamB, { cleanup: true, ...work([]) })).catch((e: unknown) => e);
    expect(apiMessage(err)).toMatch(/spec: only the ringtap operator writes NodeTasks/);
    expect(captureFiles(agentCaptureDir(node.name, teamB, 'neighbour'))).toEqual(files);
  }, 30_000);

  test('the owner can neither patch team-b\'s NodeTask nor write its status', async () => {
    const [t] = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-namespace=${teamB}` })).items;
    expect(t).toBeDefined();
    const status = await owner
      .apply(NodeTaskType, { metadata: { name: t!.metadata.name, namespace: OPERATOR_NS }, status: { phase: 'Completed' } } as unknown as KubeObject, { subresource: 'status' })
      .catch((e: unknown) => e);
    expect(apiMessage(status)).toMatch(/forbidden/i);
    const spec = await owner.mergePatch(NodeTaskType, OPERATOR_NS, t!.metadata.name, { spec: { cleanup: true } }).catch((e: unknown) => e);
    expect(apiMessage(spec)).toMatch(/forbidden/i);
    expect((await admin.get<NodeTask>(NodeTaskType, OPERATOR_NS, t!.metadata.name)).spec.cleanup).toBeFalsy();
  }, 30_000);

  test('behind the policy, a NodeTask outside the operator\'s namespace is ignored by the agent: no capture, no file deletion', async () => {
    // A cluster administrator is exempt from the policy: these are what a namespace owner could
    // write in a cluster without it. The agent never sees them (its watch and its RBAC cover
    // the operator's namespace only).
    const agentMay = async (namespace: string) => (await admin.request<{ status?: { allowed?: boolean } }>(HttpMethod.POST, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: {
        user: `system:serviceaccount:${OPERATOR_NS}:ringtap-agent`, groups: ['system:serviceaccounts', `system:serviceaccounts:${OPERATOR_NS}`, 'system:authenticated'],
        resourceAttributes: { group: 'ringtap.dev', resource: 'nodetasks', verb: 'list', namespace },
      } },
    })).status?.allowed === true;
    expect(await agentMay(OPERATOR_NS)).toBe(true);
    expect(await agentMay(teamC)).toBe(false);
    const files = captureFiles(agentCaptureDir(node.name, teamB, 'neighbour'));
    await admin.create(NodeTaskType, forged(teamC, teamC, work([{ name: 'b1', namespace: teamC, uid: b1.uid }], ['eth0'])));
    await admin.create(NodeTaskType, { ...forged(teamC, teamB, { cleanup: true, ...work([]) }), metadata: { name: `forged-clean-${node.name}`, namespace: teamC } } as NodeTask);
    try {
      // The agent goes on with its own work after them: a new capture of team-a runs and counts.
      await capture(tenant, teamA, 'after-forgery', { targets: { pods: { names: ['a1'] } }, filter: 'icmp', limits: { duration: '10m' } });
      await runningWithTargets(teamA, 'after-forgery');
      await neighbourStillCounts();
      for (const name of [`forged-${node.name}`, `forged-clean-${node.name}`]) expect((await admin.get<NodeTask>(NodeTaskType, teamC, name)).status).toBeUndefined();
      expect(captureFiles(agentCaptureDir(node.name, teamC, 'neighbour'))).toEqual([]);
      expect(captureFiles(agentCaptureDir(node.name, teamB, 'neighbour')).slice(0, files.length)).toEqual(files);
      await tenant.delete(PacketCaptureType, teamA, 'after-forgery');
    } finally {
      await admin.delete(NodeTaskType, teamC, `forged-${node.name}`);
      await admin.delete(NodeTaskType, teamC, `forged-clean-${node.name}`);
    }
  }, 90_000);
});

describe('the operator alone keeps the NodeTasks of its namespace', () => {
  test('deleting a capture removes its NodeTasks from the operator\'s namespace', async () => {
    await capture(tenant, teamA, 'short', { targets: { pods: { names: ['a1'] } }, filter: 'icmp', limits: { duration: '10m' } });
    await runningWithTargets(teamA, 'short');
    const uid = (await getCapture(teamA, 'short')).metadata.uid!;
    const tasks = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-uid=${uid}` })).items;
    expect(tasks.map((t) => [t.spec.node, t.spec.parent.namespace, t.spec.parent.name])).toEqual([[node.name, teamA, 'short']]);
    await tenant.delete(PacketCaptureType, teamA, 'short');
    await waitFor('the capture to be gone', async () => (await getCapture(teamA, 'short').then(() => false, isNotFound)) || undefined, 60_000, 200);
    // The operator deleted them before it let the capture go.
    expect((await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-uid=${uid}` })).items).toEqual([]);
  }, 90_000);

  test('an orphaned NodeTask (its parent UID exists nowhere) is garbage-collected, and its agent removes what it made', async () => {
    const orphan = {
      metadata: { name: `orphan-${node.name}`, namespace: OPERATOR_NS, labels: { 'ringtap.dev/parent-kind': 'PacketCapture', 'ringtap.dev/node': node.name } },
      spec: {
        node: node.name,
        parent: { kind: 'PacketCapture', name: 'ghost', namespace: teamA, uid: '5a0d9c1e-7b2f-4d3c-8e9a-0f1e2d3c4b5a', generation: 1 },
        packetCapture: { pods: [], interfaces: [], capturePoint: 'pod', snapLength: 262144, output: { format: 'pcapng' }, timestamps: 'software' },
      },
    } as unknown as NodeTask;
    await admin.create(NodeTaskType, orphan);
    await waitFor('the orphan to be deleted', async () => (await admin.get(NodeTaskType, OPERATOR_NS, orphan.metadata.name).then(() => false, isNotFound)) || undefined, 30_000, 200);
    await waitFor('no directory of the ghost capture on the node', () => (existsSync(join(runDir(), 'agent-data', node.name, teamA, 'ghost')) ? undefined : true), 20_000, 200);
    await neighbourStillCounts();
  }, 60_000);
});

describe('the tenant cannot inject traffic into other namespaces or onto the node', () => {
  type Event = KubeObject & { type?: string; reason?: string; note?: string; regarding?: { name?: string } };
  /** The operator's refusal, as the tenant sees it: the mirror's Stalled condition, and the Warning Event that says the same. */
  async function refusal(name: string): Promise<{ reason?: string; message: string }> {
    const ev = await waitFor(`${name}: a Warning Event`, async () => {
      const l = await admin.list<Event>(EventType, teamA);
      return l.items.find((e) => e.regarding?.name === name && e.type === 'Warning');
    }, 20_000, 200);
    const m = await waitFor(`${name}: Stalled`, async () => {
      const x = await tenant.get<Mirror>(PortMirrorType, teamA, name);
      return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
    }, 20_000, 200);
    const stalled = condition(m, 'Stalled')!;
    expect(stalled.reason).toBe(ev.reason);
    expect(`Failed: ${stalled.message}`).toBe(ev.note);
    return { ...(stalled.reason ? { reason: stalled.reason } : {}), message: stalled.message ?? '' };
  }

  test.each([
    ['uplink', () => ({ interface: { name: 'eth0' } }), 'spec.destination.interface'],
    ['b1-veth', () => ({ interface: { name: b1.hostVeth } }), 'spec.destination.interface'],
    ['port53', () => ({ remote: { address: node.ip, protocol: 'vxlan', vni: 7, port: 53 } }), 'spec.destination.remote.port'],
    ['outside', () => ({ remote: { address: '198.51.100.7', protocol: 'vxlan', vni: 7 } }), 'spec.destination.remote.address'],
  ])('a PortMirror to %s is Stalled naming the field; no NodeTask; the marker never reaches b1', async (name, destination, field) => {
    // b1 listens for the marker; a control packet sent after it proves the listener heard everything before.
    const sniffer = await sniff(b1.netns, 'udp port 6666 or udp port 7777');
    await tenant.create(PortMirrorType, { metadata: { name, namespace: teamA }, spec: { source: { pods: { names: ['a1'] } }, destination: destination() } } as unknown as PortMirror);
    const r = await refusal(name);
    expect(r.reason).toBe('UntrustedNamespace');
    expect(r.message.startsWith(`${field}: `)).toBe(true);
    expect((await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PortMirror', teamA, name) })).items).toEqual([]);
    // a1 sends crafted marker packets to a2; a mirror would copy them into b1.
    await sendUdp(a1.netns, a2.ip, 6666, 20);
    await sendUdp(a2.netns, b1.ip, 7777, 1); // the control: b1 hears this one directly
    const heard = await sniffer.until(/\.7777: UDP/);
    expect(heard).not.toMatch(/\.6666: UDP/);
    await tenant.delete(PortMirrorType, teamA, name);
  }, 60_000);
});

describe('a collector\'s VXLAN port takes only its mirror\'s source nodes', () => {
  /** A VXLAN datagram carrying an Ethernet/IPv4/UDP frame to port 6666, built by hand (the attacker's tool). */
  const forge = (vni: number, to: string) => `
import socket, struct
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
payload = b'forged-marker'
udp = struct.pack('!HHHH', 5555, 6666, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton('10.250.0.1'), socket.inet_aton('10.250.0.2'))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
frame = b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x08\\x00' + ip + udp
vxlan = struct.pack('!B3xI', 0x08, ${vni} << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5): s.sendto(vxlan + frame, ('${to}', 4789))
`;

  test('a datagram with the mirror\'s VNI from anyone but a source node never reaches the collector; the mirrored traffic does', async () => {
    await tenant.create(PortMirrorType, { metadata: { name: 'to-c1', namespace: teamA }, spec: { source: { pods: { names: ['a1'] } }, filter: 'icmp', destination: { pod: { name: 'c1' } } } } as unknown as PortMirror);
    const m = await waitFor('to-c1: Ready', async () => {
      const x = await tenant.get<Mirror>(PortMirrorType, teamA, 'to-c1');
      return condition(x, 'Ready')?.status === 'True' ? x : undefined;
    }, 40_000, 200);
    const [collectorTask] = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PortMirror', teamA, 'to-c1') })).items.filter((t) => t.spec.node === nodeB.name);
    expect(collectorTask?.spec.portMirror?.destination.pod?.receiveFrom).toEqual([node.ip]);
    const sniffer = await sniff(c1.netns, 'icmp or udp port 6666');
    // b1 (another namespace's pod, not a node) knows the VNI: it is the first 24 bits of the mirror's UID.
    await inNetns(b1.netns, ['python3', '-c', forge(mirrorVni(m.metadata.uid!), nodeB.ip)]);
    await ping(a2.netns, a1.ip, 2); // mirrored from node A: arrives after the forged datagrams would have
    const heard = await sniffer.until(/ICMP echo/);
    expect(heard).not.toMatch(/6666/);
    const counters = await inNetns(nodeB.netns, ['iptables', '-w', '-L', `RTAP-RX-${m.metadata.uid!.replaceAll('-', '').slice(0, 10)}`, '-v', '-n', '-x']);
    expect(Number(/^\s*(\d+)\s+\d+\s+DROP/m.exec(counters)?.[1] ?? 0)).toBeGreaterThanOrEqual(5);
    await tenant.delete(PortMirrorType, teamA, 'to-c1');
    await waitFor('the receive chain to go with the mirror', async () => (/RTAP-RX-/.test(await inNetns(nodeB.netns, ['iptables', '-w', '-S'])) ? undefined : true), 20_000, 200);
  }, 90_000);
});

describe('the outsider cannot reach node ports', () => {
  test.each([
    ['a node-local port through the agent pod', (n: string) => `/api/v1/namespaces/ringtap-system/pods/http:ringtap-agent-${n}:10255/proxy/`],
    ['the agent metrics port', (n: string) => `/api/v1/namespaces/ringtap-system/pods/http:ringtap-agent-${n}:9090/proxy/metrics`],
    ['the agent itself', (n: string) => `/api/v1/namespaces/ringtap-system/pods/https:ringtap-agent-${n}:9443/proxy/v1/captures/${teamB}/neighbour/files`],
  ])('%s: refused, and no node content', async (_what, path) => {
    for (const who of ['outsider', 'owner', 'tenant'] as const) {
      const r = await rawGet(tokens[who], path(node.name));
      expect([401, 403]).toContain(r.status);
      expect(r.body).not.toMatch(/pcapng|ringtap_capture|<html/i);
    }
  }, 30_000);

  test('even a user granted pods/proxy in the agents\' namespace reaches no port but the agent\'s own', async () => {
    const role = `sec-proxy-${node.name}`;
    await cluster(['kubectl', 'create', 'role', role, '-n', 'ringtap-system', '--verb=get,create', '--resource=pods/proxy']);
    await cluster(['kubectl', 'create', 'rolebinding', role, '-n', 'ringtap-system', `--role=${role}`, `--serviceaccount=${teamB}:outsider`]);
    try {
      const r = await waitFor('the grant to take effect', async () => {
        const x = await rawGet(tokens.outsider, `/api/v1/namespaces/ringtap-system/pods/http:ringtap-agent-${node.name}:10255/proxy/`);
        return x.status === 403 && /HTTPS port of the ringtap agents/.test(x.body) ? x : undefined;
      }, 20_000, 200);
      expect((JSON.parse(r.body) as { message: string }).message).toMatch(/pods\/proxy in ringtap-system reaches only the HTTPS port of the ringtap agents \(https:<pod>:9443\), not http:ringtap-agent-/);
    } finally {
      await cluster(['kubectl', 'delete', 'rolebinding,role', role, '-n', 'ringtap-system']).catch(() => undefined);
    }
  }, 60_000);

  test('the outsider and the owner get no team-b traffic through the data API', async () => {
    for (const who of ['outsider', 'owner', 'tenant'] as const) {
      const r = await rawGet(tokens[who], dataPath('PacketCapture', teamB, 'neighbour', 'pcap'));
      expect(r.status).toBe(403);
    }
  }, 30_000);
});

describe('limits the tenant cannot turn against the node', () => {
  test('a 600 h capture is still running after it has counted traffic', async () => {
    await capture(tenant, teamA, 'long', { targets: { pods: { names: ['a1'] } }, filter: 'icmp', limits: { duration: '600h' } });
    await runningWithTargets(teamA, 'long');
    await ping(a2.netns, a1.ip, 3);
    await waitFor('the long capture to count', async () => ((await packetsOf(teamA, 'long')) >= 6 ? true : undefined), 20_000, 200);
    const c = await getCapture(teamA, 'long');
    expect(c.status?.phase).toBe('Running');
    const [t] = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', teamA, 'long') })).items;
    expect(t?.status?.phase).toBe('Running');
    await tenant.delete(PacketCaptureType, teamA, 'long');
  }, 60_000);

  test.each([
    ['podInterfaces ["-h"]', { podInterfaces: ['-h'] }, /a1.*Failed.*no interface to capture/],
    ['hardware timestamps on a veth', { timestamps: 'hardware' }, /a1.*Failed/],
  ])('an unattachable target (%s) is not Ready: Stalled with the agent\'s reason', async (_what, extra, why) => {
    const name = `unattachable-${Object.keys(extra)[0]!.toLowerCase()}`;
    await capture(tenant, teamA, name, { targets: { pods: { names: ['a1'] } }, limits: { duration: '10m' }, ...extra });
    const c = await waitFor(`${name}: Stalled`, async () => {
      const x = await getCapture(teamA, name);
      return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
    }, 30_000, 200);
    expect(condition(c, 'Ready')?.status).toBe('False');
    expect(condition(c, 'Stalled')?.reason).toBe('AttachFailed');
    expect(condition(c, 'Stalled')?.message).toMatch(why);
    await tenant.delete(PacketCaptureType, teamA, name);
  }, 60_000);

  test('a hostNetwork pod is a node target: the tenant\'s capture of it is Stalled, nothing is placed', async () => {
    await admin.create(PodType, {
      metadata: { name: 'hostnet', namespace: teamA, labels: { app: 'hostnet' } },
      spec: { nodeName: node.name, hostNetwork: true, containers: [{ name: 'c', image: 'none' }] },
    } as unknown as KubeObject);
    await admin.mergePatch(PodType, teamA, 'hostnet', { status: { phase: 'Running', podIP: node.ip } }, 'status');
    try {
      await capture(tenant, teamA, 'hostnet', { targets: { pods: { names: ['hostnet'] } }, limits: { duration: '1m' } });
      const c = await waitFor('Stalled', async () => {
        const x = await getCapture(teamA, 'hostnet');
        return condition(x, 'Stalled')?.status === 'True' ? x : undefined;
      }, 20_000, 200);
      expect(condition(c, 'Stalled')?.reason).toBe('UntrustedNamespace');
      expect(condition(c, 'Stalled')?.message).toMatch(/^spec\.targets\.pods: hostNetwork pods \(hostnet\)/);
      expect((await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', teamA, 'hostnet') })).items).toEqual([]);
      await tenant.delete(PacketCaptureType, teamA, 'hostnet');
    } finally {
      await admin.delete(PodType, teamA, 'hostnet').catch(() => undefined);
    }
  }, 60_000);
});
