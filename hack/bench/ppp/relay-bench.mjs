// PPP relay benchmark driver (see run.sh): runs ringtap's userspace PppRelay in the relay
// namespace and, for each direction and frame size, has the TX_RING generator
// (hack/bench/capture/ringtap-tx.mjs, a separate process pinned to CPU0) offer COUNT frames as
// fast as it can. Measures, from the relay's own counters polled every 5 ms:
//   relay rate   frames forwarded / (time of the last forwarded frame - time of the first)
//   CPU          utime+stime of the relay thread (/proc/self/task/TID/stat) per million frames
// and prints the generator's offered rate of the same run as the reference.
// Usage: node relay-bench.mjs   (environment from run.sh; RINGTAP_NATIVE=path.node to bench another build)
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
// RINGTAP_NATIVE: another build of the addon (a .node path), e.g. to compare before/after a change.
const native = createRequire(import.meta.url)(process.env.RINGTAP_NATIVE ?? '../../../agent/native/index.cjs');
const env = process.env;
const NODE = env.NODE;
const TX = new URL('../capture/ringtap-tx.mjs', import.meta.url).pathname;
const SID = 0x1234;
const IDS = { tunnelId: 100, sessionId: 200, peerTunnelId: 300, peerSessionId: 400 };
const TICK = 100; // USER_HZ

const mac = (s) => Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
const ipBytes = (s) => Buffer.from(s.split('.').map(Number));

/** An Ethernet + PPPoE session frame of `size` bytes carrying IP (0x0021) filler. */
function pppoeFrame(size) {
  const f = Buffer.alloc(size, 0xab);
  mac(env.RELAY_DOWN_MAC).copy(f, 0);
  mac(env.CLIENT_MAC).copy(f, 6);
  f.writeUInt16BE(0x8864, 12);
  f[14] = 0x11;
  f[15] = 0;
  f.writeUInt16BE(SID, 16);
  f.writeUInt16BE(size - 20, 18);
  f.writeUInt16BE(0x0021, 20);
  return f;
}

/** An Ethernet + IPv4 + UDP + L2TPv2 data frame of `size` bytes (FF 03, IP filler), LNS -> relay. */
function l2tpFrame(size) {
  const f = Buffer.alloc(size, 0xcd);
  mac(env.RELAY_UP_MAC).copy(f, 0);
  mac(env.LNS_MAC).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ipLen = size - 14;
  const ip = f.subarray(14, 34);
  ip.fill(0);
  ip[0] = 0x45;
  ip.writeUInt16BE(ipLen, 2);
  ip[8] = 64;
  ip[9] = 17;
  ipBytes(env.LNS_IP).copy(ip, 12);
  ipBytes(env.RELAY_IP).copy(ip, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const udp = f.subarray(34, 42);
  udp.writeUInt16BE(1701, 0);
  udp.writeUInt16BE(1701, 2);
  udp.writeUInt16BE(ipLen - 20, 4);
  udp.writeUInt16BE(0, 6); // no checksum (IPv4)
  const l2 = f.subarray(42);
  l2.writeUInt16BE(0x4002, 0);
  l2.writeUInt16BE(ipLen - 28, 2);
  l2.writeUInt16BE(IDS.tunnelId, 4);
  l2.writeUInt16BE(IDS.sessionId, 6);
  l2[8] = 0xff;
  l2[9] = 0x03;
  l2.writeUInt16BE(0x0021, 10);
  return f;
}

function threadCpu(tid) {
  const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14, 15)
}
const tids = () => new Set(readdirSync('/proc/self/task'));

async function run(dir, size, count) {
  const before = tids();
  const relay = new native.PppRelay({
    a: { type: 'pppoe', interface: env.RELAY_DOWN, netns: `/run/netns/${env.NS_RELAY}`, sessionId: SID, peerMac: env.CLIENT_MAC },
    b: { type: 'l2tp', netns: `/run/netns/${env.NS_RELAY}`, localAddress: env.RELAY_IP, localPort: 1701, peerAddress: env.LNS_IP, peerPort: 1701, ...IDS },
  });
  try {
    const tid = [...tids()].find((t) => !before.has(t));
    // Pin the relay thread to CPU1 (the generator runs on CPU0).
    await execFileP('taskset', ['-p', '-c', '1', tid]);
    const key = dir === 'pppoe-to-l2tp' ? 'aToB' : 'bToA';
    const frame = dir === 'pppoe-to-l2tp' ? pppoeFrame(size) : l2tpFrame(size);
    const [ns, iface] = dir === 'pppoe-to-l2tp' ? [env.NS_CLIENT, env.CLIENT_IF] : [env.NS_LNS, env.LNS_IF];
    const cpu0 = threadCpu(tid);
    let first = 0, last = 0, lastFrames = 0, cpuLast = cpu0, doneAt = 0;
    const gen = execFileP('ip', ['netns', 'exec', ns, 'taskset', '-c', '0', NODE, TX, iface, frame.toString('hex'), String(count), '0']).then((r) => {
      doneAt = performance.now();
      return r.stdout.trim();
    });
    // Poll until the generator has finished and the relay has been idle for 200 ms (1 s if it never forwarded).
    for (;;) {
      await new Promise((r) => setTimeout(r, 5));
      const s = relay.stats()[key];
      const now = performance.now();
      if (s.frames !== lastFrames) {
        if (!first) first = now;
        last = now;
        cpuLast = threadCpu(tid);
        lastFrames = s.frames;
      }
      if (doneAt && now - Math.max(last, doneAt) > (first ? 200 : 1000)) break;
    }
    const out = await gen;
    const offered = Number(/pps=(\d+)/.exec(out)?.[1] ?? 0);
    const st = relay.stats()[key];
    const secs = (last - first) / 1000;
    const rate = secs > 0 ? Math.round(st.frames / secs) : 0;
    const cpuPerM = st.frames > 0 ? ((cpuLast - cpu0) / st.frames) * 1e6 : 0;
    const drops = Object.values(st.drops).reduce((a, b) => a + b, 0);
    console.log(`${dir.padEnd(14)} ${String(size).padStart(5)}B  offered=${offered} fps  relay=${rate} fps  ratio=${offered ? (rate / offered).toFixed(2) : 'n/a'}  forwarded=${st.frames}/${count}  drops=${drops} (rxOverflow=${st.drops.rxOverflow} sendError=${st.drops.sendError})  cpu=${cpuPerM.toFixed(2)} s/Mframe`);
  } finally {
    relay.close();
  }
}

const sizes = (env.SIZES ?? '64 1400').split(' ').map(Number);
const counts = { 64: Number(env.COUNT64 ?? 1000000), 1400: Number(env.COUNT1400 ?? 300000) };
for (const dir of (env.DIRS ?? 'pppoe-to-l2tp l2tp-to-pppoe').split(' ')) {
  for (const size of sizes) await run(dir, size, counts[size] ?? 300000);
}
