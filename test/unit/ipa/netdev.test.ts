// The network-device source: the simulator's IPA 4.9 and 5.0 status streams (padded to 4, every
// replica length 1..1500, the default mix's opcodes, exceptions and malformed records) written
// as frames into a TAP device (hack/ipa-sim/tapwrite.py) inside a network namespace this test
// creates, read by the IPA pipeline through the ring engine (TPACKET_V3, a kernel filter on
// EtherType 0x88B5): the decoded counts equal the simulator's exactly, the IPv6 chatter the
// kernel sends out of the device is not read, and the pcapng the pipeline writes opens in tshark
// and tcpdump with the right packets. A missing device is an error the reader retries.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IPAPipeline, type IPASnapshot } from '../../../agent/src/drivers/ipa/pipeline.js';
import { PcapFrames } from '../../../agent/src/drivers/ipa/netdev.js';
import { defaultMix, simulate, toFrames, type SimExpected, type SimMix } from '../../../hack/ipa-sim/sim.js';
import { createNamespace, destroyAll, ip, nsExec, type Namespace } from '../../support/netns.js';
import { waitFor } from '../../support/kube.js';

const TAPWRITE = join(import.meta.dirname, '../../../hack/ipa-sim/tapwrite.py');
const TAP = 'ipamon0';
let ns: Namespace;
const dir = mkdtempSync(join(tmpdir(), 'rt-ipa-netdev-'));

beforeAll(() => {
  ns = createNamespace('ipa');
  ip('-n', ns.name, 'tuntap', 'add', 'dev', TAP, 'mode', 'tap');
  ip('-n', ns.name, 'link', 'set', TAP, 'mtu', '16384', 'up');
  // With IPv6 on, the kernel sends router solicitations and MLD reports out of the TAP: the ring must leave them out.
  nsExec(ns.name, 'sysctl', '-q', '-w', `net.ipv6.conf.${TAP}.disable_ipv6=0`);
});
afterAll(() => {
  destroyAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes frames into the TAP (tapwrite.py attaches to it in the namespace); resolves with how many it wrote. */
async function writeTap(frames: Buffer[]): Promise<number> {
  const child = spawn('ip', ['netns', 'exec', ns.name, 'python3', TAPWRITE, TAP], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = once(child, 'exit');
  for (const f of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(f.length);
    if (!child.stdin.write(Buffer.concat([len, f]))) await once(child.stdin, 'drain');
  }
  child.stdin.end();
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`tapwrite.py: ${code} ${err}`);
  return Number(out.trim());
}

const lengths = Array.from({ length: 1500 }, (_, i) => i + 1);
const mixFor = (): SimMix => {
  const m = defaultMix('status');
  m.flows.push({ src: 3, dst: 12, proto: 'udp', packets: 1500, sizes: lengths }, { src: 12, dst: 3, ipVersion: 6, proto: 'tcp', packets: 1500, sizes: lengths });
  m.truncatedTail = 0; // a device never ends the stream: a cut record would stay pending
  return m;
};

describe('IPA pipeline on a network device (TAP in a netns, read through the ring engine)', () => {
  test.each(['4.9', '5.0'])('IPA %s: padded stream, lengths 1..1500, decoded exactly; pcapng read by tshark and tcpdump', async (version) => {
    const { parts, expected } = simulate(mixFor(), { format: 'status', version });
    const capDir = join(dir, version);
    let snap: IPASnapshot | undefined;
    let written: number | undefined;
    const p = new IPAPipeline({
      source: TAP, netdev: { interface: TAP, netns: ns.path }, format: 'status', version, endpointNames: {}, topPairs: 64, topFlows: 20,
      capture: { dir: capDir, prefix: 'mon', snapLength: 262144 },
    }, { changed: () => undefined, log: () => undefined });
    p.start();
    try {
      // The ring is open once the reader reports no error and a probe frame of another EtherType is not counted.
      await waitFor('the ring to open', () => (p.snapshot().ring !== undefined && !p.snapshot().readError ? true : undefined), 10_000, 20);
      const frames = toFrames(parts, 8192);
      expect(frames.length).toBeGreaterThan(10);
      written = await writeTap(frames);
      expect(written).toBe(frames.length);
      snap = await waitFor('every record decoded', () => {
        const s = p.snapshot();
        return s.summary.records >= expected.records ? s : undefined;
      }, 30_000, 20);
    } finally {
      await p.stop();
    }
    const s = snap.summary;
    const got: SimExpected = {
      records: s.records, packets: s.packets, bytes: s.bytes, capturedBytes: s.capturedBytes, truncated: s.truncated, exceptions: s.exceptions,
      byPair: Object.fromEntries(s.byPair.map((x) => [`${x.src}>${x.dst}`, { records: x.records, bytes: x.bytes, truncated: x.truncated }])),
      byOpcode: s.byOpcode, byException: s.byException, errors: s.errors, skippedBytes: s.skippedBytes, pcapPackets: snap.written!.packets,
    };
    expect(got).toEqual(expected);
    // Every frame written, none lost, nothing else (the kernel's IPv6 frames out of the TAP are filtered in the kernel).
    expect(snap.ring).toEqual({ frames: written, drops: 0 });
    const [file] = readdirSync(capDir).filter((f) => f.endsWith('.pcapng'));
    const tshark = execFileSync('tshark', ['-r', join(capDir, file!), '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
    expect(tshark).toHaveLength(expected.pcapPackets);
    expect(tshark.every((c) => c.startsWith(`ipa status${version === '5.0' ? ' v5' : ''} op=`))).toBe(true);
    const tcpdump = execFileSync('tcpdump', ['-n', '-r', join(capDir, file!)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).trim().split('\n');
    expect(tcpdump).toHaveLength(expected.pcapPackets);
  }, 60_000);

  test('stop() at once or right after the ring opened closes it (its socket does not outlive the reader)', async () => {
    const sockets = (): number => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
    const before = sockets();
    for (let i = 0; i < 5; i++) {
      const p = new IPAPipeline({
        source: TAP, netdev: { interface: TAP, netns: ns.path }, format: 'status', version: '4.9', endpointNames: {}, topPairs: 64, topFlows: 20,
      }, { changed: () => undefined, log: () => undefined });
      p.start();
      // Half of the time at once: start() opens the ring before its first await, so stop() comes while the loop has not taken it yet.
      if (i % 2) await waitFor('the ring to open', () => p.snapshot().ring, 10_000, 1);
      await p.stop();
    }
    expect(sockets()).toBe(before);
  });

  test('a device that does not exist: a read error, retried, no crash', async () => {
    const p = new IPAPipeline({
      source: 'nosuch0', netdev: { interface: 'nosuch0', netns: ns.path }, format: 'status', version: '4.9', endpointNames: {}, topPairs: 64, topFlows: 20,
    }, { changed: () => undefined, log: () => undefined });
    p.start();
    try {
      const s = await waitFor('the read error', () => p.snapshot().readError, 10_000, 20);
      expect(s).toMatch(/ERR_RINGTAP_NO_SUCH_INTERFACE|nosuch0/);
    } finally {
      await p.stop();
    }
  });
});

test('PcapFrames: any chunking of a pcap stream gives the same frames', () => {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b23c4d, 0);
  const rec = (b: Buffer) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(b.length, 8);
    h.writeUInt32LE(b.length, 12);
    return Buffer.concat([h, b]);
  };
  const frames = [Buffer.alloc(60, 1), Buffer.alloc(1, 2), Buffer.alloc(9000, 3)];
  const all = Buffer.concat([head, ...frames.map(rec)]);
  for (const n of [1, 7, 100, all.length]) {
    const p = new PcapFrames();
    const got: Buffer[] = [];
    for (let o = 0; o < all.length; o += n) got.push(...p.push(all.subarray(o, o + n)).map((b) => Buffer.from(b)));
    expect(got).toEqual(frames);
  }
});
