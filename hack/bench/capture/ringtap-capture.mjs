// Benchmark capturer: one ringtap capture writing pcapng into a directory until SIGINT/SIGTERM.
// Usage: node ringtap-capture.mjs IFACE DIR [FANOUT_WORKERS [hash|cpu|lb]]   (run inside the
// capture namespace). With FANOUT_WORKERS > 1, that many rings in one PACKET_FANOUT group.
// Prints "ready" once the ring is bound, and one summary line after stopping:
//   ringtap: seen=N written=N kdrops=N spill=N files=N
import { createRequire } from 'node:module';

const native = createRequire(import.meta.url)('../../../agent/native/index.cjs');
const [iface, dir, workers = '1', mode = 'hash'] = process.argv.slice(2);
if (!iface || !dir) {
  console.error('usage: ringtap-capture.mjs IFACE DIR [FANOUT_WORKERS [hash|cpu|lb]]');
  process.exit(2);
}
const cap = new native.Capture(
  {
    interfaces: [{ name: iface }],
    // Large blocks cost less softirq and wake-up CPU than libpcap's 256 KiB (baseline §4d);
    // the spill buffer absorbs write() stalls so the ring never waits for the disk.
    ring: { blockSize: Number(process.env.RING_BLOCK_KB ?? 4096) << 10, blockCount: Number(process.env.RING_BLOCKS ?? 64), retireTimeoutMs: 60 },
    spillBytes: 512 * 1024 * 1024,
    fanout: { workers: Number(workers), mode },
    output: { directory: dir, prefix: 'bench' },
  },
  (e) => {
    if (e.type === 'stopped') {
      const s = cap.stats();
      console.log(
        `ringtap: seen=${s.packets} written=${s.packetsWritten} kdrops=${s.kernelDrops} spill=${s.spillDrops} files=${s.files}`,
      );
      cap.close();
    } else if (e.type === 'error') {
      console.error(`ringtap: ${e.code}: ${e.message}`);
    }
  },
);
cap.start();
console.log('ready');
const stop = () => cap.stop();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
