// Core capture: a TPACKET_V3 ring on a veth inside a namespace, written as pcapng or pcap,
// read back by tcpdump and tshark, with per-flow counts equal to what the TX_RING sender sent.
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';

import { RingCapture, transmit, type CaptureStats } from '../../../agent/src/native.js';
import { createVethPair, destroyAll, nsExec, type VethPair } from '../../support/netns.js';
import { flowFrames, removeDir, tcpdumpLines, tempDir, tsharkFields, udpCountsByDstPort, waitFor } from './helpers.js';

afterAll(() => destroyAll());

// Ports 5001..5003 get 100, 200 and 300 packets: frames are sent round-robin, so list
// 5003 three times, 5002 twice and 5001 once.
const PORT_PATTERN = [5001, 5002, 5003, 5002, 5003, 5003];
const ROUNDS = 100;
const EXPECTED = new Map([
  [5001, 100],
  [5002, 200],
  [5003, 300],
]);

async function captureFlows(pair: VethPair, dir: string, format: 'pcapng' | 'pcap'): Promise<CaptureStats> {
  const cap = new RingCapture({
    interfaces: [{ name: pair.ifB, netns: pair.nsPathB, description: `node=n1 pod=test/${pair.nsB} uid=1234` }],
    format,
    ring: { blockSize: 1 << 20, blockCount: 16, retireTimeoutMs: 20 },
    output: { directory: dir, prefix: 'flows' },
  });
  try {
    cap.start();
    const total = PORT_PATTERN.length * ROUNDS;
    const res = await transmit({
      interface: pair.ifA,
      netns: pair.nsPathA,
      frames: flowFrames(pair, PORT_PATTERN),
      count: total,
      ratePps: 20000,
    });
    expect(res.sent).toBe(total);
    await waitFor(() => cap.stats().packets >= total, 'all packets in the ring');
    expect(await cap.stop()).toBe('stopped');
    return cap.stats();
  } finally {
    cap.close();
  }
}

describe('capture on a veth in a namespace', () => {
  test('pcapng: per-flow counts equal what was sent; IDB and EPB fields are right', async () => {
    const pair = createVethPair('cap');
    const dir = tempDir('cap');
    try {
      const stats = await captureFlows(pair, dir, 'pcapng');
      expect(stats.packets).toBe(600);
      expect(stats.packetsWritten).toBe(600);
      expect(stats.kernelDrops).toBe(0);
      expect(stats.interfaces[0]?.kernelPackets).toBe(600);
      expect(stats.files).toBe(1);
      const file = `${dir}/flows-000000.pcapng`;
      expect(stats.currentFile).toBe(file);

      expect(udpCountsByDstPort(file)).toEqual(EXPECTED);
      const rows = tsharkFields(file, [
        'frame.interface_name',
        'frame.interface_description',
        'frame.packet_flags_direction',
        'frame.len',
        'frame.cap_len',
      ]);
      expect(rows).toHaveLength(600);
      for (const [name, desc, dir2, len, capLen] of rows) {
        expect(name).toBe(pair.ifB);
        expect(desc).toBe(`node=n1 pod=test/${pair.nsB} uid=1234`);
        expect(Number(dir2)).toBe(1); // inbound
        expect(len).toBe('64');
        expect(capLen).toBe('64');
      }
      // Nanosecond resolution and the ISB written at close.
      const info = tsharkFields(file, ['frame.time_epoch'], 'frame.number == 1')[0]?.[0] ?? '';
      expect(info).toMatch(/^\d+\.\d{9}$/);
      const raw = readFileSync(file);
      expect(raw.readUInt32LE(0)).toBe(0x0a0d0d0a);
      expect(raw.readUInt32LE(raw.length - 4)).toBeGreaterThan(0);
      expect(raw.includes(Buffer.from([5, 0, 0, 0]))).toBe(true);
    } finally {
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('pcap: nanosecond magic, Ethernet link type, same per-flow counts', async () => {
    const pair = createVethPair('pca');
    const dir = tempDir('pcap');
    try {
      const stats = await captureFlows(pair, dir, 'pcap');
      expect(stats.packetsWritten).toBe(600);
      const file = `${dir}/flows-000000.pcap`;
      const raw = readFileSync(file);
      expect(raw.readUInt32LE(0)).toBe(0xa1b23c4d);
      expect(raw.readUInt32LE(20)).toBe(1);
      expect(raw.readUInt32LE(16)).toBe(262144);
      expect(udpCountsByDstPort(file)).toEqual(EXPECTED);
      const times = tsharkFields(file, ['frame.time_epoch']);
      expect(times).toHaveLength(600);
      expect(times[0]?.[0]).toMatch(/^\d+\.\d{9}$/);
    } finally {
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('direction flags: echo requests are inbound, replies outbound', async () => {
    const pair = createVethPair('dir');
    const dir = tempDir('dir');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      filter: 'icmp',
      ring: { blockCount: 16, retireTimeoutMs: 20 },
      output: { directory: dir, prefix: 'icmp' },
    });
    try {
      cap.start();
      // ping from A: B's kernel answers, so the capture sees both directions.
      nsExec(pair.nsA, 'ping', '-c', '3', '-i', '0.2', '-W', '2', pair.ipB);
      await waitFor(() => cap.stats().packets >= 6, 'six ICMP packets');
      await cap.stop();
      const rows = tsharkFields(`${dir}/icmp-000000.pcapng`, ['icmp.type', 'frame.packet_flags_direction']);
      expect(rows).toHaveLength(6);
      for (const [type, d] of rows) expect(Number(d)).toBe(type === '8' ? 1 : 2);
      expect(tcpdumpLines(`${dir}/icmp-000000.pcapng`)).toHaveLength(6);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);
});

describe('transmit', () => {
  test('frames of 64 and 1514 bytes arrive byte for byte (read back by tshark)', async () => {
    const pair = createVethPair('txb');
    const dir = tempDir('txb');
    const frames = [...flowFrames(pair, [6001], 64), ...flowFrames(pair, [6002], 1514)];
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      ring: { blockSize: 1 << 20, blockCount: 8, retireTimeoutMs: 20 },
      output: { directory: dir, prefix: 'tx' },
    });
    try {
      cap.start();
      const res = await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames, count: 20, ratePps: 10000 });
      expect(res.sent).toBe(20);
      await waitFor(() => cap.stats().packets >= 20, 'all 20 frames in the ring');
      expect(await cap.stop()).toBe('stopped');
      const rows = tsharkFields(`${dir}/tx-000000.pcapng`, ['frame.len', 'frame.cap_len', 'udp.dstport']);
      expect(rows.length).toBe(20);
      // Independent of our writer's framing: the raw bytes of each frame as tshark decodes them.
      const hex = tsharkFields(`${dir}/tx-000000.pcapng`, ['data.data']);
      rows.forEach(([len, capLen, port], i) => {
        const sent = frames[i % 2]!;
        expect([Number(len), Number(capLen), Number(port)]).toEqual([sent.length, sent.length, i % 2 ? 6002 : 6001]);
        expect(hex[i]![0]!.replace(/:/g, '')).toBe(sent.subarray(42).toString('hex'));
      });
    } finally {
      cap.close();
      removeDir(dir);
    }
  });
});
