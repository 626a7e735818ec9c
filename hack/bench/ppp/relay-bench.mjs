// PPP bridge benchmark driver (see run.sh): for each direction and frame size, bridges the
// PPPoE and L2TP sessions with ringtap's kernel bridge (PppKernelBridge: PPPIOCBRIDGECHAN) and
// with its userspace relay (PppRelay), one after the other in the same machine, and has the
// TX_RING generator (hack/bench/capture/ringtap-tx.mjs, a separate process pinned to CPU0) offer
// COUNT frames as fast as it can. Measures, from the bridge's own counters polled every 5 ms:
//   rate   frames forwarded / (time of the last forwarded frame - time of the first)
//   CPU    busy time of all CPUs (/proc/stat, the generator's included) per forwarded frame;
//          for the relay also its thread's own (/proc/self/task/TID/stat)
// Frames forwarded: the relay's per-direction counter; the kernel's L2TP session counters
// (PPPIOCGL2TPSTATS): frames sent to the LNS (PPPoE->L2TP), received from it (L2TP->PPPoE).
// Prints one line per run and a table: kernel vs userspace, ratio kernel/userspace.
// Usage: node relay-bench.mjs   (environment from run.sh; MODES="kernel userspace" by default
// where the kernel has PPP; RINGTAP_NATIVE=path.node to bench another build)
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

/** CPU seconds of threads (those gone count 0). */
function threadCpu(tids) {
  let sum = 0;
  for (const tid of tids) {
    try {
      const s = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      sum += (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14, 15)
    } catch {
      // the thread has ended
    }
  }
  return sum;
}
/** Busy seconds of all CPUs (everything but idle and iowait). */
function systemCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / TICK;
}
const tids = () => new Set(readdirSync('/proc/self/task'));

async function run(mode, dir, size, count) {
  const before = tids();
  const ns = `/run/netns/${env.NS_RELAY}`;
  const opts = {
    a: { type: 'pppoe', interface: env.RELAY_DOWN, netns: ns, sessionId: SID, peerMac: env.CLIENT_MAC },
    b: { type: 'l2tp', netns: ns, localAddress: env.RELAY_IP, localPort: 1701, peerAddress: env.LNS_IP, peerPort: 1701, ...IDS },
  };
  const bridge = mode === 'kernel' ? new native.PppKernelBridge(opts) : new native.PppRelay(opts);
  try {
    const forwarded = mode === 'kernel'
      ? () => { const b = bridge.stats().b; return dir === 'pppoe-to-l2tp' ? b.txPackets : b.rxPackets; }
      : () => bridge.stats()[dir === 'pppoe-to-l2tp' ? 'aToB' : 'bToA'].frames;
    // The relay thread on CPU1 (the generator runs on CPU0); the kernel bridge has no thread.
    // Threads new since the relay started and still there: the relay's (and any idle helper).
    const tid = mode === 'userspace' ? [...tids()].filter((t) => !before.has(t)) : undefined;
    for (const t of tid ?? []) await execFileP('taskset', ['-p', '-c', '1', t]).catch(() => undefined);
    const frame = dir === 'pppoe-to-l2tp' ? pppoeFrame(size) : l2tpFrame(size);
    const [gns, iface] = dir === 'pppoe-to-l2tp' ? [env.NS_CLIENT, env.CLIENT_IF] : [env.NS_LNS, env.LNS_IF];
    const thread0 = tid ? threadCpu(tid) : 0;
    const sys0 = systemCpu();
    let first = 0, last = 0, lastFrames = 0, threadLast = thread0, sysLast = sys0, doneAt = 0;
    const gen = execFileP('ip', ['netns', 'exec', gns, 'taskset', '-c', '0', NODE, TX, iface, frame.toString('hex'), String(count), '0']).then((r) => {
      doneAt = performance.now();
      return r.stdout.trim();
    });
    // Poll until the generator has finished and the bridge has been idle for 300 ms (2 s if it never forwarded).
    for (;;) {
      await new Promise((r) => setTimeout(r, 5));
      const n = forwarded();
      const now = performance.now();
      if (n !== lastFrames) {
        if (!first) first = now;
        last = now;
        if (tid) threadLast = threadCpu(tid);
        sysLast = systemCpu();
        lastFrames = n;
      }
      if (doneAt && now - Math.max(last, doneAt) > (first ? 300 : 2000)) break;
    }
    const out = await gen;
    const offered = Number(/pps=(\d+)/.exec(out)?.[1] ?? 0);
    const frames = forwarded();
    const secs = (last - first) / 1000;
    const r = {
      mode, dir, size, offered, frames, count,
      rate: secs > 0 ? Math.round(frames / secs) : 0,
      cpuUs: frames > 0 ? ((sysLast - sys0) / frames) * 1e6 : 0,
      threadUs: tid && frames > 0 ? ((threadLast - thread0) / frames) * 1e6 : undefined,
    };
    console.log(`${mode.padEnd(9)} ${dir.padEnd(14)} ${String(size).padStart(5)}B  offered=${offered} fps  forwarded=${frames}/${count} at ${r.rate} fps  cpu(all)=${r.cpuUs.toFixed(2)} us/frame${r.threadUs !== undefined ? `  relay thread=${r.threadUs.toFixed(2)} us/frame` : ''}`);
    return r;
  } finally {
    bridge.close();
  }
}

const sizes = (env.SIZES ?? '64 1400').split(' ').map(Number);
const counts = { 64: Number(env.COUNT64 ?? 1000000), 1400: Number(env.COUNT1400 ?? 300000) };
const modes = (env.MODES ?? 'kernel userspace').split(' ');
const rows = [];
for (const dir of (env.DIRS ?? 'pppoe-to-l2tp l2tp-to-pppoe').split(' ')) {
  for (const size of sizes) {
    const byMode = {};
    for (const mode of modes) byMode[mode] = await run(mode, dir, size, counts[size] ?? 300000);
    rows.push({ dir, size, ...byMode });
  }
}
if (modes.includes('kernel') && modes.includes('userspace')) {
  console.log('\n| direction | size | kernel fps | kernel CPU us/frame | userspace fps | userspace CPU us/frame | fps kernel/userspace | CPU/frame kernel/userspace |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { dir, size, kernel: k, userspace: u } of rows) {
    const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
    console.log(`| ${dir} | ${size} B | ${k.rate} | ${k.cpuUs.toFixed(2)} | ${u.rate} | ${u.cpuUs.toFixed(2)} | ${ratio(k.rate, u.rate)} | ${ratio(k.cpuUs, u.cpuUs)} |`);
  }
}
