// IPA decode throughput (not a test): records/s of the stream walker alone, with the traffic
// stats, and with pcapng writing (to a file under WORK), for each format, on a simulated
// stream of realistic sizes read in 64 KiB chunks. Prints one line per case and the ratios.
// Then the driver's path: the stream written into a real FIFO by `cat` (another process) and
// read by the agent's reader (IPAStreamReader: pipe handle, epoll, backpressure) into walker,
// stats and, optionally, rotating pcapng segments (IPACaptureFiles), on this thread; and the
// same in the driver's worker thread (IPAPipelineWorker), timed until its snapshot counts the
// whole stream, as the ipa driver runs it.
// Last, records/s per source through the task's pipeline (IPAPipeline: reader, walker, stats;
// no files), from the first byte read until every record is counted: a recorded file, a FIFO
// (cat), a character device (a raw pseudo-terminal fed by test/support/ptywriter.py) and a
// network device (a TAP in a network namespace fed by hack/ipa-sim/tapwrite.py, read through
// the ring engine's TPACKET_V3 ring). For the TAP the writer alone is timed too (no reader):
// when the two rates are close, the writer, not the decoder, was the limit ('>=').
// Set SOURCES=0 to skip that part (the network device needs root), ONLY=sources to run only it.
//   node dist/hack/bench/ipa/bench.js [RECORDS] [WORKDIR]
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPAFormat } from '../../../agent/src/drivers/ipa/decode.js';
import { IPAStats } from '../../../agent/src/drivers/ipa/stats.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';
import { IPACaptureFiles, IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStreamReader } from '../../../agent/src/drivers/ipa/source.js';
import { IPAPipelineWorker } from '../../../agent/src/drivers/ipa/thread.js';
import { IPAPipeline, type IPAPipelineOptions } from '../../../agent/src/drivers/ipa/pipeline.js';
import { simulate, toFrames, type SimFlow } from '../../ipa-sim/sim.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));

const total = Number(process.argv[2] ?? 300_000);
const work = mkdtempSync(join(process.argv[3] ?? tmpdir(), 'ipa-bench-'));
const CHUNK = 64 * 1024;

function mix(): SimFlow[] {
  // A cellular mix: many small (ACKs, DNS, VoIP), some full-size truncated to a 128-byte snap.
  const flows: SimFlow[] = [];
  for (let i = 0; i < 16; i++) {
    const n = Math.ceil(total / 32);
    flows.push({ src: i % 8, dst: 8 + (i % 4), proto: 'udp', packets: n, size: 60 + i * 8 });
    flows.push({ src: 8 + (i % 4), dst: i % 8, proto: 'tcp', ipVersion: i % 2 ? 6 : 4, packets: n, size: 1500, truncateTo: 128 });
  }
  return flows;
}

type Mode = 'walk' | 'walk+stats' | 'walk+stats+pcapng';

function run(format: IPAFormat, version: string, stream: Buffer, mode: Mode): { records: number; seconds: number; fileBytes: number } {
  const w = new IPAStreamWalker({ format, version });
  const stats = new IPAStats({ format });
  const pcap = new IPAPcapngWriter({ format, version });
  const file = join(work, `${format}.pcapng`);
  const fd = mode === 'walk+stats+pcapng' ? openSync(file, 'w') : -1;
  let batch: Buffer[] = [];
  let batchLen = 0;
  const flush = (): void => {
    if (fd >= 0 && batch.length) writeSync(fd, Buffer.concat(batch, batchLen));
    batch = [];
    batchLen = 0;
  };
  if (fd >= 0) batch.push(pcap.startFile());
  let records = 0;
  let ts = 0n;
  const t0 = process.hrtime.bigint();
  for (let off = 0; off <= stream.length; off += CHUNK) {
    const es = off < stream.length ? w.push(stream.subarray(off, off + CHUNK)) : w.end();
    records += es.length;
    if (mode === 'walk') continue;
    for (const e of es) {
      stats.add(e);
      if (fd >= 0) {
        const b = pcap.packet(e, (ts += 1000n));
        if (b) {
          batch.push(b);
          batchLen += b.length;
        }
      }
    }
    if (batchLen > 1 << 20) flush();
  }
  flush();
  if (mode !== 'walk') stats.summary(w.counters);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let fileBytes = 0;
  if (fd >= 0) {
    closeSync(fd);
    fileBytes = statSync(file).size;
  }
  return { records, seconds, fileBytes };
}

/** The stream in a file, a new FIFO to cat it into, and an empty segment directory. */
function freshFifo(stream: Buffer): { input: string; fifo: string; capDir: string } {
  const input = join(work, 'stream.bin');
  writeFileSync(input, stream);
  const fifo = join(work, 'ipa.fifo');
  rmSync(fifo, { force: true });
  execFileSync('mkfifo', [fifo]);
  const capDir = join(work, 'segments');
  rmSync(capDir, { recursive: true, force: true });
  return { input, fifo, capDir };
}

/** The driver's path: cat FILE > FIFO, read by IPAStreamReader, walked, counted, optionally written. */
async function runFifo(format: IPAFormat, version: string, stream: Buffer, capture: boolean): Promise<{ records: number; seconds: number; reads: number }> {
  const { input, fifo, capDir } = freshFifo(stream);
  const w = new IPAStreamWalker({ format, version });
  const stats = new IPAStats({ format });
  const files = capture ? new IPACaptureFiles({ dir: capDir, prefix: 'bench', format, version, rotation: { fileSizeBytes: 64 << 20 }, retention: { maxFiles: 4 } }) : undefined;
  let records = 0;
  let reads = 0;
  let ts = 0n;
  const take = (es: ReturnType<IPAStreamWalker['push']>): void => {
    records += es.length;
    for (const e of es) {
      stats.add(e);
      if (files && e.packet) files.add(e, (ts += 1000n));
    }
    files?.flush();
  };
  let t0 = 0n;
  const done = new Promise<void>((resolve) => {
    const reader = new IPAStreamReader(fifo, {
      chunk: (b) => {
        if (reads++ === 0) t0 = process.hrtime.bigint();
        take(w.push(b));
      },
      end: () => {
        take(w.end());
        void reader.stop().then(resolve);
      },
      error: (err) => { throw err; },
    });
    reader.start();
  });
  const cat = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', input, fifo], { stdio: 'ignore' });
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => (cat.exitCode !== null ? r(undefined) : cat.once('exit', r)));
  files?.close();
  stats.summary(w.counters);
  return { records, seconds, reads };
}

/** The driver's path in its worker thread: cat FILE > FIFO, until a snapshot counts every record. */
async function runWorker(format: IPAFormat, version: string, stream: Buffer, records: number, capture: boolean): Promise<{ seconds: number }> {
  const { input, fifo, capDir } = freshFifo(stream);
  let counted: (() => void) | undefined;
  const w = await IPAPipelineWorker.start({
    tickMs: 1000,
    pipeline: {
      source: fifo, format, version, endpointNames: {}, topPairs: 64, topFlows: 20,
      ...(capture ? { capture: { dir: capDir, prefix: 'bench', snapLength: 262144, rotation: { fileSizeBytes: 64 << 20 }, retention: { maxFiles: 4 } } } : {}),
    },
  }, {
    snapshot: (s) => { if (s.summary.records >= records) counted?.(); },
    log: () => undefined,
    failed: (m) => { throw new Error(m); },
  }, { name: 'ipa-bench' });
  const done = new Promise<void>((resolve) => { counted = resolve; });
  const t0 = process.hrtime.bigint();
  const cat = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', input, fifo], { stdio: 'ignore' });
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise((r) => (cat.exitCode !== null ? r(undefined) : cat.once('exit', r)));
  await w.stop();
  return { seconds };
}

/**
 * Runs the pipeline on a source until it counted `records`. feed() starts the writer (resolves
 * when it is done); the clock starts just before it (for a file: before the pipeline starts),
 * so a writer's start-up counts against the rate. With `prefeed`, the writer runs to its end
 * first while this thread is blocked (the ring engine's threads keep draining the ring into its
 * stream queue), then the clock starts: the decoder's rate, not the writer's.
 */
async function timePipeline(opts: Partial<IPAPipelineOptions> & { source: string }, records: number, feed?: () => Promise<void>, prefeed?: () => void): Promise<{ seconds: number; cpuSeconds: number; ring?: { frames: number; drops: number } }> {
  const p = new IPAPipeline({ format: 'status', version: '4.9', endpointNames: {}, topPairs: 64, topFlows: 20, ...opts }, { changed: () => undefined, log: () => undefined });
  let t1 = 0n;
  let cpu = 0;
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  p.start();
  // A network device's ring opens asynchronously: wait until it is open before writing.
  if (opts.netdev) while (!p.snapshot().ring) await new Promise((r) => setTimeout(r, 5));
  if (prefeed) prefeed();
  // The snapshot (a summary) is not free: look every 5 ms.
  const counted = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (p.snapshot().summary.records >= records) {
        t1 = process.hrtime.bigint();
        const c = process.cpuUsage(c0);
        cpu = (c.user + c.system) / 1e6;
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  if (feed || prefeed) {
    t0 = process.hrtime.bigint();
    c0 = process.cpuUsage();
  }
  const fed = feed?.();
  await counted;
  await fed;
  const ring = p.snapshot().ring;
  await p.stop();
  return { seconds: Number(t1 - t0) / 1e9, cpuSeconds: cpu, ...(ring ? { ring } : {}) };
}

async function benchSources(): Promise<void> {
  const version = '4.9';
  const { stream, parts } = simulate({ flows: mix() }, { format: 'status', version });
  const records = simulate({ flows: mix() }, { format: 'status', version }).expected.records;
  const input = join(work, 'sources.bin');
  writeFileSync(input, stream);
  const rates: Record<string, number> = {};
  const line = (name: string, r: { seconds: number; cpuSeconds: number }, n = records, bytes = stream.length, extra = ''): void => {
    rates[name] = n / r.seconds;
    console.log(
      `source ${name.padEnd(8)} records=${n} seconds=${r.seconds.toFixed(3)} records/s=${Math.round(n / r.seconds)} MB/s=${(bytes / r.seconds / 1e6).toFixed(1)} ` +
        `records/cpu-s=${Math.round(n / r.cpuSeconds)} (this process's CPU: decoder and ring engine threads)${extra}`,
    );
  };
  type Run = { seconds: number; cpuSeconds: number; ring?: { frames: number; drops: number } };
  const best = async (f: () => Promise<Run>): Promise<Run> => {
    let b: Run = { seconds: Infinity, cpuSeconds: Infinity };
    for (let i = 0; i < 3; i++) {
      const r = await f();
      if (r.seconds < b.seconds) b = r;
    }
    return b;
  };
  line('file', await best(() => timePipeline({ source: input }, records)));
  const fifo = join(work, 'sources.fifo');
  line('fifo', await best(async () => {
    rmSync(fifo, { force: true });
    execFileSync('mkfifo', [fifo]);
    return timePipeline({ source: fifo }, records, async () => {
      const cat = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', input, fifo], { stdio: 'ignore' });
      await once(cat, 'exit');
    });
  }));
  line('chardev', await best(async () => {
    const pty = spawn('python3', [join(repo, 'test/support/ptywriter.py'), input, '65536'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const slave = await new Promise<string>((resolve) => { let o = ''; pty.stdout.on('data', (d: Buffer) => { o += d.toString(); if (o.includes('\n')) resolve(o.split('\n')[0]!); }); });
    try {
      return await timePipeline({ source: slave }, records, async () => { pty.stdin.write('go\n'); });
    } finally {
      pty.stdin.end();
      await once(pty, 'exit');
    }
  }), records, stream.length, ' (a raw pseudo-terminal)');
  // The network device: a TAP in its own namespace, frames of whole records up to 16 KiB. The
  // frames are written while the decoder waits (they fit the engine's 32 MiB stream queue), so
  // the rate is the ring path's (ring -> engine -> walker -> stats), not the Python writer's.
  const ns = `rtipabench${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'tuntap', 'add', 'dev', 'ipamon0', 'mode', 'tap']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ipamon0', 'mtu', '16384', 'up']);
    let bytes = 0;
    const fit = parts.filter((x) => (bytes += x.length) <= 24 << 20);
    const nRecords = fit.length;
    bytes = fit.reduce((a, x) => a + x.length, 0);
    const frames = toFrames(fit, 16384);
    const framedFile = join(work, 'frames.bin');
    writeFileSync(framedFile, Buffer.concat(frames.flatMap((f) => { const l = Buffer.alloc(4); l.writeUInt32LE(f.length); return [l, f]; })));
    const writeTap = (): void => {
      execFileSync('sh', ['-c', 'exec ip netns exec "$1" python3 "$2" ipamon0 < "$3"', 'sh', ns, join(repo, 'hack/ipa-sim/tapwrite.py'), framedFile], { stdio: 'ignore' });
    };
    const tw = process.hrtime.bigint();
    writeTap(); // no reader: the writer alone, for comparison
    const writerSeconds = Number(process.hrtime.bigint() - tw) / 1e9;
    const r = await best(() => timePipeline({ source: 'ipamon0', netdev: { interface: 'ipamon0', netns: `/run/netns/${ns}` } }, nRecords, undefined, writeTap));
    line('netdev', r, nRecords, bytes, ` frames=${frames.length} ring=${JSON.stringify(r.ring)} (TAP writer alone: records/s=${Math.round(nRecords / writerSeconds)})`);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
  console.log(`ratio to file: ${Object.entries(rates).map(([k, v]) => `${k}=${(v / rates.file!).toFixed(2)}`).join(' ')} (load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} CPUs)`);
}

try {
  console.log(`ipa decode bench: ~${total} records per format, ${CHUNK}-byte reads, node ${process.version}`);
  const all = process.env.ONLY !== 'sources';
  for (const [format, version] of all ? [['status', '4.9'], ['status', '5.0'], ['dplv2', '4.2'], ['dplv3', '4.9']] as const : []) {
    const { stream } = simulate({ flows: mix() }, { format, version });
    const rate: Partial<Record<Mode, number>> = {};
    for (const mode of ['walk', 'walk+stats', 'walk+stats+pcapng'] as const) {
      run(format, version, stream.subarray(0, Math.min(stream.length, 4 << 20)), mode); // warm-up
      let best = { records: 0, seconds: Infinity, fileBytes: 0 };
      for (let i = 0; i < 3; i++) {
        const r = run(format, version, stream, mode);
        if (r.seconds < best.seconds) best = r;
      }
      rate[mode] = best.records / best.seconds;
      console.log(
        `${format} v${version} ${mode.padEnd(18)} records=${best.records} seconds=${best.seconds.toFixed(3)} ` +
          `records/s=${Math.round(rate[mode]!)} MB/s=${(stream.length / best.seconds / 1e6).toFixed(1)}` +
          (best.fileBytes ? ` pcapng=${(best.fileBytes / 1e6).toFixed(1)}MB` : ''),
      );
    }
    console.log(
      `ratio ${format} v${version}: stats/walk=${(rate['walk+stats']! / rate.walk!).toFixed(2)} pcapng/walk=${(rate['walk+stats+pcapng']! / rate.walk!).toFixed(2)}`,
    );
  }
  for (const [format, version] of all ? [['status', '4.9'], ['dplv3', '4.9']] as const : []) {
    const { stream } = simulate({ flows: mix() }, { format, version });
    for (const capture of [false, true]) {
      await runFifo(format, version, stream.subarray(0, Math.min(stream.length, 4 << 20)), capture); // warm-up
      let best = { records: 0, seconds: Infinity, reads: 0 };
      for (let i = 0; i < 3; i++) {
        const r = await runFifo(format, version, stream, capture);
        if (r.seconds < best.seconds) best = r;
      }
      console.log(
        `${format} v${version} ${(capture ? 'fifo+driver+pcapng' : 'fifo+driver').padEnd(18)} records=${best.records} seconds=${best.seconds.toFixed(3)} ` +
          `records/s=${Math.round(best.records / best.seconds)} MB/s=${(stream.length / best.seconds / 1e6).toFixed(1)} reads=${best.reads} (avg ${Math.round(stream.length / best.reads)} B)`,
      );
      const wr = { seconds: Infinity };
      for (let i = 0; i < 3; i++) wr.seconds = Math.min(wr.seconds, (await runWorker(format, version, stream, best.records, capture)).seconds);
      console.log(
        `${format} v${version} ${(capture ? 'fifo+worker+pcapng' : 'fifo+worker').padEnd(18)} records=${best.records} seconds=${wr.seconds.toFixed(3)} ` +
          `records/s=${Math.round(best.records / wr.seconds)} MB/s=${(stream.length / wr.seconds / 1e6).toFixed(1)} ratio worker/main=${(best.seconds / wr.seconds).toFixed(2)}`,
      );
    }
  }
  if (process.env.SOURCES !== '0') await benchSources();
} finally {
  rmSync(work, { recursive: true, force: true });
}
