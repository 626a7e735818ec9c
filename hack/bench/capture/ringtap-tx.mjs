// Benchmark generator: ringtap's TX_RING sender (qdisc bypass).
// Usage: node ringtap-tx.mjs IFACE HEXFRAME COUNT RATE_PPS   (RATE 0 = as fast as possible)
// Prints "sent=N seconds=S pps=P".
import { createRequire } from 'node:module';

const native = createRequire(import.meta.url)('../../../agent/native/index.cjs');
const [iface, hex, count, rate] = process.argv.slice(2);
const res = await native.transmit({
  interface: iface,
  frames: [Buffer.from(hex, 'hex')],
  count: Number(count),
  ratePps: Number(rate),
  ringFrames: 1024,
});
console.log(`sent=${res.sent} seconds=${res.seconds.toFixed(3)} pps=${Math.round(res.sent / res.seconds)}`);
