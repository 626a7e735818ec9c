// The ipa driver on a real FIFO: the simulator's stream, written by two writers one after the
// other in small pieces (headers split across reads), is counted exactly as the simulator says
// (the counts of both sessions add up, each cut tail counted once), the FIFO is reopened after
// each writer, the capture rotates and keeps files within retention, malformed records never
// become packets, and stop({cleanup}) removes the files. On a real character device (a
// pseudo-terminal's slave in raw mode, fed by test/support/ptywriter.py) the stream is counted
// exactly, the capture file is byte for byte what the pcapng writer makes of it, and stop()
// closes the device. The pipeline runs in a worker thread (from the TypeScript sources here,
// agent/src/runner/workers.ts): a worker that dies turns the task Failed with its message. The
// reporter is the test's seam: what the driver would write into NodeTask status is collected here.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeTaskSpec, NodeTaskStatus } from '../../../crds/src/index.js';
import { IPADriver, parseEndpointNames, resolveIPASource } from '../../../agent/src/drivers/ipa/driver.js';
import type { DriverTask, TaskReporter } from '../../../agent/src/drivers/driver.js';
import { IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';
import { registry } from '../../../lib/observe/metrics.js';
import { newLogger } from '../../../lib/observe/log.js';
import { defaultMix, simulate } from '../../../hack/ipa-sim/sim.js';
import { waitFor } from '../../support/kube.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-ipa-driver-'));
const fifo = join(dir, 'ipa.fifo');
const dataDir = join(dir, 'data');
const env = {
  RINGTAP_IPA_SOURCE: fifo, RINGTAP_IPA_FORMAT: 'status', RINGTAP_IPA_DEV_DIR: join(dir, 'dev'), RINGTAP_IPA_SYSFS_DIR: join(dir, 'sys'),
  RINGTAP_IPA_ENDPOINT_NAMES: '3=AP_LAN_RX,12=MODEM_TX',
};

class Reporter implements TaskReporter {
  status: NodeTaskStatus = {};
  log = newLogger('test').child({}, { level: 'silent' });
  update(s: Partial<NodeTaskStatus>): void {
    this.status = { ...this.status, ...s };
  }
}

/** The shared condition wait, polling every 20 ms. */
const until = <T>(what: string, fn: () => T | undefined, ms = 15_000): Promise<T> => waitFor(what, fn, ms, 20);

/** The lines a child prints, each awaited within a deadline. */
function lineReader(child: ChildProcess): (what: string) => Promise<string> {
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    for (let i = partial.indexOf('\n'); i >= 0; i = partial.indexOf('\n')) {
      lines.push(partial.slice(0, i));
      partial = partial.slice(i + 1);
    }
  });
  return (what) => until(what, () => {
    if (lines.length) return lines.shift()!;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode})`);
    return undefined;
  });
}

/** Descriptors of this process (its worker threads included) open on `path`. */
function descriptorsOn(path: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // closed meanwhile (or the directory's own descriptor)
    }
  });
}

/** The blocks of a pcapng file, packet timestamps zeroed (they are host receive times). */
function pcapngBlocks(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 8 <= b.length;) {
    const len = b.readUInt32LE(off + 4);
    const block = Buffer.from(b.subarray(off, off + len));
    if (block.readUInt32LE(0) === 6) block.fill(0, 12, 20); // EPB: timestamp high and low
    out.push(block);
    off += len;
  }
  return out;
}

async function writeFifo(stream: Buffer, chunk: number): Promise<void> {
  const out = createWriteStream(fifo);
  for (let off = 0; off < stream.length; off += chunk) if (!out.write(stream.subarray(off, off + chunk))) await once(out, 'drain');
  out.end();
  await once(out, 'close');
}

let task: DriverTask | undefined;
/** Every task started, so that a failed test leaves no worker behind (stopping twice is harmless). */
const started: DriverTask[] = [];
function track(t: DriverTask): DriverTask {
  started.push(t);
  return t;
}
beforeAll(() => {
  mkdirSync(join(dir, 'dev'));
  execFileSync('mkfifo', [fifo]);
});
afterAll(async () => {
  for (const t of started) await t.stop({ cleanup: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveIPASource', () => {
  const probe = { devices: ['/dev/qcom_ipa0_monitor'], version: '4.2' };
  test.each([
    ['a monitor device on IPA 4.2 delivers DPLv2', { device: 'auto', ipaVersion: 'auto' as const }, {}, { path: '/dev/qcom_ipa0_monitor', format: 'dplv2', version: '4.2' }],
    ['spec.ipaVersion 5.0 overrides sysfs and selects DPLv3', { device: 'auto', ipaVersion: '5.0' as const }, {}, { path: '/dev/qcom_ipa0_monitor', format: 'dplv3', version: '5.0' }],
    ['a named device is looked for in the device directory', { device: 'ipa_adpl', ipaVersion: 'auto' as const }, { RINGTAP_IPA_DEV_DIR: '/x' }, { path: '/x/ipa_adpl', format: 'dplv2', version: '4.2' }],
    ['a configured source with its format', { device: 'auto', ipaVersion: 'auto' as const }, { RINGTAP_IPA_SOURCE: '/f', RINGTAP_IPA_FORMAT: 'status' }, { path: '/f', format: 'status', version: '4.2' }],
    ['a network device carries status elements, over any configured source', { device: 'auto', ipaVersion: '5.0' as const, source: { netdev: { interface: 'ipamon0' } } },
      { RINGTAP_IPA_SOURCE: '/f', RINGTAP_IPA_FORMAT: 'dplv3' }, { path: 'ipamon0', format: 'status', version: '5.0', netdev: 'ipamon0' }],
  ])('%s', (_n, work, e, want) => {
    expect(resolveIPASource(work, probe, e)).toEqual(want);
  });
  test('no version anywhere is an error that names spec.ipaVersion', () => {
    expect(resolveIPASource({ device: 'auto', ipaVersion: 'auto' }, { devices: ['/dev/ipa_adpl'] }, {})).toEqual({ error: expect.stringContaining('spec.ipaVersion') });
  });
  test('no device and no source', () => {
    expect(resolveIPASource({ device: 'auto', ipaVersion: '4.9' }, { devices: [] }, {})).toEqual({ error: expect.stringContaining('RINGTAP_IPA_SOURCE') });
  });
  test('endpoint names', () => {
    expect(parseEndpointNames('3=AP_LAN_RX, 12=MODEM_TX,bad,999=X')).toEqual({ 3: 'AP_LAN_RX', 12: 'MODEM_TX' });
  });
});

describe('IPA driver on a FIFO', () => {
  test('two writer sessions are counted exactly; capture rotates within retention; cleanup removes files', async () => {
    mkdirSync(join(dir, 'sys', 'soc.ipa'), { recursive: true });
    writeFileSync(join(dir, 'sys', 'soc.ipa', 'version'), '4.9\n');
    const { stream, expected } = simulate(defaultMix('status'), { format: 'status', version: '4.9' });
    const driver = new IPADriver(env);
    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'mon', uid: 'u1', generation: 1 },
      ipaMonitor: {
        device: 'auto', ipaVersion: 'auto', metricsIntervalSeconds: 1,
        capture: { enabled: true, snapLength: 262144, output: { format: 'pcapng' }, rotation: { fileSizeBytes: 8192 }, retention: { maxFiles: 3 } },
      },
    };
    task = track(await driver.start(spec, { namespace: 'ringtap-system', name: 't', uid: 'u', node: 'n1', dataDir, reporter: rep }));
    expect(rep.status.phase).toBe('Running');
    expect(rep.status.ipaVersion).toBe('4.9');

    await writeFifo(stream, 1000);
    await until('the first session', () => ((rep.status.ipa?.decodeErrors?.truncatedTail ?? 0) >= 1 ? true : undefined));
    await writeFifo(stream, 333);
    const ipa = await until('the second session', () => ((rep.status.ipa?.decodeErrors?.truncatedTail ?? 0) >= 2 ? rep.status.ipa : undefined));

    expect(ipa.records).toBe(2 * expected.records);
    expect(ipa.packets).toBe(2 * expected.packets);
    expect(ipa.bytes).toBe(2 * expected.bytes);
    expect(ipa.truncated).toBe(2 * expected.truncated);
    expect(ipa.exceptions).toBe(2 * expected.exceptions);
    expect(ipa.skippedBytes).toBe(2 * expected.skippedBytes);
    expect(ipa.decodeErrors).toEqual(Object.fromEntries(Object.entries(expected.errors).map(([k, v]) => [k, 2 * v])));
    expect(Object.fromEntries(ipa.pairs!.map((p) => [`${p.src}>${p.dst}`, { records: p.records, bytes: p.bytes, truncated: p.truncated }])))
      .toEqual(Object.fromEntries(Object.entries(expected.byPair).map(([k, v]) => [k, { records: 2 * v.records, bytes: 2 * v.bytes, truncated: 2 * v.truncated }])));
    expect(ipa.pairs!.find((p) => p.src === 3 && p.dst === 12)).toMatchObject({ srcName: 'AP_LAN_RX', dstName: 'MODEM_TX' });
    expect(Object.fromEntries(ipa.byException!.map((c) => [c.name, c.records]))).toEqual(Object.fromEntries(Object.entries(expected.byException).map(([k, v]) => [k, 2 * v.records])));
    expect(ipa.reopens).toBeGreaterThanOrEqual(1);
    expect(rep.status.counters).toMatchObject({ records: 2 * expected.records, exceptions: 2 * expected.exceptions, packets: 2 * expected.pcapPackets });

    // Rotation and retention: several segments were cut, at most three are kept.
    const capDir = join(dataDir, '_cluster', 'ipamonitor', 'mon', 'n1');
    const files = readdirSync(capDir).filter((f) => f.endsWith('.pcapng')).sort();
    expect(files.length).toBe(3);
    expect(files[files.length - 1]).not.toBe('mon-000000.pcapng');
    for (const f of files.slice(0, -1)) expect(statSync(join(capDir, f)).size).toBeLessThan(8192 + 2000);
    expect(rep.status.files?.map((f) => f.name)).toEqual(files);

    const metrics = await registry.metrics();
    expect(metrics).toContain(`ringtap_ipa_records_total{monitor="mon",src="AP_LAN_RX",dst="MODEM_TX"} ${2 * expected.byPair['3>12']!.records}`);
    expect(metrics).toContain(`ringtap_ipa_decode_errors_total{monitor="mon",kind="garbage"} ${2 * expected.errors.garbage}`);

    await task.stop({ cleanup: true });
    task = undefined;
    expect(existsSync(capDir)).toBe(false);
    expect(await registry.metrics()).not.toContain('monitor="mon"');
  }, 30_000);

  test('a writer of garbage is counted and resynchronised; the next writer is counted exactly', async () => {
    const { stream, expected } = simulate(defaultMix('status'), { format: 'status', version: '4.9' });
    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'garbage', uid: 'u2', generation: 1 },
      ipaMonitor: { device: 'auto', ipaVersion: '4.9', metricsIntervalSeconds: 1 },
    };
    task = track(await new IPADriver(env).start(spec, { namespace: 'ringtap-system', name: 't2', uid: 'u', node: 'n1', dataDir, reporter: rep }));
    // 256 KiB of random bytes, then the end of the writer: no crash, no stall, errors counted.
    await writeFifo(randomBytes(256 << 10), 4096);
    const first = await until('the garbage session', () => ((rep.status.ipa?.reopens ?? 0) >= 1 && (rep.status.ipa?.decodeErrors?.garbage ?? 0) > 0 ? rep.status.ipa : undefined));
    expect(first.skippedBytes).toBeGreaterThan(0);
    await writeFifo(stream, 4096);
    const second = await until('the clean session', () => ((rep.status.ipa?.reopens ?? 0) >= 2 && rep.status.ipa!.records - first.records === expected.records ? rep.status.ipa : undefined));
    expect(second.packets - first.packets).toBe(expected.packets);
    expect(second.decodeErrors!.truncatedTail! - first.decodeErrors!.truncatedTail!).toBe(1);
    await task.stop({ cleanup: true });
    task = undefined;
  }, 30_000);

  test('a recorded file is replayed once; stop() returns on an idle FIFO', async () => {
    const { stream, expected } = simulate(defaultMix('dplv3'), { format: 'dplv3', version: '4.11' });
    const file = join(dir, 'recorded.bin');
    writeFileSync(file, stream);
    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'replay', uid: 'u3', generation: 1 },
      ipaMonitor: { device: 'auto', ipaVersion: '4.11', metricsIntervalSeconds: 1 },
    };
    task = track(await new IPADriver({ ...env, RINGTAP_IPA_SOURCE: file, RINGTAP_IPA_FORMAT: 'dplv3' }).start(spec, { namespace: 'ringtap-system', name: 't3', uid: 'u', node: 'n1', dataDir, reporter: rep }));
    const ipa = await until('the replay to finish', () => (rep.status.message?.startsWith('replay of') ? rep.status.ipa : undefined));
    expect(ipa).toMatchObject({ format: 'dplv3', records: expected.records, packets: expected.packets, reopens: 0 });
    expect(ipa.decodeErrors).toEqual(expected.errors);
    await task.stop({ cleanup: true });
    task = undefined;

    // Nobody writes: the reader waits on the FIFO without a pool thread, and stops at once, closing it.
    const idle = track(await new IPADriver(env).start({ ...spec, parent: { ...spec.parent, name: 'idle', uid: 'u4' } }, { namespace: 'ringtap-system', name: 't4', uid: 'u', node: 'n1', dataDir, reporter: new Reporter() }));
    await until('the worker to open the FIFO', () => (descriptorsOn(fifo).length === 1 ? true : undefined));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle.stop({ cleanup: true }), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('stop() did not return within 10 s')), 10_000); })]);
    clearTimeout(timer);
    expect(descriptorsOn(fifo)).toEqual([]);
  }, 30_000);
});

describe('IPA counts survive a restart (the task status carries them over)', () => {
  test('a second agent adds to what the first published, keeps its files and cuts a torn tail', async () => {
    const { stream, expected } = simulate(defaultMix('status'), { format: 'status', version: '4.9' });
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'again', uid: 'u5', generation: 1 },
      ipaMonitor: {
        device: 'auto', ipaVersion: '4.9', metricsIntervalSeconds: 1,
        capture: { enabled: true, snapLength: 262144, output: { format: 'pcapng' }, rotation: { fileSizeBytes: 1 << 20 }, retention: { maxFiles: 5 } },
      },
    };
    const ctx = (reporter: Reporter, previous?: NodeTaskStatus) => ({
      namespace: 'ringtap-system', name: 't5', uid: 'u', node: 'n1', dataDir, reporter, ...(previous ? { previous } : {}),
    });
    const rep1 = new Reporter();
    const first = track(await new IPADriver(env).start(spec, ctx(rep1)));
    await writeFifo(stream, 777);
    await until('the first agent counted a session', () => ((rep1.status.ipa?.decodeErrors?.truncatedTail ?? 0) >= 1 ? true : undefined));
    await first.stop({ cleanup: false });
    const before = structuredClone(rep1.status);
    expect(before.ipa?.records).toBe(expected.records);
    // The first agent "died" mid-write: its file ends in half a block.
    const capDir = join(dataDir, '_cluster', 'ipamonitor', 'again', 'n1');
    const [firstFile] = readdirSync(capDir).filter((f) => f.endsWith('.pcapng'));
    const whole = readFileSync(join(capDir, firstFile!));
    writeFileSync(join(capDir, firstFile!), Buffer.concat([whole, Buffer.from([6, 0, 0, 0, 0x40, 0, 0, 0, 1, 2])]));

    const rep2 = new Reporter();
    const second = track(await new IPADriver(env).start(spec, ctx(rep2, before)));
    // From its first publication on, nothing is below what the first agent published.
    expect(rep2.status.ipa?.records).toBe(expected.records);
    expect(rep2.status.counters).toMatchObject({ records: expected.records, packets: expected.pcapPackets });
    expect(readFileSync(join(capDir, firstFile!))).toEqual(whole);
    await writeFifo(stream, 501);
    const ipa = await until('the second agent counted a session', () => ((rep2.status.ipa?.decodeErrors?.truncatedTail ?? 0) >= 2 ? rep2.status.ipa : undefined));
    expect([ipa.records, ipa.packets, ipa.bytes, ipa.truncated, ipa.exceptions]).toEqual([2, 2, 2, 2, 2].map((k, i) =>
      k * [expected.records, expected.packets, expected.bytes, expected.truncated, expected.exceptions][i]!));
    expect(Object.fromEntries(ipa.pairs!.map((p) => [`${p.src}>${p.dst}`, p.records])))
      .toEqual(Object.fromEntries(Object.entries(expected.byPair).map(([k, v]) => [k, 2 * v.records])));
    expect(Object.fromEntries(ipa.byException!.map((c) => [c.name, c.records]))).toEqual(Object.fromEntries(Object.entries(expected.byException).map(([k, v]) => [k, 2 * v.records])));
    expect(ipa.decodeErrors).toEqual(Object.fromEntries(Object.entries(expected.errors).map(([k, v]) => [k, 2 * v])));
    expect(rep2.status.counters).toMatchObject({ records: 2 * expected.records, packets: 2 * expected.pcapPackets });
    // Both agents' files are listed with their packets.
    expect(rep2.status.files?.map((f) => f.packets)).toEqual([expected.pcapPackets, expected.pcapPackets]);
    await second.stop({ cleanup: true });
  }, 30_000);
});

describe('IPA driver on a character device', () => {
  const ptyWriter = fileURLToPath(new URL('../../support/ptywriter.py', import.meta.url));
  let writer: ChildProcess | undefined;
  afterEach(() => {
    // Only the writer this test started.
    if (writer && writer.exitCode === null && writer.signalCode === null) writer.kill('SIGKILL');
    writer = undefined;
  });

  test('a pseudo-terminal slave is read exactly, the capture is the stream byte for byte, stop() closes the device', async () => {
    // The default status mix without its cut tail (a device stream does not end, so the walker
    // never counts a tail), plus records whose metadata bytes are terminal control characters
    // (CR, NL, XON, XOFF, DEL, ^Z, ^D, ^C, 0xff, NUL, ^\, ^U, ^W, ^R, ^O, ^V): a line discipline
    // that were not raw would eat or rewrite them, and the pcapng option carries them verbatim.
    const mix = defaultMix('status');
    mix.truncatedTail = 0;
    mix.flows.push(...[0x0d0a1113, 0x7f1a0403, 0xff001c15, 0x17120f16].map((metadata, i) => ({ src: 3, dst: 12, proto: 'udp' as const, packets: 3, size: 90 + i, metadata })));
    const { stream, expected } = simulate(mix, { format: 'status', version: '4.9' });
    for (const c of [0x00, 0x03, 0x04, 0x0a, 0x0d, 0x11, 0x13, 0x1a, 0x7f, 0xff]) expect(stream.includes(c)).toBe(true);
    const streamFile = join(dir, 'pty-stream.bin');
    writeFileSync(streamFile, stream);

    writer = spawn('python3', [ptyWriter, streamFile], { stdio: ['pipe', 'pipe', 'inherit'] });
    const line = lineReader(writer);
    const slave = await line('the pty slave path');
    expect(slave).toMatch(/^\/dev\/pts\/\d+$/);
    expect(statSync(slave).isCharacterDevice()).toBe(true);

    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'pty', uid: 'u5', generation: 1 },
      ipaMonitor: { device: 'auto', ipaVersion: '4.9', metricsIntervalSeconds: 1, capture: { enabled: true, snapLength: 262144, output: { format: 'pcapng' } } },
    };
    task = track(await new IPADriver({ ...env, RINGTAP_IPA_SOURCE: slave }).start(spec, { namespace: 'ringtap-system', name: 't5', uid: 'u', node: 'n1', dataDir, reporter: rep }));
    expect(rep.status.phase).toBe('Running');
    await until('the worker to open the device', () => (descriptorsOn(slave).length === 1 ? true : undefined));
    writer.stdin!.write('go\n');
    expect(await line('the writer to be done')).toBe('written');

    const ipa = await until('the whole stream', () => (rep.status.ipa?.records === expected.records && rep.status.counters?.packets === expected.pcapPackets ? rep.status.ipa : undefined));
    expect(ipa).toMatchObject({
      source: slave, records: expected.records, packets: expected.packets, bytes: expected.bytes, capturedBytes: expected.capturedBytes,
      truncated: expected.truncated, exceptions: expected.exceptions, skippedBytes: expected.skippedBytes, reopens: 0,
    });
    expect(ipa.decodeErrors).toEqual(expected.errors);
    expect(Object.fromEntries(ipa.pairs!.map((p) => [`${p.src}>${p.dst}`, { records: p.records, bytes: p.bytes, truncated: p.truncated }]))).toEqual(expected.byPair);
    expect(Object.fromEntries(ipa.byException!.map((c) => [c.name, { records: c.records, bytes: c.bytes }]))).toEqual(expected.byException);
    expect(Object.fromEntries(ipa.byOpcode!.map((c) => [c.name, { records: c.records, bytes: c.bytes }]))).toEqual(expected.byOpcode);
    expect(rep.status.message).toBe('');

    // stop() within its deadline; afterwards no descriptor of this process is left on the device.
    const started = Date.now();
    await task.stop({ cleanup: false });
    task = undefined;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(descriptorsOn(slave)).toEqual([]);
    expect(rep.status.counters).toMatchObject({ records: expected.records, packets: expected.pcapPackets });

    // The one segment is what the pcapng writer makes of the stream walked in one piece.
    const capDir = join(dataDir, '_cluster', 'ipamonitor', 'pty', 'n1');
    expect(readdirSync(capDir)).toEqual(['pty-000000.pcapng']);
    const walker = new IPAStreamWalker({ format: 'status', version: '4.9' });
    const pcap = new IPAPcapngWriter({ format: 'status', version: '4.9', snapLength: 262144, endpointNames: parseEndpointNames(env.RINGTAP_IPA_ENDPOINT_NAMES) });
    const want = pcapngBlocks(Buffer.concat([pcap.startFile(), ...walker.push(stream).flatMap((e) => pcap.packet(e, 0n) ?? [])]));
    const got = pcapngBlocks(readFileSync(join(capDir, 'pty-000000.pcapng')));
    expect(got.length).toBe(want.length);
    expect(got.findIndex((b, i) => !b.equals(want[i]!))).toBe(-1);
    rmSync(capDir, { recursive: true, force: true });
  }, 30_000);
});

describe('IPA worker failures', () => {
  test('a worker that dies at start turns the task Failed with its message', async () => {
    // The capture directory cannot be made (its parent is a file): the pipeline throws as it starts.
    const notADir = join(dir, 'not-a-dir');
    writeFileSync(notADir, '');
    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'nodir', uid: 'u6', generation: 1 },
      ipaMonitor: { device: 'auto', ipaVersion: '4.9', metricsIntervalSeconds: 1, capture: { enabled: true, snapLength: 262144, output: { format: 'pcapng' } } },
    };
    task = track(await new IPADriver(env).start(spec, { namespace: 'ringtap-system', name: 't6', uid: 'u', node: 'n1', dataDir: notADir, reporter: rep }));
    expect(rep.status.phase).toBe('Failed');
    expect(rep.status.message).toMatch(/^IPAWorkerFailed: the IPA worker failed: ENOTDIR/);
    await task.stop({ cleanup: true });
    task = undefined;
  }, 30_000);

  test('a worker that dies while running turns the task Failed with its message; stop() still returns', async () => {
    const rep = new Reporter();
    const spec: NodeTaskSpec = {
      node: 'n1', parent: { kind: 'IPAMonitor', name: 'crash', uid: 'u7', generation: 1 },
      ipaMonitor: { device: 'auto', ipaVersion: '4.9', metricsIntervalSeconds: 1 },
    };
    const entry = new URL('../../support/ipa-failing-worker.mjs', import.meta.url);
    task = track(await new IPADriver(env, { entry }).start(spec, { namespace: 'ringtap-system', name: 't7', uid: 'u', node: 'n1', dataDir, reporter: rep }));
    expect(rep.status.phase).toBe('Running');
    const message = await until('the task to fail', () => (rep.status.phase === 'Failed' ? rep.status.message : undefined));
    expect(message).toBe('IPAWorkerFailed: the IPA worker failed: injected fault in the pipeline');
    expect(await registry.metrics()).toContain('monitor="crash"'); // the last counts stay until the task is stopped
    await task.stop({ cleanup: true });
    task = undefined;
    expect(await registry.metrics()).not.toContain('monitor="crash"');
  }, 30_000);
});
