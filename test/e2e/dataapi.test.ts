// The data API (data.ringtap.dev) end to end, through the real API server: every kind of user
// credential fetches and streams a capture of two nodes, with the plugin and with
// `kubectl get --raw`, and gets exactly the packets the status counts (tshark). A user without
// the download permission gets kubectl's 403 and can still read the capture. The agents refuse
// anyone but the operator, a user's token included.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeTaskType, PacketCaptureType } from '../../crds/src/index.js';
import { agentAudience, dataPath } from '../../crds/src/dataapi.js';
import type { NodeTask, PacketCapture } from '../../lib/kube/objects.js';
import { KubeClient } from '../../lib/kube/kube.js';
import { ping } from '../support/capture.js';
import { addNode, addPod, cluster, type SimNode, type SimPod } from '../support/cluster.js';
import {
  adminKubeconfig, cliMain, execKubeconfig, kubectl, kubectlPath, nodeBin, plugin, run, saToken, startRingtapWithDataApi, tearDownDataApiFixture, tokenKubeconfig, tsharkFields,
} from '../support/dataapi.js';
import { adminConfig, createNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../support/kube.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
const ECHO = 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply';
let ns: string;
let work: string;
let nodes: SimNode[] = [];
const pods = new Map<string, SimPod>();
/** Who downloads: a client certificate, a ServiceAccount token, an exec credential plugin. */
const users: Record<'admin' | 'alice' | 'carol', string> = { admin: '', alice: '', carol: '' };
let bob = '';

type Capture = PacketCapture & { status?: PacketCapture['status'] & { totals?: { packets?: number } } };

async function attached(name: string, nodeCount: number): Promise<void> {
  await waitFor(`${name}: targets attached`, async () => {
    const t = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, name) })).items;
    return (t.length === nodeCount && t.every((x) => x.status?.phase === 'Running' && (x.status.targets ?? []).length > 0
      && x.status.targets!.every((g) => g.state === 'Attached'))) || undefined;
  }, 30_000, 100);
}

async function completed(name: string): Promise<Capture> {
  return waitFor(`${name} Completed`, async () => {
    const c = await admin.get<Capture>(PacketCaptureType, ns, name);
    return c.status?.phase === 'Completed' ? c : undefined;
  }, 60_000, 250);
}

/** A capture that completes when each node has `perNode` packets (limits apply per node), not on a
 * clock: a loaded machine may take longer to open streams than any fixed duration allows. */
async function capture(name: string, perNode: number): Promise<void> {
  const r = await plugin(users.alice, ['capture', name, '--selector', 'app=web', '--filter', ECHO, '--max-packets', String(perNode), '--duration', '10m']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  await attached(name, 2);
}

/** Echo traffic to the web pod on each node (`n` requests each, each with its reply). */
async function traffic(n = 4): Promise<void> {
  const client = pods.get('client')!;
  await ping(client.netns, pods.get('web-1')!.ip, n);
  await ping(client.netns, pods.get('web-2')!.ip, n);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-dataapi-'));
  ns = await createNamespace('e2e-data');
  nodes = [await addNode(uniqueName('da')), await addNode(uniqueName('da'))];
  for (const [name, node, app] of [['web-1', 0, 'web'], ['web-2', 1, 'web'], ['client', 1, 'client']] as const) {
    pods.set(name, await addPod(nodes[node]!.name, ns, name, { app }));
  }
  await startRingtapWithDataApi();
  // alice may create and download captures (the aggregated roles); carol may download (view);
  // bob may read PacketCaptures but not download them.
  for (const sa of ['alice', 'bob', 'carol']) await cluster(['kubectl', 'create', 'serviceaccount', sa, '-n', ns]);
  // (the local cluster runs no ClusterRole aggregation controller: the ringtap roles are bound directly)
  await cluster(['kubectl', 'create', 'rolebinding', 'alice-edit', '-n', ns, '--clusterrole=ringtap-edit', `--serviceaccount=${ns}:alice`]);
  await cluster(['kubectl', 'create', 'rolebinding', 'alice-view', '-n', ns, '--clusterrole=ringtap-view', `--serviceaccount=${ns}:alice`]);
  await cluster(['kubectl', 'create', 'rolebinding', 'carol-view', '-n', ns, '--clusterrole=ringtap-view', `--serviceaccount=${ns}:carol`]);
  await cluster(['kubectl', 'create', 'role', 'capture-reader', '-n', ns, '--verb=get,list,watch', '--resource=packetcaptures.ringtap.dev']);
  await cluster(['kubectl', 'create', 'rolebinding', 'bob-read', '-n', ns, '--role=capture-reader', `--serviceaccount=${ns}:bob`]);
  users.admin = adminKubeconfig(work, ns);
  users.alice = await tokenKubeconfig(work, ns, 'alice');
  users.carol = await execKubeconfig(work, ns, 'carol');
  bob = await tokenKubeconfig(work, ns, 'bob');
}, 180_000);

afterAll(() => tearDownDataApiFixture(pods.values(), nodes, ns, work), 180_000);

describe('fetch: every credential, plugin and kubectl get --raw', () => {
  let done: Capture;
  beforeAll(async () => {
    await capture('web', 8);
    await traffic();
    done = await completed('web');
    expect(done.status?.totals?.packets).toBe(16);
  }, 90_000);

  test.each(['admin', 'alice', 'carol'] as const)('%s: the merged file holds exactly the packets the status counts, from both nodes, in time order', async (who) => {
    const viaPlugin = join(work, `web-${who}.pcapng`);
    const p = await plugin(users[who], ['fetch', 'web', '-o', viaPlugin]);
    expect(p).toMatchObject({ code: 0, stderr: expect.stringMatching(/wrote 16 packets from 2 node\(s\)/) });

    const viaKubectl = join(work, `web-${who}-raw.pcapng`);
    const k = await run('bash', ['-c', '"$0" --kubeconfig "$1" get --raw "$2" > "$3"', kubectlPath(), users[who], dataPath('PacketCapture', ns, 'web', 'pcap'), viaKubectl]);
    expect(k).toMatchObject({ code: 0, stderr: '' });

    for (const file of [viaPlugin, viaKubectl]) {
      const rows = await tsharkFields(file, ['frame.interface_description', 'frame.time_epoch']);
      expect(rows.length).toBe(done.status!.totals!.packets);
      for (const [name, n] of [['web-1', 4], ['web-2', 4]] as const) {
        const pod = pods.get(name)!;
        expect(rows.filter((r) => r[0] === `node=${pod.node} pod=${ns}/${name} uid=${pod.uid} interface=eth0`).length).toBe(2 * n);
      }
      const times = rows.map((r) => Number(r[1]));
      for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    }
    expect(readFileSync(viaPlugin).equals(readFileSync(viaKubectl))).toBe(true);
  }, 60_000);

  test('?node= and the files list: one node\'s packets, and each file downloadable with Range', async () => {
    const node = pods.get('web-2')!.node;
    const one = join(work, 'web-node.pcapng');
    expect(await plugin(users.alice, ['fetch', 'web', '--node', node, '-o', one])).toMatchObject({ code: 0 });
    expect((await tsharkFields(one, ['frame.number'])).length).toBe(8);

    const list = await kubectl(users.alice, ['get', '--raw', dataPath('PacketCapture', ns, 'web', 'files')]);
    expect(list.code).toBe(0);
    const data = JSON.parse(list.stdout) as { kind: string; nodes: { node: string; packets: number; files: { name: string; size: number; path: string }[] }[] };
    expect(data.kind).toBe('PacketCaptureData');
    expect(data.nodes.map((n) => [n.node, n.packets]).sort()).toEqual([[pods.get('web-1')!.node, 8], [node, 8]].sort());
    const f = data.nodes.find((n) => n.node === node)!.files[0]!;
    const whole = await run('bash', ['-c', '"$0" --kubeconfig "$1" get --raw "$2" > "$3"', kubectlPath(), users.alice, f.path, join(work, 'one-file.pcapng')]);
    expect(whole.code).toBe(0);
    expect(statSync(join(work, 'one-file.pcapng')).size).toBe(f.size);
    // A byte range, through the API server, as curl asks for it (kubectl has no Range flag).
    const cert = join(work, 'admin.crt'), key = join(work, 'admin.key');
    const kc = readFileSync(users.admin, 'utf8');
    writeFileSync(cert, Buffer.from(/client-certificate-data: (\S+)/.exec(kc)![1]!, 'base64'));
    writeFileSync(key, Buffer.from(/client-key-data: (\S+)/.exec(kc)![1]!, 'base64'));
    const server = /server: (\S+)/.exec(kc)![1]!;
    const ca = join(work, 'ca.crt');
    writeFileSync(ca, Buffer.from(/certificate-authority-data: (\S+)/.exec(kc)![1]!, 'base64'));
    const part = join(work, 'part.bin');
    const r = await run('curl', ['-sS', '-o', part, '-w', '%{http_code} %{size_download}', '--cacert', ca, '--cert', cert, '--key', key, '-H', 'Range: bytes=28-127', `${server}${f.path}`]);
    expect(r.stdout).toBe('206 100');
    expect(readFileSync(part).equals(readFileSync(join(work, 'one-file.pcapng')).subarray(28, 128))).toBe(true);
  }, 60_000);

  test('a user without the download permission gets 403 from kubectl and the plugin, and can still get the PacketCapture', async () => {
    const k = await kubectl(bob, ['get', '--raw', dataPath('PacketCapture', ns, 'web', 'pcap')]);
    expect(k.code).not.toBe(0);
    expect(k.stderr).toMatch(/Error from server \(Forbidden\): packetcaptures\.ringtap\.dev "web" is forbidden: User "system:serviceaccount:[^"]+:bob" cannot get resource "packetcaptures\/download"/);
    const p = await plugin(bob, ['fetch', 'web', '-o', join(work, 'bob.pcapng')]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/Forbidden \(403\)/);
    const g = await kubectl(bob, ['get', 'packetcapture', 'web', '-o', 'jsonpath={.status.phase}']);
    expect(g).toMatchObject({ code: 0, stdout: 'Completed' });
  }, 60_000);
});

/** A command line whose stdout goes to a file; resolves with its exit code when it ends. */
function background(args: string[], out: string): { exited: Promise<number>; kill: () => void } {
  const child = spawn('bash', ['-c', 'set -o pipefail; "$@" > "$OUT"', 'bash', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OUT: out } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { exited: exited.then((c) => (c === 0 ? c : Promise.reject(new Error(`${args.join(' ')} exited ${c}: ${stderr}`)))), kill: () => child.kill() };
}

const size = (f: string) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

describe('stream: every credential, plugin and kubectl get --raw ?follow=true', () => {
  test('every credential\'s stream gets the packets of both nodes and ends when the capture completes', async () => {
    await capture('live', 8);
    const streams: { name: string; out: string; proc: ReturnType<typeof background> }[] = [];
    const follow = `${dataPath('PacketCapture', ns, 'live', 'pcap')}?follow=true`;
    try {
      for (const who of ['admin', 'alice', 'carol'] as const) {
        const viaPlugin = join(work, `live-${who}.pcapng`);
        streams.push({ name: `${who} plugin`, out: viaPlugin, proc: background([nodeBin, cliMain, '--kubeconfig', users[who], 'stream', 'live'], viaPlugin) });
        const viaKubectl = join(work, `live-${who}-raw.pcapng`);
        streams.push({ name: `${who} kubectl`, out: viaKubectl, proc: background([kubectlPath(), '--kubeconfig', users[who], 'get', '--raw', follow], viaKubectl) });
      }
      // The section header comes once the operator has every node's live stream open.
      await waitFor('every stream to open', () => streams.every((s) => size(s.out) >= 28) || undefined, 20_000, 50);
      await traffic();
      await Promise.all(streams.map((s) => s.proc.exited));
    } finally {
      for (const s of streams) s.proc.kill();
    }
    const done = await completed('live');
    for (const s of streams) {
      const rows = await tsharkFields(s.out, ['frame.interface_description']);
      expect({ stream: s.name, packets: rows.length }).toEqual({ stream: s.name, packets: done.status!.totals!.packets });
      expect(new Set(rows.map((r) => /node=(\S+)/.exec(r[0]!)?.[1]))).toEqual(new Set(nodes.map((n) => n.name)));
    }
  }, 120_000);

  test('kubectl get --raw ...?follow=true | tshark -r - prints packets of two nodes as they come and ends when the capture completes', async () => {
    // Two packets per node more than the first traffic: the packets are printed while it still runs.
    await capture('piped', 10);
    const out = join(work, 'piped.txt');
    const raw = join(work, 'piped.pcapng');
    // tee keeps a copy of the bytes, so the test sees when the stream has opened (its section header).
    const cmd = `"${kubectlPath()}" --kubeconfig "${users.alice}" get --raw '${dataPath('PacketCapture', ns, 'piped', 'pcap')}?follow=true' | tee "${raw}" | tshark -l -r - -T fields -e frame.interface_description`;
    const proc = background(['bash', '-c', cmd], out);
    try {
      await waitFor('the stream to open', () => size(raw) >= 28 || undefined, 20_000, 50);
      await traffic();
      const lines = await waitFor('tshark to print the packets', () => {
        const l = readFileSync(out, 'utf8').split('\n').filter(Boolean);
        return l.length >= 16 ? l : undefined;
      }, 30_000, 100);
      expect((await admin.get<Capture>(PacketCaptureType, ns, 'piped')).status?.phase).toBe('Running');
      expect(new Set(lines.map((l) => /node=(\S+)/.exec(l)?.[1]))).toEqual(new Set(nodes.map((n) => n.name)));
      await traffic(1); // each node reaches its limit: the capture completes and the stream ends
      await proc.exited;
    } finally {
      proc.kill();
    }
    expect((await completed('piped')).status?.totals?.packets).toBe(readFileSync(out, 'utf8').split('\n').filter(Boolean).length);
  }, 90_000);
});

describe('the agents serve the operator only', () => {
  const agentUrl = (node: SimNode) => `https://${node.ip}:9443/v1/captures/${ns}/web/files`;
  const status = async (node: SimNode, headers: string[], extra: string[] = []) =>
    (await run('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', ...headers.flatMap((h) => ['-H', h]), ...extra, agentUrl(node)])).stdout;

  test('a user\'s own token sent straight to an agent is refused; so is the operator\'s token for another node', async () => {
    const alice = await saToken(ns, 'alice');
    expect(await status(nodes[0]!, [`Authorization: Bearer ${alice}`])).toBe('401');
    expect(await status(nodes[0]!, [])).toBe('401');
    // The operator's own ServiceAccount, but a token made for node 1's agent: node 0 refuses it.
    const forOne = await saToken('ringtap-system', 'ringtap-operator', [`--audience=${agentAudience(nodes[1]!.name)}`]);
    expect(await status(nodes[0]!, [`Authorization: Bearer ${forOne}`])).toBe('401');
    // ... and node 1 takes it: the refusals above are the agent deciding, not an agent that is down.
    expect(await status(nodes[1]!, [`Authorization: Bearer ${forOne}`])).toBe('200');
  }, 30_000);
});
