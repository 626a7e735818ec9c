// kubectl-ringtap end to end: a capture made with the plugin, fetched as one merged pcapng
// through the data API (data.ringtap.dev) with the user's own kubeconfig, refused to a user
// without the download permission, and streamed live into tshark. Every credential kind and
// kubectl get --raw: test/e2e/dataapi.test.ts.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NodeTaskType, PacketCaptureType } from '../../crds/src/index.js';
import type { NodeTask, PacketCapture } from '../../lib/kube/objects.js';
import { KubeClient } from '../../lib/kube/kube.js';
import { ping, tcpdumpCount } from '../support/capture.js';
import { addNode, addPod, cluster, readClusterEnv, repoRoot, runDir, type SimNode, type SimPod } from '../support/cluster.js';
import { tearDownDataApiFixture } from '../support/dataapi.js';
import { adminConfig, createNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../support/kube.js';

const execFileP = promisify(execFile);
const admin = new KubeClient(adminConfig(), 'test-admin');
const ECHO = 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply';
const cliMain = join(repoRoot, 'dist/cli/src/main.js');
const nodeBin = join(repoRoot, 'node_modules/.bin/node');
let ns: string;
let work: string;
let nodes: SimNode[] = [];
const pods = new Map<string, SimPod>();
const kubeconfigs: Record<'alice' | 'bob', string> = { alice: '', bob: '' };

type Capture = PacketCapture & { status?: PacketCapture['status'] & { totals?: { packets: number } } };

/** A kubeconfig for a ServiceAccount with a token from the TokenRequest API. */
async function userKubeconfig(sa: string): Promise<string> {
  const token = (await cluster(['kubectl', 'create', 'token', sa, '-n', ns, '--duration=1h'])).trim();
  const env = readClusterEnv();
  const path = join(work, `${sa}.kubeconfig`);
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: c', '  cluster:', `    server: ${env.APISERVER_URL}`, `    certificate-authority-data: ${readFileSync(join(runDir(), 'pki/ca.crt')).toString('base64')}`,
    'users:', `- name: ${sa}`, '  user:', `    token: ${token}`,
    'contexts:', '- name: c', '  context:', '    cluster: c', `    user: ${sa}`, `    namespace: ${ns}`,
    'current-context: c', '',
  ].join('\n'), { mode: 0o600 });
  return path;
}

async function plugin(user: 'alice' | 'bob', args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(nodeBin, [cliMain, '--kubeconfig', kubeconfigs[user], ...args], { maxBuffer: 64 << 20, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function attached(name: string, nodeCount: number): Promise<void> {
  await waitFor(`${name}: targets attached`, async () => {
    const t = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, name) })).items;
    return (t.length === nodeCount && t.every((x) => x.status?.phase === 'Running' && (x.status.targets ?? []).length > 0
      && x.status.targets!.every((g) => g.state === 'Attached'))) || undefined;
  }, 30_000, 100);
}

async function fields(file: string, f: string[]): Promise<string[][]> {
  const { stdout } = await execFileP('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...f.flatMap((x) => ['-e', x])], { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-cli-'));
  ns = await createNamespace('e2e-cli');
  nodes = [await addNode(uniqueName('cl')), await addNode(uniqueName('cl'))];
  for (const [name, node, app] of [['web-1', 0, 'web'], ['web-2', 1, 'web'], ['web-3', 0, 'web'], ['client', 1, 'client']] as const) {
    pods.set(name, await addPod(nodes[node]!.name, ns, name, { app }));
  }
  await cluster(['ringtap', 'start']);
  // alice may create and download captures; bob may read them but not download.
  for (const sa of ['alice', 'bob']) await cluster(['kubectl', 'create', 'serviceaccount', sa, '-n', ns]);
  await cluster(['kubectl', 'create', 'rolebinding', 'alice-edit', '-n', ns, '--clusterrole=ringtap-edit', `--serviceaccount=${ns}:alice`]);
  await cluster(['kubectl', 'create', 'rolebinding', 'alice-view', '-n', ns, '--clusterrole=ringtap-view', `--serviceaccount=${ns}:alice`]);
  await cluster(['kubectl', 'create', 'role', 'capture-reader', '-n', ns, '--verb=get,list,watch', '--resource=packetcaptures.ringtap.dev']);
  await cluster(['kubectl', 'create', 'rolebinding', 'bob-read', '-n', ns, '--role=capture-reader', `--serviceaccount=${ns}:bob`]);
  kubeconfigs.alice = await userKubeconfig('alice');
  kubeconfigs.bob = await userKubeconfig('bob');
}, 180_000);

afterAll(() => tearDownDataApiFixture(pods.values(), nodes, ns, work), 180_000);

describe('kubectl ringtap capture and fetch', () => {
  test('the merged file holds exactly the filtered packets of every pod on both nodes, in time order, and equals the status', async () => {
    const created = await plugin('alice', ['capture', 'web', '--selector', 'app=web', '--filter', ECHO, '--duration', '12s']);
    expect(created.code).toBe(0);
    expect(created.stdout + created.stderr).toContain('web');
    await attached('web', 2);
    const client = pods.get('client')!;
    const sent = new Map([['web-1', 4], ['web-2', 3], ['web-3', 5]]);
    for (const [name, n] of sent) await ping(client.netns, pods.get(name)!.ip, n);
    const done = await waitFor('Completed', async () => {
      const c = await admin.get<Capture>(PacketCaptureType, ns, 'web');
      return c.status?.phase === 'Completed' ? c : undefined;
    }, 40_000, 250);

    const out = join(work, 'web.pcapng');
    const fetched = await plugin('alice', ['fetch', 'web', '-o', out]);
    expect(fetched.code).toBe(0);
    const rows = await fields(out, ['frame.interface_description', 'frame.time_epoch', 'icmp.type']);
    expect(rows.length).toBe(done.status?.totals?.packets);
    expect(rows.length).toBe(24);
    expect(await tcpdumpCount(out)).toBe(24);
    for (const [name, n] of sent) {
      const p = pods.get(name)!;
      expect(rows.filter((r) => r[0] === `node=${p.node} pod=${ns}/${name} uid=${p.uid} interface=eth0`).length).toBe(2 * n);
    }
    expect(rows.every((r) => r[2] === '8' || r[2] === '0')).toBe(true);
    const times = rows.map((r) => Number(r[1]));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    // One IDB per node/pod/interface.
    const { stdout: info } = await execFileP('capinfos', ['-I', out]);
    expect((info.match(/Interface #\d+ info/g) ?? []).length).toBe(3);
  }, 120_000);

  test('a user without the download permission is refused with 403; status still works for them', async () => {
    const r = await plugin('bob', ['fetch', 'web', '-o', join(work, 'bob.pcapng')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/403|cannot get packetcaptures\/download/);
    const s = await plugin('bob', ['status', 'web']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/Completed/);
  }, 60_000);
});

/** Runs `kubectl ringtap stream NAME [args]` into `tshark -r - -w out`, as a user types it. */
async function streamWhile(name: string, args: string[], out: string, traffic: () => Promise<void>): Promise<string> {
  const errFile = join(work, `${name}.err`);
  // A shell pipeline: tshark refuses a socket as its standard input.
  const child = spawn('bash', ['-c', 'set -o pipefail; "$0" "$1" --kubeconfig "$2" stream "$3" ${5:+"$5"} 2>"$4" | tshark -r - -w "$6" 2>/dev/null',
    nodeBin, cliMain, kubeconfigs.alice, name, errFile, args[0] ?? '', out], { stdio: 'ignore' });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const stderr = () => { try { return readFileSync(errFile, 'utf8'); } catch { return ''; } };
  try {
    // The plugin says when every node's stream is open; traffic after that is all streamed.
    await waitFor('the stream to open', () => (stderr().includes('streaming ') ? true : undefined), 15_000, 50);
    await traffic();
    const code = await Promise.race([exited, new Promise<number>((_, rej) => setTimeout(() => rej(new Error(`stream did not end: ${stderr()}`)), 40_000))]);
    expect({ code, stderr: stderr() }).toEqual({ code: 0, stderr: expect.stringMatching(/stream ended: /) });
    return stderr();
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

describe('kubectl ringtap stream', () => {
  test('delivers packets while traffic flows and ends when the capture completes', async () => {
    const created = await plugin('alice', ['capture', 'live', '--pod', 'web-2', '--filter', ECHO, '--max-packets', '12', '--duration', '10m']);
    expect(created.code).toBe(0);
    await attached('live', 1);
    const out = join(work, 'live.pcapng');
    const err = await streamWhile('live', [], out, () => ping(pods.get('client')!.netns, pods.get('web-2')!.ip, 6));
    expect(err).toMatch(/stream ended: 12 packets/);
    expect((await fields(out, ['icmp.type'])).length).toBe(12);
  }, 90_000);

  test('--from-start replays what was captured before the stream opened, without repeats', async () => {
    expect((await plugin('alice', ['capture', 'replay', '--pod', 'web-1', '--filter', ECHO, '--max-packets', '14', '--duration', '10m'])).code).toBe(0);
    await attached('replay', 1);
    const client = pods.get('client')!, web1 = pods.get('web-1')!;
    await ping(client.netns, web1.ip, 3);
    await waitFor('6 packets on file', async () => ((await admin.get<Capture>(PacketCaptureType, ns, 'replay')).status?.totals?.packets === 6) || undefined, 10_000, 100);
    const out = join(work, 'replay.pcapng');
    await streamWhile('replay', ['--from-start'], out, () => ping(client.netns, web1.ip, 4));
    const rows = await fields(out, ['frame.time_epoch', 'icmp.seq', 'icmp.type']);
    expect(rows.length).toBe(14);
    expect(new Set(rows.map((r) => r.join('/'))).size).toBe(14);
  }, 90_000);
});
