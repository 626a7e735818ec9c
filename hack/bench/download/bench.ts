// Download benchmark (issue 18): a capture of >= 1 GiB on two nodes, downloaded through the API
// server (data.ringtap.dev, merged by the operator) against reading and merging the same files
// straight from the agents' directories, in the same run. Prints MB/s of both, their ratio, and
// the operator's peak RSS growth while it serves the download. Then the anchor the ratio cannot
// pass: the same files relayed whole through the same path (agent -> operator -> API server ->
// kubectl) with no merge at all.
//
//   node dist/hack/bench/download/bench.js generate DIR NODE BYTES START_NS  synthetic capture files
//   node dist/hack/bench/download/bench.js measure                           the comparison (run.sh sets the environment)
//
// The files are synthesized (run.sh says so): capturing a gigabyte through veth pairs on this
// machine would measure the capture path, not the download. They are what the agent writes:
// pcapng, one IDB per pod interface with the agent's description, 1 KB frames, both nodes'
// timestamps interleaved over the same span (20 MB/s per node, the reorder window's worth of
// traffic is what the merge holds).
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { concatCaptures, mergeCaptures, PcapngWriter, readCapture, writeMerged, type MergeSource } from '../../../lib/pcapng/index.js';
import { orderSource } from '../../../lib/pcapng/stream-merge.js';
import { DOWNLOAD_WRITER } from '../../../operator/src/dataapi/server.js';

const FRAME = 1000;
/** Capture rate the timestamps describe, per node. */
const BYTES_PER_SECOND = 20e6;
const FILE_BYTES = 128 << 20;

function frame(seq: number): Buffer {
  const b = Buffer.alloc(FRAME);
  // Ethernet + IPv4 + UDP headers that tshark decodes; the payload carries the sequence number.
  Buffer.from('02000000000102000000000208004500', 'hex').copy(b, 0);
  b.writeUInt16BE(FRAME - 14, 16);
  Buffer.from('0000400040110000', 'hex').copy(b, 18);
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(b, 26);
  b.writeUInt16BE(40000, 34);
  b.writeUInt16BE(9, 36);
  b.writeUInt16BE(FRAME - 34, 38);
  b.writeUInt32BE(seq, 42);
  return b;
}

async function generate(dir: string, node: string, bytes: number, startNs: bigint): Promise<void> {
  const gapNs = BigInt(Math.round((FRAME / BYTES_PER_SECOND) * 1e9));
  let written = 0;
  let seq = 0;
  let ts = startNs;
  for (let file = 1; written < bytes; file++) {
    const path = join(dir, `${dir.split('/').at(-2)}-${String(file).padStart(6, '0')}.pcapng`);
    const out = createWriteStream(path);
    const w = new PcapngWriter(out);
    const ifaces = [0, 1].map((i) => w.addInterface({ linkType: 1, snapLen: 262144, name: `eth${i}`, description: `node=${node} pod=bench/p${i} uid=00000000-0000-0000-0000-00000000000${i} interface=eth0` }));
    let inFile = 0;
    while (inFile < FILE_BYTES && written < bytes) {
      const data = frame(seq++);
      await w.writePacket(ifaces[seq % 2]!, ts, data.length, data);
      ts += gapNs;
      inFile += data.length + 32;
      written += data.length + 32;
    }
    await w.end();
  }
  console.log(JSON.stringify({ node, dir, packets: seq, bytes: written }));
}

function files(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.pcapng')).sort().map((f) => join(dir, f));
}

/** Counts bytes written to it, as fast as it is given them. */
class Sink extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.bytes += chunk.length;
    cb();
  }
}

/** The same merge the operator runs (operator/src/dataapi/server.ts), reading the agents' directories directly. */
async function directMerge(dirs: string[], reorderNs: bigint): Promise<{ bytes: number; packets: number; seconds: number }> {
  const t0 = process.hrtime.bigint();
  const sources: MergeSource[] = dirs.map((d) => ({
    label: `node=${basename(d)}`,
    events: orderSource(concatCaptures(files(d).map((f) => readCapture(createReadStream(f), undefined, { statistics: true }))), reorderNs),
  }));
  const sink = new Sink();
  const s = await writeMerged(mergeCaptures(sources, { slackNs: 0n, statistics: true }), sink, { writer: DOWNLOAD_WRITER });
  return { bytes: sink.bytes, packets: s.packets, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Reading the files and nothing else (cat > /dev/null): what the disk or page cache gives. */
async function rawRead(dirs: string[]): Promise<{ bytes: number; seconds: number }> {
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (const d of dirs) for (const f of files(d)) for await (const c of createReadStream(f, { highWaterMark: 1 << 20 })) bytes += (c as Buffer).length;
  return { bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** CPU seconds of this process's children that have ended (kubectl and wc). */
function childCpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/**
 * The download through the API server by kubectl, its bytes counted by `wc -c` (a byte counter
 * that costs next to nothing, like the direct merge's Sink: on a 2-core machine a sink that
 * costs CPU would slow the pipeline it measures), sampling the operator's RSS.
 */
async function apiDownload(kubectl: string, kubeconfig: string, path: string, operatorPid: number): Promise<{ bytes: number; seconds: number; rssBaseKiB: number; rssPeakKiB: number }> {
  const rssBaseKiB = rssKiB(operatorPid);
  let rssPeakKiB = rssBaseKiB;
  const timer = setInterval(() => (rssPeakKiB = Math.max(rssPeakKiB, rssKiB(operatorPid))), 20);
  const t0 = process.hrtime.bigint();
  const child = spawn('bash', ['-c', 'set -o pipefail; "$@" | wc -c', 'bash', kubectl, '--kubeconfig', kubeconfig, 'get', '--raw', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(timer);
  if (code !== 0) throw new Error(`kubectl get --raw ${path} exited ${code}: ${stderr}`);
  return { bytes: Number(stdout.trim()), seconds, rssBaseKiB, rssPeakKiB: Math.max(rssPeakKiB, rssKiB(operatorPid)) };
}

/**
 * The same bytes through the same path with no merge: every file relayed whole
 * (`kubectl get --raw .../files/NODE/FILE`, one after the other, into one `wc -c`). What this
 * takes bounds any merge: a merge that cost nothing would still pay the relay.
 */
async function relayDownload(kubectl: string, kubeconfig: string, pcapPath: string): Promise<{ bytes: number; seconds: number }> {
  const listPath = pcapPath.replace(/\/pcap$/, '/files');
  const list = JSON.parse(execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'get', '--raw', listPath], { encoding: 'utf8' })) as { nodes: { files: { path: string }[] }[] };
  const paths = list.nodes.flatMap((n) => n.files.map((f) => f.path.replace('/v1alpha1/namespaces/', '/v1alpha1/watch/namespaces/')));
  const t0 = process.hrtime.bigint();
  const out = execFileSync('bash', ['-c', 'set -o pipefail; k=$1; c=$2; shift 2; for p in "$@"; do "$k" --kubeconfig "$c" get --raw "$p" || exit 1; done | wc -c', 'bash', kubectl, kubeconfig, ...paths], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return { bytes: Number(out.trim()), seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function measure(): Promise<void> {
  const env = (k: string) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set (run hack/bench/download/run.sh)`);
    return v;
  };
  const dirs = env('BENCH_DIRS').split(',');
  const reorderNs = BigInt(env('BENCH_REORDER_MS')) * 1_000_000n;
  const total = dirs.reduce((a, d) => a + files(d).reduce((b, f) => b + statSync(f).size, 0), 0);
  const raw = await rawRead(dirs); // also warms the page cache for both runs below
  const directCpu0 = process.cpuUsage();
  const direct = await directMerge(dirs, reorderNs);
  const directCpu = process.cpuUsage(directCpu0);
  // Where the CPU goes on the API path: name=pid of each process it crosses.
  const procs = (process.env.BENCH_PIDS ?? '').split(',').filter(Boolean).map((x) => x.split('=') as [string, string]);
  const before = new Map(procs.map(([n, p]) => [n, cpuSeconds(Number(p))]));
  const kubectlBefore = childCpuSeconds();
  const selfBefore = process.cpuUsage();
  const api = await apiDownload(env('BENCH_KUBECTL'), env('BENCH_KUBECONFIG'), env('BENCH_PATH'), Number(env('BENCH_OPERATOR_PID')));
  const self = process.cpuUsage(selfBefore);
  const kubectlAfter = childCpuSeconds();
  const cpu = {
    ...Object.fromEntries(procs.map(([n, p]) => [n, +(cpuSeconds(Number(p)) - before.get(n)!).toFixed(1)])),
    'kubectl and wc': +(kubectlAfter - kubectlBefore).toFixed(1),
    'bench (samples RSS)': +((self.user + self.system) / 1e6).toFixed(1),
  };
  const relayBefore = new Map(procs.map(([n, p]) => [n, cpuSeconds(Number(p))]));
  const relayKubectlBefore = childCpuSeconds();
  const relay = await relayDownload(env('BENCH_KUBECTL'), env('BENCH_KUBECONFIG'), env('BENCH_PATH'));
  const relayCpu = {
    ...Object.fromEntries(procs.map(([n, p]) => [n, +(cpuSeconds(Number(p)) - relayBefore.get(n)!).toFixed(1)])),
    'kubectl and wc': +(childCpuSeconds() - relayKubectlBefore).toFixed(1),
  };
  const mbps = (b: number, s: number) => b / s / 1e6;
  const result = {
    inputBytes: total,
    packets: direct.packets,
    rawReadMBps: +mbps(raw.bytes, raw.seconds).toFixed(1),
    directMergeMBps: +mbps(direct.bytes, direct.seconds).toFixed(1),
    apiMBps: +mbps(api.bytes, api.seconds).toFixed(1),
    apiBytes: api.bytes,
    directBytes: direct.bytes,
    ratio: +(mbps(api.bytes, api.seconds) / mbps(direct.bytes, direct.seconds)).toFixed(3),
    relayMBps: +mbps(relay.bytes, relay.seconds).toFixed(1),
    relayBytes: relay.bytes,
    relayRatio: +(mbps(relay.bytes, relay.seconds) / mbps(direct.bytes, direct.seconds)).toFixed(3),
    operatorRssGrowthMiB: +((api.rssPeakKiB - api.rssBaseKiB) / 1024).toFixed(1),
    operatorRssBaseMiB: +(api.rssBaseKiB / 1024).toFixed(1),
    apiSeconds: +api.seconds.toFixed(1),
    directSeconds: +direct.seconds.toFixed(1),
    directCpuSeconds: +((directCpu.user + directCpu.system) / 1e6).toFixed(1),
    cpuSecondsDuringApiDownload: cpu,
    relaySeconds: +relay.seconds.toFixed(1),
    cpuSecondsDuringRelay: relayCpu,
  };
  console.log(JSON.stringify(result));
  console.log(`input ${(total / 2 ** 30).toFixed(2)} GiB on ${dirs.length} nodes, ${direct.packets} packets`);
  console.log(`read the files directly (no merge):     ${result.rawReadMBps} MB/s`);
  console.log(`merge them directly (same merge code):  ${result.directMergeMBps} MB/s`);
  console.log(`download through the API server:         ${result.apiMBps} MB/s   ratio ${result.ratio} (acceptance >= 0.5)`);
  console.log(`the same files relayed whole, no merge:  ${result.relayMBps} MB/s   ratio ${result.relayRatio}: the most any merge through this path could reach here`);
  console.log(`operator RSS growth during the download: ${result.operatorRssGrowthMiB} MiB (acceptance < 64)`);
  console.log(`CPU seconds during the API download (${result.apiSeconds} s; the direct merge took ${result.directSeconds} s, ${result.directCpuSeconds} CPU-s): ${JSON.stringify(cpu)}`);
  console.log(`CPU seconds during the relay (${result.relaySeconds} s): ${JSON.stringify(relayCpu)}`);
  if (relay.bytes !== total) console.log(`WARNING: the relay returned ${relay.bytes} bytes, the files hold ${total}`);
  if (api.bytes !== direct.bytes) console.log(`WARNING: the API returned ${api.bytes} bytes, the direct merge ${direct.bytes}`);
  process.exitCode = result.ratio >= 0.5 && result.operatorRssGrowthMiB < 64 && api.bytes === direct.bytes ? 0 : 1;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'generate') await generate(args[0]!, args[1]!, Number(args[2]), BigInt(args[3]!));
else if (cmd === 'measure') await measure();
else {
  console.error('usage: bench.js generate DIR NODE BYTES START_NS | measure');
  process.exitCode = 2;
}
