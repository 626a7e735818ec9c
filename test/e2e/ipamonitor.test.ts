// IPAMonitor end to end: a simulated node whose agent sees a simulated IPA (an ipa platform
// device with a version attribute in a sysfs directory, and a FIFO as the monitor stream,
// given to the agent through hack/cluster's per-node agent environment). The agent labels the
// node ringtap.dev/ipa=true; an IPAMonitor with a rotating, retained capture selects it; the
// simulator (hack/ipa-sim, the built CLI) writes a known mix into the FIFO: endpoint pairs,
// opcodes, exceptions, truncated packets and malformed records. Then:
//   - the IPAMonitor status (matrix, exceptions, opcodes, decode errors, totals) and the
//     agent's /metrics equal the simulator's own account of the mix exactly;
//   - the pcapng segments open in tshark with the right packet count, IP payloads decode, the
//     comments carry the decoded fields, malformed records are never packets;
//   - deleting the IPAMonitor stops the reader (the FIFO has no reader left), removes the
//     NodeTask, the files and the metrics;
//   - an agent killed with SIGKILL mid-stream: the restarted agent carries the counts over from
//     the NodeTask's status, so they never go down, and the next writer's stream adds exactly;
//     every capture file (the killed agent's included) opens in tcpdump and tshark;
//   - spec.source.netdev: the same stream as frames written into a TAP device in the node's
//     network namespace (hack/ipa-sim --tap) is read through the ring engine and counted exactly.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IPAMonitorType, NodeTaskType } from '../../crds/src/index.js';
import type { IPAMonitor, NodeTask } from '../../lib/kube/objects.js';
import { KubeClient, NodeType, isNotFound, type KubeObject } from '../../lib/kube/kube.js';
import type { SimExpected } from '../../hack/ipa-sim/sim.js';
import { addNode, cluster, delNode, inNetns, repoRoot, runDir, type SimNode } from '../support/cluster.js';
import type { IPATaskStatus } from '../../crds/src/ipamonitor.js';
import { adminConfig, uniqueName, waitFor } from '../support/kube.js';

const execFileP = promisify(execFile);
const admin = new KubeClient(adminConfig(), 'test-admin');
const NAMES: Record<number, string> = { 3: 'AP_LAN_RX', 12: 'MODEM_TX', 9: 'APPS_WAN_PROD' };
const ep = (n: number) => NAMES[n] ?? `ep${n}`;
const OPERATOR_NS = 'ringtap-system';

const nodeName = uniqueName('ipa');
const monitorName = uniqueName('ipamon');
let node: SimNode | undefined;
let dir = '';
let fifo = '';
let sim: ChildProcess | undefined;

/** True while some process has the FIFO open for reading (a non-blocking open for writing fails with ENXIO otherwise). */
function fifoHasReader(): boolean {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw err;
  }
}

async function getMonitor(): Promise<IPAMonitor | undefined> {
  return admin.get<IPAMonitor>(IPAMonitorType, undefined, monitorName).catch((e: unknown) => { if (isNotFound(e)) return undefined; throw e; });
}
async function tasks(): Promise<NodeTask[]> {
  return (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-kind=IPAMonitor,ringtap.dev/parent-name=${monitorName}` })).items;
}
async function deleteMonitor(): Promise<void> {
  await admin.delete(IPAMonitorType, undefined, monitorName).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  await waitFor(`IPAMonitor ${monitorName} to be gone`, async () => ((await getMonitor()) === undefined ? true : undefined), 90_000, 200);
}

/** The agent's /metrics, fetched inside the node's network namespace (the agent listens on its 127.0.0.1:9090). */
async function ipaMetrics(): Promise<Map<string, number>> {
  const text = await inNetns(node!.netns, ['curl', '-sf', 'http://127.0.0.1:9090/metrics']);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(ringtap_ipa_[a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[2]!.includes(`monitor="${monitorName}"`)) out.set(`${m[1]}{${m[2]!.replace(`monitor="${monitorName}",`, '').replace(`monitor="${monitorName}"`, '')}}`, Number(m[3]));
  }
  return out;
}

beforeAll(async () => {
  dir = join(runDir(), `ipa-${nodeName}`);
  mkdirSync(join(dir, 'dev'), { recursive: true });
  mkdirSync(join(dir, 'sys', '1e40000.ipa'), { recursive: true });
  writeFileSync(join(dir, 'sys', '1e40000.ipa', 'version'), '4.9\n');
  fifo = join(dir, 'ipa-status.fifo');
  execFileSync('mkfifo', [fifo]);
  mkdirSync(join(runDir(), 'agent-env'), { recursive: true });
  writeFileSync(join(runDir(), 'agent-env', `${nodeName}.env`), [
    `RINGTAP_IPA_DEV_DIR=${join(dir, 'dev')}`,
    `RINGTAP_IPA_SYSFS_DIR=${join(dir, 'sys')}`,
    `RINGTAP_IPA_SOURCE=${fifo}`,
    'RINGTAP_IPA_FORMAT=status',
    `RINGTAP_IPA_ENDPOINT_NAMES=${Object.entries(NAMES).map(([k, v]) => `${k}=${v}`).join(',')}`,
    '',
  ].join('\n'));
  node = await addNode(nodeName);
  await cluster(['ringtap', 'start']);
}, 180_000);

afterAll(async () => {
  if (sim && sim.exitCode === null && sim.signalCode === null) sim.kill('SIGKILL'); // only the simulator we started
  await deleteMonitor().catch(() => undefined);
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  if (node) await delNode(node.name).catch(() => undefined);
  rmSync(join(runDir(), 'agent-env', `${nodeName}.env`), { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 180_000);

describe('IPAMonitor on a simulated IPA node', () => {
  test('the agent finds the simulated IPA and labels its node', async () => {
    const n = await waitFor('the node labelled ringtap.dev/ipa=true', async () => {
      const o = await admin.get<KubeObject>(NodeType, undefined, nodeName);
      return o.metadata.labels?.['ringtap.dev/ipa'] === 'true' ? o : undefined;
    }, 60_000, 200);
    expect(n.metadata.labels?.['ringtap.dev/ipa-version']).toBe('4.9');
    expect(fifoHasReader()).toBe(false); // nothing reads before a monitor asks
  }, 90_000);

  test('status matrix, metrics and pcapng equal the simulated mix; deletion stops the reader and cleans up', async () => {
    await admin.create(IPAMonitorType, {
      metadata: { name: monitorName },
      spec: {
        metricsInterval: '1s',
        capture: { enabled: true, rotation: { fileSize: '16Ki' }, retention: { maxFiles: 1000 } },
      },
    } as unknown as IPAMonitor);
    const [task] = await waitFor('the NodeTask running on the IPA node', async () => {
      const t = await tasks();
      return t.length === 1 && t[0]!.status?.phase === 'Running' ? t : undefined;
    }, 60_000, 200);
    expect(task!.spec.node).toBe(nodeName);
    // In the operator's namespace, named by labels and spec, with no owner reference (ADR 0012).
    expect(task!.metadata.ownerReferences).toBeUndefined();
    expect(task!.spec.parent).toMatchObject({ kind: 'IPAMonitor', name: monitorName });
    expect(task!.metadata.labels?.['ringtap.dev/parent-uid']).toBe(task!.spec.parent.uid);
    await waitFor('the agent to open the FIFO', () => fifoHasReader() || undefined, 30_000, 50);

    // The simulator writes the default status mix in 777-byte pieces (headers split across reads).
    const expectedFile = join(dir, 'expected.json');
    sim = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'dist/hack/ipa-sim/main.js'),
      '--format', 'status', '--version', '4.9', '--out', fifo, '--chunk', '777', '--expected', expectedFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let simErr = '';
    sim.stderr!.on('data', (d: Buffer) => { simErr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => resolve(-1), 60_000);
      sim!.on('exit', (c) => { clearTimeout(t); resolve(c); });
    });
    expect({ code, simErr }).toEqual({ code: 0, simErr: '' });
    const { expected } = JSON.parse(readFileSync(expectedFile, 'utf8')) as { expected: SimExpected };

    // The status converges on the whole stream: the writer closed, so the cut tail is counted.
    const m = await waitFor('the IPAMonitor status to account for the whole stream', async () => {
      const x = await getMonitor();
      return x?.status?.decodeErrors?.truncatedTail === 1 && x.status.totals?.records === expected.records && x.status.totals.packets === expected.pcapPackets ? x : undefined;
    }, 60_000, 200);
    const s = m.status!;
    expect(s.phase).toBe('Running');
    expect(s.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    const cells = (list: { from: string; to: string; records: number; bytes: number; truncated?: number }[]) =>
      Object.fromEntries(list.map((c) => [`${c.from}>${c.to}`, { records: c.records, bytes: c.bytes, truncated: c.truncated ?? 0 }]));
    expect(cells(s.matrix!)).toEqual(Object.fromEntries(Object.entries(expected.byPair).map(([k, v]) => {
      const [a, b] = k.split('>').map(Number) as [number, number];
      return [`${ep(a)}>${ep(b)}`, v];
    })));
    expect(s.matrix!.every((c) => c.nodes === 1)).toBe(true);
    expect(Object.fromEntries(s.byException!.map((c) => [c.name, { records: c.records, bytes: c.bytes }]))).toEqual(expected.byException);
    expect(Object.fromEntries(s.byOpcode!.map((c) => [c.name, { records: c.records, bytes: c.bytes }]))).toEqual(expected.byOpcode);
    expect(s.decodeErrors).toEqual(expected.errors);
    expect(s.truncated).toBe(expected.truncated);
    expect(s.totals).toMatchObject({ nodes: 1, records: expected.records, exceptions: expected.exceptions, packets: expected.pcapPackets });
    expect(s.nodes?.[0]).toMatchObject({ node: nodeName, phase: 'Running', ipaVersion: '4.9', records: expected.records, device: fifo.slice(-63) });

    // The agent's metrics: the same counts, labelled by endpoint name where configured.
    const metrics = await waitFor('the agent metrics', async () => {
      const x = await ipaMetrics();
      return x.size > 0 ? x : undefined;
    }, 20_000, 200);
    const lbl = (n: number) => NAMES[n] ?? String(n);
    const want = new Map<string, number>();
    for (const [k, v] of Object.entries(expected.byPair)) {
      const [a, b] = k.split('>').map(Number) as [number, number];
      const l = `src="${lbl(a)}",dst="${lbl(b)}"`;
      want.set(`ringtap_ipa_records_total{${l}}`, v.records);
      want.set(`ringtap_ipa_bytes_total{${l}}`, v.bytes);
      want.set(`ringtap_ipa_truncated_total{${l}}`, v.truncated);
    }
    for (const [k, v] of Object.entries(expected.byOpcode)) want.set(`ringtap_ipa_opcode_records_total{opcode="${k}"}`, v.records);
    for (const [k, v] of Object.entries(expected.byException)) want.set(`ringtap_ipa_exception_records_total{exception="${k}"}`, v.records);
    for (const [k, v] of Object.entries(expected.errors)) want.set(`ringtap_ipa_decode_errors_total{kind="${k}"}`, v);
    expect(Object.fromEntries([...metrics].filter(([k]) => !k.startsWith('ringtap_ipa_skipped_bytes_total')).sort())).toEqual(Object.fromEntries([...want].sort()));
    expect(metrics.get('ringtap_ipa_skipped_bytes_total{}')).toBe(expected.skippedBytes);

    // The files: several segments (rotation at 16 KiB), all kept (retention 1000 files).
    const t = (await tasks())[0]!;
    const capDir = join(runDir(), 'agent-data', nodeName, '_cluster', 'ipamonitor', monitorName, nodeName);
    const files = readdirSync(capDir).filter((f) => f.endsWith('.pcapng')).sort();
    expect(files.length).toBeGreaterThan(1);
    expect(t.status?.files?.map((f) => f.name)).toEqual(files);
    let packets = 0;
    let truncated = 0;
    const byException = new Map<string, number>();
    for (const f of files) {
      const { stdout } = await execFileP('tshark', ['-r', join(capDir, f), '-T', 'fields', '-E', 'separator=\t', '-e', 'frame.comment', '-e', 'ip.version', '-e', 'frame.cap_len', '-e', 'frame.len'], { maxBuffer: 64 << 20 });
      for (const line of stdout.split('\n').filter(Boolean)) {
        const [comment, ipVersion, capLen, len] = line.split('\t') as [string, string, string, string];
        packets++;
        if (Number(capLen) >= 40) expect(['4', '6']).toContain(ipVersion); // shorter replicas may not dissect as IP
        expect(comment).toMatch(/^ipa status op=(PACKET|DROPPED_PACKET|SUSPENDED_PACKET|PACKET_2ND_PASS)\(0x[0-9a-f]{2}\) exc=\w+\(0x[0-9a-f]{2}\) src=\d+ dst=\d+ len=\d+ mask=0x/);
        expect(comment).not.toContain('UNKNOWN'); // malformed records are never packets
        const exc = /exc=(\w+)\(/.exec(comment)![1]!;
        byException.set(exc, (byException.get(exc) ?? 0) + 1);
        if (comment.includes(' truncated=')) {
          truncated++;
          expect(Number(capLen)).toBeLessThan(Number(len)); // caplen < origlen for a cut replica
        }
      }
    }
    expect(packets).toBe(expected.pcapPackets);
    expect(truncated).toBe(expected.truncated);
    expect(byException.get('CHECKSUM')).toBe(expected.byException.CHECKSUM!.records);
    expect(byException.get('PACKET_LENGTH')).toBe(expected.byException.PACKET_LENGTH!.records);

    // Deletion: the agent stops reading and removes what it made; the operator lets go.
    await deleteMonitor();
    await waitFor('the NodeTask to be gone', async () => ((await tasks()).length === 0 ? true : undefined), 30_000, 200);
    await waitFor('the FIFO to have no reader', () => (!fifoHasReader() ? true : undefined), 30_000, 100);
    expect(existsSync(capDir)).toBe(false);
    await waitFor('the metrics of the monitor to be gone', async () => ((await ipaMetrics()).size === 0 ? true : undefined), 20_000, 200);
  }, 240_000);

  test('an agent killed with SIGKILL mid-stream: counts continue from the task status and never go down', async () => {
    const name = `${monitorName}-k`;
    await admin.create(IPAMonitorType, {
      metadata: { name },
      spec: { metricsInterval: '1s', capture: { enabled: true, rotation: { fileSize: '64Ki' }, retention: { maxFiles: 1000 } } },
    } as unknown as IPAMonitor);
    const taskOf = async (): Promise<NodeTask | undefined> =>
      (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-kind=IPAMonitor,ringtap.dev/parent-name=${name}` })).items[0];
    await waitFor('the NodeTask running', async () => ((await taskOf())?.status?.phase === 'Running' ? true : undefined), 60_000, 200);
    await waitFor('the agent to open the FIFO', () => fifoHasReader() || undefined, 30_000, 50);

    const runSim = (extra: string[], expectedFile?: string): Promise<number | null> => new Promise((resolve) => {
      const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'dist/hack/ipa-sim/main.js'),
        '--format', 'status', '--version', '4.9', '--out', fifo, '--chunk', '4096', ...(expectedFile ? ['--expected', expectedFile] : []), ...extra], { stdio: 'ignore' });
      sim = child;
      const t = setTimeout(() => { child.kill('SIGKILL'); resolve(-1); }, 120_000);
      child.on('exit', (c) => { clearTimeout(t); resolve(c); });
    });
    const seen: IPATaskStatus[] = [];
    const watch = setInterval(() => void taskOf().then((t) => { if (t?.status?.ipa) seen.push(t.status.ipa); }, () => undefined), 100);
    try {
      // A long, slow writer; the agent is killed while it writes (the writer then gets EPIPE and exits).
      const slow = runSim(['--repeat', '400', '--interval-ms', '2']);
      await waitFor('counts published mid-stream', async () => ((await taskOf())?.status?.ipa?.records ?? 0) > 1000 || undefined, 60_000, 100);
      const pid = Number(readFileSync(join(runDir(), 'pids', `agent-${nodeName}.pid`), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor('the agent to be gone', () => !existsSync(`/proc/${pid}`) || undefined, 5_000, 50);
      await slow;
      // What the dead agent last published is what the next one starts from.
      const base = (await taskOf())!.status!.ipa!;
      expect(base.records).toBeGreaterThan(1000);
      await cluster(['ringtap', 'agent', nodeName]);
      await waitFor('the restarted agent to open the FIFO', () => fifoHasReader() || undefined, 60_000, 50);
      // A whole stream from a new writer: the counts are the dead agent's plus exactly this stream.
      const expectedFile = join(dir, 'expected-k.json');
      expect(await runSim([], expectedFile)).toBe(0);
      const { expected } = JSON.parse(readFileSync(expectedFile, 'utf8')) as { expected: SimExpected };
      const done = await waitFor('the second stream counted', async () => {
        const ipa = (await taskOf())?.status?.ipa;
        return ipa && ipa.records === base.records + expected.records ? ipa : undefined;
      }, 60_000, 200);
      expect([done.packets, done.bytes, done.truncated, done.exceptions]).toEqual([
        base.packets + expected.packets, base.bytes + expected.bytes, (base.truncated ?? 0) + expected.truncated, (base.exceptions ?? 0) + expected.exceptions,
      ]);
      expect(done.decodeErrors?.truncatedTail).toBe((base.decodeErrors?.truncatedTail ?? 0) + 1);
      const m = await waitFor('the IPAMonitor totals', async () => {
        const x = await admin.get<IPAMonitor>(IPAMonitorType, undefined, name);
        return x.status?.totals?.records === done.records ? x : undefined;
      }, 30_000, 200);
      expect(m.status?.phase).toBe('Running');
    } finally {
      clearInterval(watch);
    }
    // Never down, through the kill and the restart.
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.records).toBeGreaterThanOrEqual(seen[i - 1]!.records);
      expect(seen[i]!.bytes).toBeGreaterThanOrEqual(seen[i - 1]!.bytes);
    }
    // Every file opens in tcpdump (libpcap) and tshark, with the same count.
    const capDir = join(runDir(), 'agent-data', nodeName, '_cluster', 'ipamonitor', name, nodeName);
    const files = readdirSync(capDir).filter((f) => f.endsWith('.pcapng')).sort();
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) {
      const { stdout: td } = await execFileP('tcpdump', ['-n', '-r', join(capDir, f)], { maxBuffer: 64 << 20 });
      const { stdout: ts } = await execFileP('tshark', ['-r', join(capDir, f), '-T', 'fields', '-e', 'frame.number'], { maxBuffer: 64 << 20 });
      expect(td.split('\n').filter(Boolean).length).toBe(ts.split('\n').filter(Boolean).length);
    }
    await admin.delete(IPAMonitorType, undefined, name);
    await waitFor('the monitor to be gone', async () => (await admin.get(IPAMonitorType, undefined, name).then(() => undefined, (e: unknown) => (isNotFound(e) ? true : undefined))), 90_000, 200);
  }, 300_000);

  test('a network-device source: frames written into a TAP in the node namespace are counted exactly', async () => {
    const name = `${monitorName}-n`;
    const tap = 'ipamon0';
    await inNetns(node!.netns, ['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    try {
      await inNetns(node!.netns, ['ip', 'link', 'set', tap, 'mtu', '9000', 'up']);
      await admin.create(IPAMonitorType, {
        metadata: { name },
        spec: { metricsInterval: '1s', source: { netdev: { interface: tap } }, capture: { enabled: true, rotation: { fileSize: '1Mi' }, retention: { maxFiles: 10 } } },
      } as unknown as IPAMonitor);
      const taskOf = async (): Promise<NodeTask | undefined> =>
        (await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-kind=IPAMonitor,ringtap.dev/parent-name=${name}` })).items[0];
      const t = await waitFor('the NodeTask running on the TAP', async () => {
        const x = await taskOf();
        // The ring is open once the task says it reads the device (frames written before would be lost).
        return x?.status?.phase === 'Running' && x.status.ipa && x.status.message?.startsWith(`reading network device ${tap}:`) ? x : undefined;
      }, 60_000, 200);
      expect(t.status!.ipa!.format).toBe('status');
      // The node reports the network device among its IPA sources.
      const n = await admin.get<KubeObject>(NodeType, undefined, nodeName);
      expect(JSON.parse(n.metadata.annotations?.['ringtap.dev/capabilities'] ?? '{}').ipa?.sources).toContain('netdev');
      const expectedFile = join(dir, 'expected-n.json');
      const { stdout } = await execFileP(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, 'dist/hack/ipa-sim/main.js'),
        '--format', 'status', '--version', '4.9', '--tap', tap, '--netns', node!.netns, '--frame-bytes', '8192', '--no-tail', '--repeat', '3', '--expected', expectedFile]);
      expect(stdout).toBe('');
      const { expected, frames } = JSON.parse(readFileSync(expectedFile, 'utf8')) as { expected: SimExpected; frames: number };
      expect(frames).toBeGreaterThan(1);
      const ipa = await waitFor('every record counted', async () => {
        const x = (await taskOf())?.status?.ipa;
        return x && x.records >= expected.records ? x : undefined;
      }, 60_000, 200);
      expect([ipa.records, ipa.packets, ipa.bytes, ipa.truncated, ipa.exceptions]).toEqual([expected.records, expected.packets, expected.bytes, expected.truncated, expected.exceptions]);
      expect(Object.fromEntries(ipa.pairs!.map((p) => [`${p.src}>${p.dst}`, { records: p.records, bytes: p.bytes, truncated: p.truncated ?? 0 }]))).toEqual(expected.byPair);
      expect(Object.fromEntries(ipa.byException!.map((c) => [c.name, { records: c.records, bytes: c.bytes }]))).toEqual(expected.byException);
      expect(ipa.decodeErrors).toEqual(expected.errors);
      await waitFor('the frames reported, none lost', async () => ((await taskOf())?.status?.message === `reading network device ${tap}: ${frames} frames, 0 lost` ? true : undefined), 30_000, 200);
      // The files: tshark shows the packets, tcpdump counts the same.
      const capDir = join(runDir(), 'agent-data', nodeName, '_cluster', 'ipamonitor', name, nodeName);
      const files = await waitFor('the packets in files', async () => {
        const tt = await taskOf();
        return (tt?.status?.counters?.packets ?? 0) >= expected.pcapPackets ? readdirSync(capDir).filter((f) => f.endsWith('.pcapng')).sort() : undefined;
      }, 30_000, 200);
      let ts = 0;
      let td = 0;
      for (const f of files) {
        ts += (await execFileP('tshark', ['-r', join(capDir, f), '-T', 'fields', '-e', 'frame.comment'], { maxBuffer: 64 << 20 })).stdout.split('\n').filter((l) => l.startsWith('ipa status op=')).length;
        td += (await execFileP('tcpdump', ['-n', '-r', join(capDir, f)], { maxBuffer: 64 << 20 })).stdout.split('\n').filter(Boolean).length;
      }
      expect([ts, td]).toEqual([expected.pcapPackets, expected.pcapPackets]);
      await admin.delete(IPAMonitorType, undefined, name);
      await waitFor('the monitor to be gone', async () => (await admin.get(IPAMonitorType, undefined, name).then(() => undefined, (e: unknown) => (isNotFound(e) ? true : undefined))), 90_000, 200);
    } finally {
      await inNetns(node!.netns, ['ip', 'link', 'del', tap]).catch(() => undefined);
    }
  }, 240_000);
});
