// PortMirror end to end: the operator and one agent per simulated node, real pods, real
// packets; the mirrored copies are counted with tcpdump inside the collector pod's netns.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NodeTaskType, PortMirrorType } from '../../crds/src/index.js';
import type { NodeTask, PortMirror } from '../../lib/kube/objects.js';
import { KubeClient, isNotFound } from '../../lib/kube/kube.js';
import { ping, sendUdp } from '../support/capture.js';
import { addNode, addPod, cluster, delNode, delPod, runDir, type SimNode, type SimPod } from '../support/cluster.js';
import { adminConfig, createNamespace, deleteNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../support/kube.js';

const execFileP = promisify(execFile);
const admin = new KubeClient(adminConfig(), 'test-admin');
const COOKIE_PREFIX = '72746170'; // "rtap": every tc action of ringtap's carries it
let ns: string;
let nodes: SimNode[] = [];
const pods = new Map<string, SimPod>();
const mirrors = new Set<string>();
const pod = (name: string) => pods.get(name)!;

async function createMirror(name: string, spec: Record<string, unknown>): Promise<void> {
  mirrors.add(name);
  await admin.create(PortMirrorType, { metadata: { name, namespace: ns }, spec } as unknown as PortMirror);
}
async function getMirror(name: string): Promise<PortMirror> {
  return admin.get<PortMirror>(PortMirrorType, ns, name);
}
async function tasksOf(name: string): Promise<NodeTask[]> {
  return (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PortMirror', ns, name) })).items;
}
async function deleteMirror(name: string): Promise<void> {
  await admin.delete(PortMirrorType, ns, name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  await waitFor(`${name} to be gone`, async () => admin.get(PortMirrorType, ns, name).then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 30_000, 100);
  mirrors.delete(name);
}
/** Waits until the mirror is Ready: every NodeTask Running and all its sources attached. */
async function ready(name: string, sources: number, check?: (t: NodeTask[]) => boolean): Promise<PortMirror> {
  return waitFor(`${name}: ${sources} source(s) attached`, async () => {
    const m = await getMirror(name);
    const t = await tasksOf(name);
    const ok = m.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && m.status.totals?.sources === sources
      && t.every((x) => x.status?.phase === 'Running' && (x.status.targets ?? []).every((g) => g.state === 'Attached')) && (!check || check(t));
    return ok ? m : undefined;
  }, 30_000, 100);
}

/** tcpdump inside a pod's netns, writing a file; count() reads it back with a filter. */
class Sniffer {
  private proc: ChildProcess;
  private dir = mkdtempSync(join(tmpdir(), 'rt-mirror-'));
  readonly file = join(this.dir, 'c.pcap');
  private started: Promise<void>;
  constructor(netns: string, iface = 'eth0') {
    // --immediate-mode: libpcap's TPACKET_V3 ring would otherwise hold packets for up to 1 s.
    this.proc = spawn('ip', ['netns', 'exec', netns, 'tcpdump', '--immediate-mode', '-i', iface, '-n', '-U', '-s', '256', '-w', this.file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.started = new Promise((resolve, reject) => {
      let err = '';
      this.proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (err.includes('listening on')) resolve(); });
      this.proc.on('exit', (c) => reject(new Error(`tcpdump exited ${c}: ${err}`)));
    });
  }
  ready(): Promise<void> {
    return Promise.race([this.started, new Promise<void>((_, rej) => setTimeout(() => rej(new Error('tcpdump did not start')), 10_000))]);
  }
  async count(filter: string): Promise<number> {
    if (!existsSync(this.file)) return 0;
    // A file still being written may end in a partial record: tcpdump then complains at the end
    // but has printed every whole packet.
    const { stdout } = await execFileP('tcpdump', ['-nr', this.file, '--', filter], { maxBuffer: 64 << 20 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    return stdout.split('\n').filter(Boolean).length;
  }
  /** Waits until count(filter) is n, then a little longer to see that no more arrive. */
  async expectCount(filter: string, n: number): Promise<void> {
    await waitFor(`${n} packets matching '${filter}' in the collector`, async () => ((await this.count(filter)) >= n) || undefined, 10_000, 100);
    await new Promise((r) => setTimeout(r, 300)); // late extra copies would show up here
    expect(await this.count(filter)).toBe(n);
  }
  stop(): void {
    this.proc.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
const sniffers: Sniffer[] = [];
async function sniff(netns: string, iface = 'eth0'): Promise<Sniffer> {
  const s = new Sniffer(netns, iface);
  sniffers.push(s);
  await s.ready();
  return s;
}

interface Filter { pref: number; kind: string; options?: { handle?: string; actions?: { cookie?: string; to_dev?: string; stats?: { packets: number } }[] } }
function filtersOn(node: SimNode, dev: string, hook: 'ingress' | 'egress', all = false): Filter[] {
  try {
    const out = execFileSync('tc', ['-n', node.netns, '-s', '-j', 'filter', 'show', 'dev', dev, hook], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return (JSON.parse(out || '[]') as Filter[]).filter((f) => all || f.options?.handle);
  } catch {
    return [];
  }
}
const ours = (f: Filter) => f.options?.actions?.some((a) => a.cookie?.startsWith(COOKIE_PREFIX)) ?? false;
function links(node: SimNode): string[] {
  return (JSON.parse(execFileSync('ip', ['-n', node.netns, '-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[]).map((l) => l.ifname);
}
/** Every filter of ringtap's on every device of the node. */
function ringtapState(node: SimNode): { filters: string[]; devices: string[] } {
  const filters: string[] = [];
  for (const l of links(node)) for (const hook of ['ingress', 'egress'] as const) for (const f of filtersOn(node, l, hook)) if (ours(f)) filters.push(`${l}/${hook}/${f.options!.handle}`);
  return { filters, devices: links(node).filter((l) => /^rtm[rt]/.test(l)) };
}

beforeAll(async () => {
  ns = await createNamespace('e2e-pmir');
  nodes = [await addNode(uniqueName('pm')), await addNode(uniqueName('pm'))];
  for (const [name, node, app] of [
    ['web-1', 0, 'web'], ['web-2', 1, 'web'], ['other', 0, 'other'], ['client', 1, 'client'], ['col-a', 0, 'collector'], ['col-b', 1, 'collector'],
  ] as const) {
    pods.set(name, await addPod(nodes[node]!.name, ns, name, { app }));
  }
  // No IPv6 chatter in the collectors: exact counts.
  for (const p of pods.values()) execFileSync('ip', ['netns', 'exec', p.netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: `ringtap-system,${ns}` });
}, 180_000);

afterEach(async () => {
  for (const s of sniffers.splice(0)) s.stop();
  for (const m of [...mirrors]) await deleteMirror(m).catch(() => undefined);
}, 60_000);

afterAll(async () => {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of pods.values()) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of nodes) await delNode(n.name).catch(() => undefined);
  await deleteNamespace(ns).catch(() => undefined);
}, 180_000);

const ECHO_REQ = (ip: string) => `icmp[icmptype] == icmp-echo and dst host ${ip}`;
const ECHO_REP = (ip: string) => `icmp[icmptype] == icmp-echoreply and src host ${ip}`;

describe('a collector pod on the same node', () => {
  test.each([
    ['ingress', 5, 0],
    ['egress', 0, 5],
    ['both', 5, 5],
  ] as const)('direction %s: the pod\'s received and sent packets arrive in the collector, exactly', async (direction, requests, replies) => {
    const name = `same-${direction}`;
    await createMirror(name, { source: { pods: { names: ['web-1'] } }, direction, destination: { pod: { name: 'col-a' } } });
    await ready(name, 1);
    const col = await sniff(pod('col-a').netns);
    await ping(pod('client').netns, pod('web-1').ip, 5);
    await ping(pod('client').netns, pod('other').ip, 3); // not selected
    const web1 = pod('web-1').ip;
    await col.expectCount(`icmp and host ${web1}`, requests + replies);
    expect(await col.count(ECHO_REQ(web1))).toBe(requests); // pod ingress = host veth egress
    expect(await col.count(ECHO_REP(web1))).toBe(replies); // pod egress = host veth ingress
    expect(await col.count(`icmp and host ${pod('other').ip}`)).toBe(0); // ARP is flooded to every bridge port
    // tc's counters reach the status.
    await waitFor('status totals', async () => ((await getMirror(name)).status?.totals?.packets ?? 0) >= requests + replies || undefined, 10_000, 200);
    const veth = pod('web-1').hostVeth;
    const hooks = (['ingress', 'egress'] as const).filter((h) => filtersOn(nodes[0]!, veth, h).some(ours));
    expect(hooks).toEqual(direction === 'both' ? ['ingress', 'egress'] : [direction === 'ingress' ? 'egress' : 'ingress']);
    await deleteMirror(name);
  }, 60_000);

  test('a filter restricts what is mirrored', async () => {
    await createMirror('filtered', { source: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: 'icmp[icmptype] == icmp-echo', destination: { pod: { name: 'col-a' } } });
    await ready('filtered', 2);
    const col = await sniff(pod('col-a').netns);
    const web1 = pod('web-1').ip;
    await ping(pod('client').netns, web1, 4);
    await sendUdp(pod('client').netns, web1, 9999, 10);
    await col.expectCount(ECHO_REQ(web1), 4);
    expect(await col.count(ECHO_REP(web1))).toBe(0);
    expect(await col.count(`udp and host ${web1}`)).toBe(0);
  }, 60_000);

  test('1-in-N sampling mirrors about one packet in N', async () => {
    await createMirror('sampled', { source: { pods: { names: ['web-1'] } }, direction: 'ingress', sampling: 4, destination: { pod: { name: 'col-a' } } });
    await ready('sampled', 1);
    const col = await sniff(pod('col-a').netns);
    const web1 = pod('web-1').ip;
    await sendUdp(pod('client').netns, web1, 9999, 2000);
    // The copies' count is random: wait until it is in range and has stopped growing.
    let last = -1;
    const n = await waitFor('the sampled copies to settle', async () => {
      const c = await col.count(`udp and dst host ${web1}`);
      const settled = c === last && c > 0;
      last = c;
      return settled ? c : undefined;
    }, 10_000, 300);
    // Binomial(2000, 1/4): mean 500, sd ~19; 5 sd either way.
    expect(n).toBeGreaterThan(400);
    expect(n).toBeLessThan(600);
  }, 60_000);
});

describe('a collector pod on another node (VXLAN)', () => {
  test('copies of pods on both nodes arrive in the collector; deleting removes every filter and device of ours and nothing else', async () => {
    // A foreign filter on web-1's host veth, put there before the mirror: it must survive.
    // (It matches nothing here: a matching filter that runs first would end classification.)
    const [a] = nodes as [SimNode, SimNode];
    const veth = pod('web-1').hostVeth;
    execFileSync('tc', ['-n', a.netns, 'qdisc', 'add', 'dev', veth, 'clsact']);
    execFileSync('tc', ['-n', a.netns, 'filter', 'add', 'dev', veth, 'ingress', 'prio', '7', 'protocol', 'ip', 'u32', 'match', 'ip', 'dst', '192.0.2.1/32', 'classid', '1:1']);
    try {
      await createMirror('remote', { source: { pods: { selector: { matchLabels: { app: 'web' } } } }, destination: { pod: { name: 'col-b' } } });
      const m = await ready('remote', 2);
      expect(m.status?.totals?.nodes).toBe(2);
      const t = await tasksOf('remote');
      expect(t.find((x) => x.spec.node === a.name)?.spec.portMirror?.destination.remote).toMatchObject({ protocol: 'vxlan', address: nodes[1]!.ip, port: 4789 });
      expect(links(a).filter((l) => l.startsWith('rtmt'))).toHaveLength(1);
      expect(links(nodes[1]!).filter((l) => l.startsWith('rtmr'))).toHaveLength(1);

      const col = await sniff(pod('col-b').netns);
      await ping(pod('client').netns, pod('web-1').ip, 4); // web-1 on the other node: via VXLAN
      await ping(pod('client').netns, pod('web-2').ip, 3); // web-2 on the collector's node
      await col.expectCount(`icmp and host ${pod('web-1').ip}`, 8);
      await col.expectCount(`icmp and host ${pod('web-2').ip}`, 6);

      await deleteMirror('remote');
      for (const n of nodes) expect(ringtapState(n)).toEqual({ filters: [], devices: [] });
      const left = filtersOn(a, veth, 'ingress', true);
      expect(new Set(left.map((f) => `${f.pref}/${f.kind}`))).toEqual(new Set(['7/u32']));
    } finally {
      try {
        execFileSync('tc', ['-n', a.netns, 'qdisc', 'del', 'dev', veth, 'clsact'], { stdio: 'ignore' });
      } catch {
        // gone already: the assertions above say whether that was right
      }
    }
  }, 90_000);
});

describe('pods and agents come and go', () => {
  test('a restarted pod is mirrored again within seconds; an agent restart adopts the filters: no duplicates, nothing lost', async () => {
    await createMirror('churn', { source: { pods: { names: ['web-1'] } }, destination: { pod: { name: 'col-a' } } });
    await ready('churn', 1);
    const col = await sniff(pod('col-a').netns);
    const before = pod('web-1');
    await ping(pod('client').netns, before.ip, 2);
    await col.expectCount(`icmp and host ${before.ip}`, 4);

    await delPod(ns, 'web-1');
    const restartedAt = Date.now();
    const after = await addPod(before.node, ns, 'web-1', { app: 'web' });
    execFileSync('ip', ['netns', 'exec', after.netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    pods.set('web-1', after);
    await ready('churn', 1, (t) => t[0]?.status?.targets?.[0]?.message?.includes(`uid=${after.uid}`) ?? false);
    const rejoinMs = Date.now() - restartedAt;
    console.log(`restarted pod mirrored again ${rejoinMs} ms after it was recreated`);
    expect(rejoinMs).toBeLessThan(10_000);
    await ping(pod('client').netns, after.ip, 3);
    await col.expectCount(`icmp and host ${after.ip}`, 4 + 6); // the new pod has the same IP

    const counted = (await getMirror('churn')).status?.totals?.packets ?? 0;
    const pid = Number(readFileSync(join(runDir(), 'pids', `agent-${after.node}.pid`), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor('the agent to be gone', () => !existsSync(`/proc/${pid}`) || undefined, 5_000, 50);
    const killedAt = Date.now();
    await cluster(['ringtap', 'agent', after.node]);
    await ready('churn', 1, (t) => Date.parse(t[0]?.status?.lastUpdateTime ?? '') > killedAt);
    const node = nodes.find((n) => n.name === after.node)!;
    for (const hook of ['ingress', 'egress'] as const) expect(filtersOn(node, after.hostVeth, hook).filter(ours)).toHaveLength(1);
    await ping(pod('client').netns, after.ip, 2);
    await col.expectCount(`icmp and host ${after.ip}`, 10 + 4);
    const m = await waitFor('counters to include the new packets', async () => {
      const x = await getMirror('churn');
      return (x.status?.totals?.packets ?? 0) >= counted + 4 ? x : undefined;
    }, 10_000, 200);
    expect(m.status?.totals?.packets).toBeGreaterThanOrEqual(counted + 4);
  }, 90_000);
});

describe('what the kernel or the namespace does not allow', () => {
  test('GRE on a kernel without it: the node task fails and the mirror is Stalled with CapabilityMissing', async () => {
    await createMirror('gre', { source: { pods: { names: ['web-1'] } }, destination: { remote: { address: '192.0.2.9', protocol: 'gre', key: 5 } } });
    const m = await waitFor('Stalled', async () => {
      const x = await getMirror('gre');
      return x.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True') ? x : undefined;
    }, 20_000, 200);
    const stalled = m.status!.conditions!.find((c) => c.type === 'Stalled')!;
    expect(stalled.reason).toBe('CapabilityMissing');
    expect(stalled.message).toMatch(/gre/);
    expect(m.status?.phase).toBe('Failed');
  }, 60_000);

  test('node interfaces from an untrusted namespace: Stalled, no NodeTask', async () => {
    const other = await createNamespace('e2e-pmir-untrusted');
    try {
      await admin.create(PortMirrorType, { metadata: { name: 'nodes', namespace: other }, spec: { source: { nodes: { all: true, interfaces: ['eth0'] } }, destination: { interface: { name: 'eth0' } } } } as unknown as PortMirror);
      const m = await waitFor('Stalled', async () => {
        const x = await admin.get<PortMirror>(PortMirrorType, other, 'nodes');
        return x.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True') ? x : undefined;
      }, 20_000, 200);
      expect(m.status!.conditions!.find((c) => c.type === 'Stalled')!.reason).toBe('UntrustedNamespace');
      expect((await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-namespace=${other}` })).items).toEqual([]);
      await admin.delete(PortMirrorType, other, 'nodes');
      await waitFor('the mirror to be gone', async () => admin.get(PortMirrorType, other, 'nodes').then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 20_000);
    } finally {
      await deleteNamespace(other).catch(() => undefined);
    }
  }, 60_000);
});

describe('node interfaces (trusted namespace)', () => {
  test('a node interface mirrored to another node interface: both directions, exactly', async () => {
    const node = nodes[0]!;
    const peer = `${node.netns}-src`, mon = `${node.netns}-mon`;
    const ipx = (...a: string[]) => execFileSync('ip', a);
    ipx('netns', 'add', peer);
    ipx('netns', 'add', mon);
    try {
      ipx('-n', node.netns, 'link', 'add', 'pm-src', 'type', 'veth', 'peer', 'name', 'pm-srcp', 'netns', peer);
      ipx('-n', node.netns, 'link', 'add', 'pm-mon', 'type', 'veth', 'peer', 'name', 'pm-monp', 'netns', mon);
      ipx('-n', node.netns, 'addr', 'add', '192.0.2.1/30', 'dev', 'pm-src');
      for (const [n, d] of [[node.netns, 'pm-src'], [node.netns, 'pm-mon'], [peer, 'pm-srcp'], [mon, 'pm-monp']] as const) ipx('-n', n, 'link', 'set', d, 'up');
      ipx('-n', peer, 'addr', 'add', '192.0.2.2/30', 'dev', 'pm-srcp');
      await createMirror('nodeif', { source: { nodes: { names: [node.name], interfaces: ['pm-src'] } }, destination: { interface: { name: 'pm-mon' } } });
      await ready('nodeif', 1);
      const s = await sniff(mon, 'pm-monp');
      await ping(peer, '192.0.2.1', 5);
      await s.expectCount('icmp[icmptype] == icmp-echo', 5); // the interface's ingress
      await s.expectCount('icmp[icmptype] == icmp-echoreply', 5); // its egress
      await deleteMirror('nodeif');
      expect(ringtapState(node).filters).toEqual([]);
    } finally {
      ipx('-n', node.netns, 'link', 'del', 'pm-src');
      ipx('-n', node.netns, 'link', 'del', 'pm-mon');
      ipx('netns', 'del', peer);
      ipx('netns', 'del', mon);
    }
  }, 60_000);
});
