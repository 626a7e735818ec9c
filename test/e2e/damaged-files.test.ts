// A capture whose files were damaged on the nodes (one torn at its end, one with a corrupt block
// in the middle), fetched through the data API: the merged file keeps every packet before each
// damage, as many as tshark reads from the damaged files themselves, and the plugin names each
// damaged file, calls the download incomplete and exits 1, without a stack trace.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeTaskType, PacketCaptureType } from '../../crds/src/index.js';
import { dataPath } from '../../crds/src/dataapi.js';
import type { NodeTask, PacketCapture } from '../../lib/kube/objects.js';
import { KubeClient } from '../../lib/kube/kube.js';
import { ping } from '../support/capture.js';
import { addNode, addPod, runDir, type SimNode, type SimPod } from '../support/cluster.js';
import { adminKubeconfig, kubectlPath, plugin, run, startRingtapWithDataApi, tearDownDataApiFixture } from '../support/dataapi.js';
import { adminConfig, createNamespace, OPERATOR_NS, parentSelector, uniqueName, waitFor } from '../support/kube.js';
import { tsharkFields } from '../unit/pcapng/tools.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
const ECHO = 'icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply';
let ns: string;
let work: string;
let kubeconfig: string;
let nodes: SimNode[] = [];
const pods = new Map<string, SimPod>();

type Capture = PacketCapture & { status?: PacketCapture['status'] & { totals?: { packets?: number } } };

/** The capture's files on a simulated node, as its agent keeps them (agent/src/node/files.ts). */
function nodeFiles(node: string, capture: string): string[] {
  const d = join(runDir(), 'agent-data', node, ns, capture, node);
  return readdirSync(d).filter((f) => f.endsWith('.pcapng')).sort().map((f) => join(d, f));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-damaged-'));
  ns = await createNamespace('e2e-damaged');
  nodes = [await addNode(uniqueName('dm')), await addNode(uniqueName('dm'))];
  for (const [name, node, app] of [['web-1', 0, 'web'], ['web-2', 1, 'web'], ['client', 1, 'client']] as const) {
    pods.set(name, await addPod(nodes[node]!.name, ns, name, { app }));
  }
  await startRingtapWithDataApi();
  kubeconfig = adminKubeconfig(work, ns);
}, 180_000);

afterAll(() => tearDownDataApiFixture(pods.values(), nodes, ns, work), 180_000);

describe('fetch of damaged files', () => {
  test('keeps every good packet, warns per damaged file and exits 1', async () => {
    const c = await plugin(kubeconfig, ['capture', 'web', '--selector', 'app=web', '--filter', ECHO, '--duration', '6s']);
    expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: '' });
    await waitFor('targets attached', async () => {
      const t = (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: parentSelector('PacketCapture', ns, 'web') })).items;
      return (t.length === 2 && t.every((x) => x.status?.phase === 'Running' && (x.status.targets ?? []).some((g) => g.state === 'Attached'))) || undefined;
    }, 30_000, 100);
    const client = pods.get('client')!;
    await ping(client.netns, pods.get('web-1')!.ip, 4);
    await ping(client.netns, pods.get('web-2')!.ip, 3);
    const done = await waitFor('web Completed', async () => {
      const x = await admin.get<Capture>(PacketCaptureType, ns, 'web');
      return x.status?.phase === 'Completed' ? x : undefined;
    }, 60_000, 250);
    expect(done.status?.totals?.packets).toBe(14);

    // Node 1 (web-1's): the last file torn 10 bytes before its end. Node 2: a block length in the
    // middle of its last file overwritten (13 is never a pcapng block length).
    const torn = nodeFiles(nodes[0]!.name, 'web').at(-1)!;
    const t = readFileSync(torn);
    writeFileSync(torn, t.subarray(0, t.length - 10));
    const corrupt = nodeFiles(nodes[1]!.name, 'web').at(-1)!;
    const b = Buffer.from(readFileSync(corrupt));
    let o = 0;
    const blocks: number[] = [];
    while (o + 8 <= b.length) {
      blocks.push(o);
      o += b.readUInt32LE(o + 4);
    }
    const victim = blocks[Math.floor(blocks.length / 2) + 1]!;
    b.writeUInt32LE(13, victim + 4);
    writeFileSync(corrupt, b);
    // What tshark reads of each node's files is what the merged file must hold.
    let expected = 0;
    for (const n of nodes) for (const f of nodeFiles(n.name, 'web')) expected += tsharkFields(f, ['frame.number']).rows.length;
    expect(expected).toBeLessThan(14);
    expect(expected).toBeGreaterThan(0);

    const out = join(work, 'web.pcapng');
    const r = await plugin(kubeconfig, ['fetch', 'web', '-o', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`warning: damaged: node ${nodes[0]!.name} file web-\\d+\\.pcapng: the input ends inside a block`));
    expect(r.stderr).toMatch(new RegExp(`warning: damaged: node ${nodes[1]!.name} file web-\\d+\\.pcapng: bad pcapng block length 13 .* at byte offset ${victim}`));
    expect(r.stderr).toMatch(/INCOMPLETE: damaged files/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const rows = tsharkFields(out, ['frame.time_epoch']);
    expect(rows.error).toBeUndefined();
    expect(rows.rows.length).toBe(expected);

    // kubectl get --raw gets the same bytes: the notices travel inside the file.
    const raw = join(work, 'web-raw.pcapng');
    const k = await run('bash', ['-c', '"$0" --kubeconfig "$1" get --raw "$2" > "$3"', kubectlPath(), kubeconfig, dataPath('PacketCapture', ns, 'web', 'pcap'), raw]);
    expect(k).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync(raw).equals(readFileSync(out))).toBe(true);
  }, 120_000);
});
