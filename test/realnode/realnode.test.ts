// ringtap as users run it: the chart installed with helm (default values, the image built by
// hack/build-image.sh) on a real kubelet + containerd node, capturing pods of the test-app
// image that run as a non-root user. Traffic comes from `kubectl exec`; tshark reads the files.
// The last test takes the cluster down and checks that the host is as it was before.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type NodeTaskStatus, NodeTaskType, PacketCaptureType, PortMirrorType } from '../../crds/src/index.js';
import type { NodeTask, PacketCapture, PortMirror } from '../../lib/kube/objects.js';
import { resolvePodNetns } from '../../agent/src/node/podnetns.js';
import { KubeClient } from '../../lib/kube/kube.js';
import { countByInterface } from '../support/capture.js';
import { cluster, readClusterEnv, runDir } from '../support/cluster.js';
import { adminConfig, uniqueName, waitFor } from '../support/kube.js';
import { helm } from '../unit/chart/helm.js';
import { hostState, kubectl, leftoversNaming, processesNaming, readRealNode, testAppPod, type HostState, type RealNode } from './support.js';

const execFileP = promisify(execFile);
const admin = new KubeClient(adminConfig(), 'test-admin');
const RINGTAP_NS = 'ringtap-system';
// Echo requests and replies, and the test's datagrams; not the ICMP port-unreachable errors
// that answer datagrams nobody listens for (the kernel rate-limits those).
const FILTER = 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply or udp port 9999';
let node: RealNode;
let before: HostState;
let ns: string;
const ips = new Map<string, string>();
let tmp: string;
const unmount: string[] = [];

type Capture = PacketCapture & { status?: PacketCapture['status'] & { totals?: { packets: number }; conditions?: { type: string; status: string; reason: string; message: string }[] } };

const getCapture = (name: string) => admin.get<Capture>(PacketCaptureType, ns, name);
// Every kind's NodeTasks live in the operator's namespace (ADR 0012).
const tasksOf = async (name: string) => (await admin.list<NodeTask>(NodeTaskType, RINGTAP_NS, { labelSelector: `ringtap.dev/parent-namespace=${ns},ringtap.dev/parent-name=${name}` })).items;
const createCapture = (name: string, spec: Record<string, unknown>) =>
  admin.create(PacketCaptureType, { metadata: { name, namespace: ns }, spec } as unknown as PacketCapture);
const deleteCapture = (name: string) => kubectl(['delete', 'packetcapture', name, '-n', ns, '--ignore-not-found', '--wait=false']);
const ready = (c: Capture) => c.status?.conditions?.find((x) => x.type === 'Ready');

/** Waits until the capture's NodeTask on the real node has every target in the state, and returns its status. */
async function targets(name: string, state: 'Attached' | 'Failed', timeoutMs = 60_000): Promise<NodeTaskStatus> {
  let last: unknown;
  try {
    return await waitFor(`${name}: targets ${state}`, async () => {
      const t = (await tasksOf(name)).find((x) => x.spec.node === node.name);
      last = t?.status;
      const g = t?.status?.targets;
      return t?.status?.phase === 'Running' && g?.length && g.every((x) => x.state === state) ? t.status : undefined;
    }, timeoutMs, 250);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the NodeTask's last status: ${JSON.stringify(last)}`, { cause: err });
  }
}

async function ping(from: string, to: string, count: number): Promise<void> {
  const out = await kubectl(['exec', '-n', ns, from, '--', 'ping', '-c', String(count), '-i', '0.05', '-W', '2', ips.get(to)!]);
  if (!out.includes(`${count} packets transmitted, ${count} received`)) throw new Error(`ping ${to} from ${from}: ${out}`);
}
async function udp(from: string, to: string, count: number): Promise<void> {
  const py = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(${count}): s.sendto(b'x'*64,('${ips.get(to)}',9999))\n`;
  await kubectl(['exec', '-n', ns, from, '--', 'python3', '-c', py]);
}

/** Capture files of a capture on the real node (the agent's dataDir is a hostPath under the run directory). */
function files(capture: string): string[] {
  const dir = join(runDir(), 'ringtap-data', ns, capture, node.name);
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.pcapng')).sort().map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** One file of all segments (mergecap), packets per pod counted by tshark. */
async function perPod(capture: string): Promise<Map<string, number>> {
  const merged = join(tmp, `${capture}.pcapng`);
  await execFileP('mergecap', ['-w', merged, ...files(capture)]);
  const m = new Map<string, number>();
  // Every packet in the file: the kernel filter kept only those the test counts.
  for (const [desc, n] of await countByInterface([merged])) {
    const pod = /pod=[^/]+\/(\S+)/.exec(desc)?.[1] ?? desc;
    m.set(pod, (m.get(pod) ?? 0) + n);
  }
  return m;
}

async function agentPod(): Promise<{ name: string; uid: string }> {
  const out = JSON.parse(await kubectl(['get', 'pods', '-n', RINGTAP_NS, '-l', 'app.kubernetes.io/name=ringtap-agent', '--field-selector', `spec.nodeName=${node.name}`, '-o', 'json'])) as
    { items: { metadata: { name: string; uid: string; deletionTimestamp?: string }; status?: { conditions?: { type: string; status: string }[] } }[] };
  const p = out.items.find((i) => !i.metadata.deletionTimestamp && i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  if (!p) throw new Error('no ready agent pod on the real node');
  return { name: p.metadata.name, uid: p.metadata.uid };
}
const waitAgent = (notUid?: string) => waitFor('a ready agent pod on the real node', async () => {
  const p = await agentPod().catch(() => undefined);
  return p && p.uid !== notUid ? p : undefined;
}, 180_000, 500);

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ringtap-realnode-'));
  before = await hostState();
  const name = uniqueName('real');
  await cluster(['node', 'add', '--real', name]);
  node = readRealNode(name);
  await cluster(['ringtap', 'install']);
  ns = uniqueName('rn');
  await kubectl(['create', 'namespace', ns]);
  for (const [pod, app] of [['a', 'web'], ['b', 'web'], ['client', 'client']] as const) {
    const f = join(tmp, `${pod}.json`);
    writeFileSync(f, JSON.stringify(testAppPod(ns, pod, { app })));
    // The namespace's default ServiceAccount comes from a controller, shortly after the namespace.
    await waitFor(`pod ${pod} created`, () => kubectl(['apply', '-f', f]).catch(() => undefined), 30_000, 250);
  }
  await kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '-n', ns, '--timeout=120s'], 130_000);
  for (const pod of ['a', 'b', 'client']) ips.set(pod, (await kubectl(['get', 'pod', pod, '-n', ns, '-o', 'jsonpath={.status.podIP}'])).trim());
}, 1_200_000);

afterAll(async () => {
  for (const m of unmount) await execFileP('umount', ['-l', m]).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('the chart on a real node, default values', () => {
  test('the agent runs with the chart\'s capabilities only: no SYS_PTRACE, not privileged', async () => {
    const ds = JSON.parse(await kubectl(['get', 'daemonset', 'ringtap-agent', '-n', RINGTAP_NS, '-o', 'json'])) as
      { spec: { template: { spec: { containers: { securityContext: { privileged: boolean; capabilities: { add: string[] } } }[] } } } };
    const sc = ds.spec.template.spec.containers[0]!.securityContext;
    expect(sc.privileged).toBe(false);
    expect([...sc.capabilities.add].sort()).toEqual(['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN']);
    // The test app runs as a non-root user: the agent may not open /proc/PID/ns/net of its processes.
    expect((await kubectl(['exec', '-n', ns, 'a', '--', 'id', '-u'])).trim()).toBe('65532');
  }, 60_000);

  test('a PacketCapture of two pods completes; per-pod counts in the merged file equal the traffic sent', async () => {
    await createCapture('two', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { duration: '25s' } });
    await targets('two', 'Attached');
    await ping('client', 'a', 7);
    await udp('client', 'a', 5);
    await ping('client', 'b', 4);
    await udp('client', 'b', 9);
    const done = await waitFor('the capture to complete', async () => {
      const c = await getCapture('two');
      return c.status?.phase === 'Completed' ? c : undefined;
    }, 90_000, 500);
    // At each pod's eth0: every echo request in and its reply out, and every datagram.
    const want = new Map([['a', 2 * 7 + 5], ['b', 2 * 4 + 9]]);
    expect(await perPod('two')).toEqual(want);
    expect(done.status?.totals?.packets).toBe(2 * 7 + 5 + 2 * 4 + 9);
    expect(done.status?.stopReason).toBe('DurationReached');
  }, 180_000);

  test('the agent pod deleted mid-capture comes back; the capture goes on in a new segment and its counts never go down', async () => {
    await createCapture('restart', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { duration: '30m' } });
    await targets('restart', 'Attached');
    await ping('client', 'a', 5);
    await waitFor('5 echo pairs counted', async () => ((await getCapture('restart')).status?.totals?.packets ?? 0) >= 10 || undefined, 30_000, 250);
    const seen: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const p = (await getCapture('restart').catch(() => undefined))?.status?.totals?.packets;
        if (p !== undefined) seen.push(p);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const old = await agentPod();
    await kubectl(['delete', 'pod', old.name, '-n', RINGTAP_NS, '--wait=false']);
    const fresh = await waitAgent(old.uid);
    expect(fresh.name).not.toBe(old.name);
    await targets('restart', 'Attached');
    await ping('client', 'b', 6);
    await waitFor('all echo pairs counted', async () => ((await getCapture('restart')).status?.totals?.packets ?? 0) >= 22 || undefined, 60_000, 250);
    watching = false;
    await watcher;
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect(files('restart').length).toBeGreaterThanOrEqual(2);
    expect(await perPod('restart')).toEqual(new Map([['a', 10], ['b', 12]]));
    await deleteCapture('restart');
  }, 300_000);

  test('helm upgrade with a changed value rolls the agent and the operator; the capture survives', async () => {
    await createCapture('upgrade', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { duration: '30m' } });
    await targets('upgrade', 'Attached');
    await ping('client', 'a', 3);
    await waitFor('3 echo pairs counted', async () => ((await getCapture('upgrade')).status?.totals?.packets ?? 0) >= 6 || undefined, 30_000, 250);
    const agentBefore = await agentPod();
    const operatorsBefore = (await kubectl(['get', 'pods', '-n', RINGTAP_NS, '-l', 'app.kubernetes.io/name=ringtap-operator', '-o', 'jsonpath={.items[*].metadata.uid}'])).trim().split(' ');
    await cluster(['ringtap', 'install', '--reuse-values', '--set', 'agent.logLevel=debug', '--set', 'operator.logLevel=debug']);
    await kubectl(['rollout', 'status', 'daemonset/ringtap-agent', '-n', RINGTAP_NS, '--timeout=180s'], 190_000);
    await kubectl(['rollout', 'status', 'deployment/ringtap-operator', '-n', RINGTAP_NS, '--timeout=180s'], 190_000);
    const agentAfter = await waitAgent(agentBefore.uid);
    expect(agentAfter.uid).not.toBe(agentBefore.uid);
    // rollout status returns once the new pods are available; the old ones may still be shutting
    // down (their grace period), so wait until they are gone.
    const operatorUids = async () => (await kubectl(['get', 'pods', '-n', RINGTAP_NS, '-l', 'app.kubernetes.io/name=ringtap-operator', '-o', 'jsonpath={.items[*].metadata.uid}'])).trim().split(' ');
    const operatorsAfter = await waitFor('the old operator pods to be gone', async () => {
      const now = await operatorUids();
      return now.some((u) => operatorsBefore.includes(u)) ? undefined : now;
    }, 120_000, 500);
    expect(operatorsAfter.filter((u) => operatorsBefore.includes(u))).toEqual([]);
    expect(operatorsAfter.length).toBe(2);
    await targets('upgrade', 'Attached');
    await ping('client', 'a', 4);
    const c = await waitFor('7 echo pairs counted', async () => {
      const x = await getCapture('upgrade');
      return (x.status?.totals?.packets ?? 0) >= 14 ? x : undefined;
    }, 60_000, 250);
    expect(c.status?.phase).toBe('Running');
    expect(await perPod('upgrade')).toEqual(new Map([['a', 14]]));
    await deleteCapture('upgrade');
  }, 600_000);

  test('two operator replicas elect a leader; killing the leader pod hands the lease over', async () => {
    const holder = async () => (await kubectl(['get', 'lease', 'ringtap-operator', '-n', RINGTAP_NS, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    const pods = (await kubectl(['get', 'pods', '-n', RINGTAP_NS, '-l', 'app.kubernetes.io/name=ringtap-operator', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(' ');
    expect(pods.length).toBe(2);
    const leader = await waitFor('a leader', async () => {
      const h = await holder();
      return pods.includes(h) ? h : undefined;
    }, 60_000, 500);
    await kubectl(['delete', 'pod', leader, '-n', RINGTAP_NS, '--grace-period=0', '--force']);
    const next = await waitFor('another holder of the lease', async () => {
      const h = await holder();
      return h && h !== leader ? h : undefined;
    }, 120_000, 500);
    expect(next).not.toBe(leader);
    // The new leader works: a capture gets its NodeTask and completes.
    await createCapture('after-handover', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { maxPackets: 4 } });
    await targets('after-handover', 'Attached');
    await ping('client', 'b', 2);
    await waitFor('the capture to complete', async () => (await getCapture('after-handover')).status?.phase === 'Completed' || undefined, 60_000, 500);
  }, 300_000);

  test('a target the agent may not enter: the status names permission denied, the target is not Attached, the capture not Ready', async () => {
    // The agent told to look for pinned namespaces where the runtime puts none (as with a
    // runtime that pins them elsewhere): /proc/PID/ns/net of the non-root pod is all it has.
    // A runtime's netns directory is a shared mount (HostToContainer propagation needs one).
    const noNetns = join(runDir(), 'no-netns');
    mkdirSync(noNetns, { recursive: true });
    await execFileP('mount', ['--bind', noNetns, noNetns]);
    await execFileP('mount', ['--make-shared', noNetns]);
    unmount.push(noNetns);
    let restored = false;
    const restore = async () => {
      await cluster(['ringtap', 'install', '--reuse-values', '--set', 'agent.netnsDir=/run/netns']);
      restored = true;
    };
    try {
      await cluster(['ringtap', 'install', '--reuse-values', '--set', `agent.netnsDir=${noNetns}`]);
      await kubectl(['rollout', 'status', 'daemonset/ringtap-agent', '-n', RINGTAP_NS, '--timeout=180s'], 190_000);
      await createCapture('denied', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { duration: '30m' } });
      const st = await targets('denied', 'Failed');
      for (const t of st.targets!) {
        expect(t.message).toContain('ERR_RINGTAP_NETNS_PERMISSION_DENIED');
        expect(t.message).toContain('permission denied (EACCES)');
        expect(t.message).not.toContain('POD_NOT_FOUND');
      }
      const c = await waitFor('the capture not Ready, saying why', async () => {
        const x = await getCapture('denied');
        return ready(x)?.reason === 'AttachFailed' ? x : undefined;
      }, 30_000, 250);
      // Every target failed to attach: nothing changes without a person, so Stalled too.
      expect(ready(c)).toMatchObject({ status: 'False', reason: 'AttachFailed' });
      expect(ready(c)!.message).toContain('permission denied');
      // Back to the default: the same capture attaches and becomes Ready.
      await restore();
      await targets('denied', 'Attached', 180_000);
      await waitFor('the capture Ready', async () => ready(await getCapture('denied'))?.status === 'True' || undefined, 30_000, 250);
      await deleteCapture('denied');
    } finally {
      // The tests after this one need the default back.
      if (!restored) await restore();
      await execFileP('umount', [noNetns]);
      unmount.pop();
    }
  }, 600_000);

  test('a PortMirror from a real pod delivers the copies to a collector pod', async () => {
    await admin.create(PortMirrorType, { metadata: { name: 'mirror', namespace: ns }, spec: {
      source: { pods: { names: ['a'] } }, direction: 'ingress', filter: 'icmp',
      destination: { pod: { name: 'client', interface: 'eth0' } },
    } } as unknown as PortMirror);
    await targets('mirror', 'Attached');
    // The copies reach the collector's eth0 still addressed to a: count them there with tcpdump.
    const uidOf = async (pod: string) => (await kubectl(['get', 'pod', pod, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
    const collector = await resolvePodNetns(await uidOf('client'));
    const pcap = join(tmp, 'mirror.pcap');
    const dump = spawn('nsenter', [`--net=${collector.netnsPath}`, 'timeout', '60', 'tcpdump', '-i', 'eth0', '-U', '-c', '6', '-w', pcap,
      `icmp[icmptype] == icmp-echo and src ${ips.get('b')} and dst ${ips.get('a')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let dumpErr = '';
    dump.stderr.on('data', (d: Buffer) => (dumpErr += d.toString()));
    const dumped = new Promise<number>((resolve) => dump.on('exit', (code) => resolve(code ?? -1)));
    // tcpdump says "listening on" once its socket is open: what is sent after that is counted.
    await waitFor('tcpdump to listen', () => (dumpErr.includes('listening on') ? true : undefined), 30_000, 50);
    await ping('b', 'a', 6);
    expect({ code: await dumped, stderr: dumpErr }).toMatchObject({ code: 0 });
    const { stdout } = await execFileP('tshark', ['-r', pcap, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.seq']);
    expect(stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 2).join('>'))).toEqual(Array(6).fill(`${ips.get('b')}>${ips.get('a')}`));
  }, 180_000);

  test('a restart keeps the mirror\'s tc filters; after helm uninstall no tc filter or qdisc of ringtap is left on any veth, and capture files stay', async () => {
    // The mirror above still runs: its tc filters are on a's host veth until the agent goes.
    // Per hook: how long ago the kernel installed its mirred action (tc -s: "installed N sec").
    const mirredAges = async () => {
      const out = new Map<string, number>();
      for (const l of JSON.parse((await execFileP('ip', ['-n', node.netns, '-j', 'link', 'show', 'type', 'veth'])).stdout) as { ifname: string }[]) {
        for (const dir of ['ingress', 'egress']) {
          const f = await execFileP('tc', ['-n', node.netns, '-s', '-j', 'filter', 'show', 'dev', l.ifname, dir]).then((x) => x.stdout, () => '');
          const filters = (f.trim() ? JSON.parse(f) : []) as { options?: { actions?: { kind: string; installed: number }[] } }[];
          for (const a of filters.flatMap((x) => x.options?.actions ?? [])) if (a.kind === 'mirred') out.set(`${l.ifname} ${dir}`, a.installed);
        }
      }
      return out;
    };
    const ages = await mirredAges();
    const t0 = Date.now();
    expect(ages.size).toBeGreaterThan(0);

    // A restart (the DaemonSet stays): the old agent leaves the filters and the new one adopts
    // them. Had either removed and re-added one, the kernel would count its age from then.
    // The agent's last words: its decision, and why (kubectl logs -f ends when the container does).
    const lastWords = (pod: string) => kubectl(['logs', '-f', pod, '-n', RINGTAP_NS], 240_000)
      .then((out) => out.split('\n').flatMap((l) => { try { return [JSON.parse(l) as { msg?: string; why?: string; removeKernelState?: boolean }]; } catch { return []; } })
        .find((l) => l.removeKernelState !== undefined));
    const old = await agentPod();
    const restartWords = lastWords(old.name);
    await kubectl(['delete', 'pod', old.name, '-n', RINGTAP_NS, '--wait=true']);
    expect(await restartWords).toMatchObject({ removeKernelState: false, why: expect.stringContaining('still exists') });
    const current = await waitAgent(old.uid);
    await targets('mirror', 'Attached');
    const elapsed = Math.floor((Date.now() - t0) / 1000);
    const after = await mirredAges();
    expect([...after.keys()].sort()).toEqual([...ages.keys()].sort());
    // Whole seconds on both readings: at most one lost to rounding.
    const renewed = [...ages].filter(([hook, age]) => after.get(hook)! < age + elapsed - 1);
    expect(renewed.map(([hook, age]) => `${hook}: installed ${after.get(hook)} s ago, ${age} s ago ${elapsed} s before`)).toEqual([]);

    // A capture runs through the uninstall: its files are the user's and stay on the node.
    await createCapture('kept', { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, filter: FILTER, limits: { duration: '30m' } });
    await targets('kept', 'Attached');
    await ping('client', 'a', 3);
    await waitFor('3 echo pairs counted', async () => ((await getCapture('kept')).status?.totals?.packets ?? 0) >= 6 || undefined, 30_000, 250);
    const keptFiles = files('kept');
    expect(keptFiles.length).toBeGreaterThan(0);

    const uninstallWords = lastWords(current.name);
    const r = await helm(['uninstall', 'ringtap', '--namespace', RINGTAP_NS, '--kubeconfig', join(runDir(), 'admin.kubeconfig'), '--wait', '--timeout', '180s']);
    expect(r.stderr).toBe('');
    await waitFor('the agent and operator pods to be gone', async () =>
      (await kubectl(['get', 'pods', '-n', RINGTAP_NS, '-o', 'name'])).trim() === '' || undefined, 120_000, 500);
    expect(await uninstallWords).toMatchObject({ removeKernelState: true });
    const links = JSON.parse((await execFileP('ip', ['-n', node.netns, '-j', 'link', 'show', 'type', 'veth'])).stdout) as { ifname: string }[];
    expect(links.length).toBeGreaterThanOrEqual(3);
    const left: string[] = [];
    for (const l of links) {
      const q = (await execFileP('tc', ['-n', node.netns, 'qdisc', 'show', 'dev', l.ifname])).stdout;
      for (const x of q.split('\n').filter((y) => /clsact|ingress/.test(y))) left.push(`${l.ifname}: ${x.trim()}`);
      for (const dir of ['ingress', 'egress']) {
        const f = await execFileP('tc', ['-n', node.netns, 'filter', 'show', 'dev', l.ifname, dir]).then((x) => x.stdout, () => '');
        if (f.trim()) left.push(`${l.ifname} ${dir}: ${f.trim().split('\n')[0]}`);
      }
    }
    expect(left).toEqual([]);
    expect(files('kept')).toEqual(keptFiles);
  }, 420_000);
});

describe('hack/cluster down', () => {
  test('leaves nothing of the real node: no process, mount, netns, cgroup, iptables chain, link, sysctl or file outside the run directory', async () => {
    const dir = runDir();
    const prefix = readClusterEnv().PREFIX!;
    // The test's own mount, if a failed test above left it.
    for (const m of unmount.splice(0)) await execFileP('umount', ['-l', m]).catch(() => undefined);
    await cluster(['down']);
    expect(processesNaming(dir)).toEqual([]);
    expect(leftoversNaming(dir)).toEqual([]);
    const after = await hostState();
    expect(after.sysctls).toEqual(before.sysctls);
    // The host-wide claim is released whatever was there before: a claim left by a run that was
    // killed (its processes gone) is taken over and cleaned by the next real node.
    expect(after.paths).toEqual({ ...before.paths, '/run/ringtap/realnode': false });
    expect(after.cniNetns).toEqual(before.cniNetns);
    expect(after.kubepods).toEqual(before.kubepods);
    expect(after.rootChains).toEqual(before.rootChains);
    // Links of other runs may come and go meanwhile; none of this run's may stay.
    expect(after.rootLinks.filter((l) => !before.rootLinks.includes(l) && (l.startsWith(prefix) || /^(cni0|veth)/.test(l)))).toEqual([]);
    const netns = (await execFileP('ip', ['netns', 'list'])).stdout;
    expect(netns).not.toContain(node.netns);
  }, 300_000);
});
