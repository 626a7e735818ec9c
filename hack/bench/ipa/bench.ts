// IPA decode throughput (not a test): records/s of the stream walker alone, with the traffic
// stats, and with pcapng writing (to a file under WORK), for each format, on a simulated
// stream of realistic sizes read in 64 KiB chunks. Prints one line per case and the ratios.
//   node dist/hack/bench/ipa/bench.js [RECORDS] [WORKDIR]
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPAFormat } from '../../../agent/src/ipa/decode.js';
import { IPAPcapngWriter } from '../../../agent/src/ipa/pcapng.js';
import { IPAStats } from '../../../agent/src/ipa/stats.js';
import { IPAStreamWalker } from '../../../agent/src/ipa/walker.js';
import { simulate, type SimFlow } from '../../ipa-sim/sim.js';

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

try {
  console.log(`ipa decode bench: ~${total} records per format, ${CHUNK}-byte reads, node ${process.version}`);
  for (const [format, version] of [['status', '4.9'], ['status', '5.0'], ['dplv2', '4.2'], ['dplv3', '4.9']] as const) {
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
} finally {
  rmSync(work, { recursive: true, force: true });
}
