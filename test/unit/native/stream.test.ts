// Live streaming: the same pcapng bytes as the file (SHB + IDBs, then EPBs), and a slow
// consumer loses whole packets for itself only, never stalling the ring or the file.
import { afterAll, describe, expect, test } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';

import { RingCapture, transmit } from '../../../agent/src/native.js';
import { createVethPair, destroyAll } from '../../support/netns.js';
import { flowFrames, removeDir, tcpdumpLines, tempDir, waitFor } from './helpers.js';

afterAll(() => destroyAll());

const RING = { blockSize: 1 << 20, blockCount: 16, retireTimeoutMs: 20 };

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('live stream', () => {
  test('carries the file bytes: header and IDBs first, then every packet', async () => {
    const pair = createVethPair('str');
    const dir = tempDir('str');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB, description: 'pod=streamed' }],
      ring: RING,
      filter: 'udp',
      output: { directory: dir, prefix: 's' },
    });
    try {
      cap.start();
      const stream = cap.openStream();
      const done = collect(stream);
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1, 2, 3]), count: 300, ratePps: 20000 });
      await waitFor(() => cap.stats().packetsWritten >= 300, 'packets written');
      await cap.stop();
      const bytes = await done; // the stream ends when the capture stops
      const file = readFileSync(`${dir}/s-000000.pcapng`);
      // The file only adds the closing ISB after what the stream carried.
      expect(bytes.length).toBeLessThan(file.length);
      expect(bytes.equals(file.subarray(0, bytes.length))).toBe(true);
      expect(file.readUInt32LE(bytes.length)).toBe(5);
      writeFileSync(`${dir}/streamed.pcapng`, bytes);
      expect(tcpdumpLines(`${dir}/streamed.pcapng`)).toHaveLength(300);
      expect(cap.stats().streamDrops).toBe(0);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('a slow consumer loses whole packets for itself only', async () => {
    const pair = createVethPair('slo');
    const dir = tempDir('slo');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      ring: RING,
      output: { directory: dir, prefix: 'f' },
    });
    try {
      cap.start();
      const slow = cap.openStream({ maxBytes: 65536 }); // not read while traffic flows
      await transmit({
        interface: pair.ifA,
        netns: pair.nsPathA,
        frames: flowFrames(pair, [7], 1514),
        count: 2000,
        ratePps: 20000,
      });
      await waitFor(() => cap.stats().packetsWritten >= 2000, 'every packet in the file');
      const st = cap.stats();
      expect(st).toMatchObject({ kernelDrops: 0, spillDrops: 0, packetsWritten: 2000 });
      expect(st.streamDrops).toBeGreaterThan(1000);
      await cap.stop();
      const bytes = await collect(slow);
      writeFileSync(`${dir}/slow.pcapng`, bytes);
      expect(tcpdumpLines(`${dir}/slow.pcapng`)).toHaveLength(2000 - st.streamDrops);
      expect(tcpdumpLines(`${dir}/f-000000.pcapng`)).toHaveLength(2000);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('a capture without files serves streams only', async () => {
    const pair = createVethPair('sno');
    const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB }], ring: RING, format: 'pcap' });
    const dir = tempDir('sno');
    try {
      cap.start();
      const s = cap.openStream();
      const done = collect(s);
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [7]), count: 50 });
      await waitFor(() => cap.stats().packets >= 50, '50 packets');
      await cap.stop();
      const bytes = await done;
      expect(bytes.readUInt32LE(0)).toBe(0xa1b23c4d);
      writeFileSync(`${dir}/s.pcap`, bytes);
      expect(tcpdumpLines(`${dir}/s.pcap`)).toHaveLength(50);
      expect(cap.stats().files).toBe(0);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);
});
