// The writer: rotation by size and time, the file ring, limits with their stop reasons,
// torn-tail repair and append, and a full disk closing the file at a whole record.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, truncateSync } from 'node:fs';

import {
  repairCaptureFile,
  RingCapture,
  transmit,
  type CaptureEvent,
  type CaptureOptions,
} from '../../../agent/src/native.js';
import { createVethPair, destroyAll, type VethPair } from '../../support/netns.js';
import { flowFrames, removeDir, tcpdumpLines, tempDir, tsharkFields, waitFor } from './helpers.js';

afterAll(() => destroyAll());

const RING = { blockSize: 1 << 20, blockCount: 16, retireTimeoutMs: 20 };

function open(pair: VethPair, opts: Omit<CaptureOptions, 'interfaces'>): { cap: RingCapture; events: CaptureEvent[] } {
  const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB }], ring: RING, ...opts });
  const events: CaptureEvent[] = [];
  cap.on('event', (e) => events.push(e));
  return { cap, events };
}

function send(pair: VethPair, count: number, frameLength = 64, ratePps = 20000): Promise<unknown> {
  return transmit({
    interface: pair.ifA,
    netns: pair.nsPathA,
    frames: flowFrames(pair, [7000], frameLength),
    count,
    ratePps,
  });
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe('file writer', () => {
  test('direct I/O and buffered writes give byte-identical records (1514 B frames across many 4 KiB blocks)', async () => {
    const pair = createVethPair('dio');
    const dirs = [tempDir('dio'), tempDir('buf')];
    try {
      for (const [i, directIo] of [true, false].entries()) {
        const { cap } = open(pair, { output: { directory: dirs[i]!, prefix: 'd', directIo } });
        try {
          cap.start();
          await send(pair, 3000, 1514, 50000);
          await waitFor(() => cap.stats().packets >= 3000, '3000 packets');
          await cap.stop();
        } finally {
          cap.close();
        }
      }
      const rows = dirs.map((d) => tsharkFields(`${d}/d-000000.pcapng`, ['frame.len', 'frame.cap_len', 'ip.id', 'udp.length']));
      expect(rows[0]).toHaveLength(3000);
      expect(rows[0]).toEqual(rows[1]);
      for (const d of dirs) expect(repairCaptureFile(`${d}/d-000000.pcapng`, { truncate: false })).toMatchObject({ removedBytes: 0, packets: 3000 });
    } finally {
      for (const d of dirs) removeDir(d);
      pair.destroy();
    }
  }, 60000);

  test('rotation by size keeps whole records in every file; names carry the sequence', async () => {
    const pair = createVethPair('rot');
    const dir = tempDir('rot');
    const { cap, events } = open(pair, { output: { directory: dir, prefix: 'rot', startSequence: 7, rotateBytes: 20000 } });
    try {
      cap.start();
      await send(pair, 600);
      await waitFor(() => cap.stats().packets >= 600, '600 packets');
      await cap.stop();
      const files = filesIn(dir);
      expect(files.length).toBeGreaterThanOrEqual(4);
      expect(files[0]).toBe('rot-000007.pcapng');
      expect(files[1]).toBe('rot-000008.pcapng');
      let total = 0;
      for (const f of files) {
        expect(statSync(`${dir}/${f}`).size).toBeLessThanOrEqual(20000 + 200); // + the closing ISB
        total += tcpdumpLines(`${dir}/${f}`).length;
      }
      expect(total).toBe(600);
      expect(cap.stats().files).toBe(files.length);
      const rotations = events.filter((e) => e.type === 'file-rotated');
      expect(rotations).toHaveLength(files.length - 1);
      expect(rotations[0]).toEqual({ type: 'file-rotated', previousPath: `${dir}/rot-000007.pcapng`, path: `${dir}/rot-000008.pcapng` });
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('a file ring keeps only the newest N files', async () => {
    const pair = createVethPair('frg');
    const dir = tempDir('frg');
    const { cap } = open(pair, { format: 'pcap', output: { directory: dir, prefix: 'ring', rotateBytes: 10000, maxFiles: 2 } });
    try {
      cap.start();
      await send(pair, 600);
      await waitFor(() => cap.stats().packets >= 600, '600 packets');
      await cap.stop();
      const st = cap.stats();
      expect(st.files).toBeGreaterThanOrEqual(5);
      const files = filesIn(dir);
      const last = st.files - 1;
      const name = (n: number) => `ring-${String(n).padStart(6, '0')}.pcap`;
      expect(files).toEqual([name(last - 1), name(last)]);
      for (const f of files) expect(tcpdumpLines(`${dir}/${f}`).length).toBeGreaterThan(0);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('rotation by time', async () => {
    const pair = createVethPair('tim');
    const dir = tempDir('tim');
    const { cap } = open(pair, { output: { directory: dir, prefix: 'tim', rotateSeconds: 0.3 } });
    try {
      cap.start();
      await send(pair, 300, 64, 200); // 1.5 s of traffic
      await waitFor(() => cap.stats().packets >= 300, '300 packets');
      await cap.stop();
      const files = filesIn(dir);
      expect(files.length).toBeGreaterThanOrEqual(3);
      let total = 0;
      for (const f of files) total += tcpdumpLines(`${dir}/${f}`).length;
      expect(total).toBe(300);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);
});

describe('limits', () => {
  test('packet limit: exactly N packets after the filter, reason packet-limit', async () => {
    const pair = createVethPair('lpk');
    const dir = tempDir('lpk');
    const { cap, events } = open(pair, { filter: 'udp', limits: { packets: 250 }, output: { directory: dir, prefix: 'l' } });
    try {
      cap.start();
      await send(pair, 600);
      expect(await cap.stopped).toBe('packet-limit');
      expect(events).toContainEqual({ type: 'limit-reached', reason: 'packet-limit' });
      expect(events.at(-1)).toEqual({ type: 'stopped', reason: 'packet-limit' });
      expect(tcpdumpLines(`${dir}/l-000000.pcapng`)).toHaveLength(250);
      expect(cap.stats()).toMatchObject({ state: 'stopped', stopReason: 'packet-limit', packetsWritten: 250 });
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('byte limit counts captured bytes', async () => {
    const pair = createVethPair('lby');
    const dir = tempDir('lby');
    const { cap } = open(pair, { limits: { bytes: 64 * 100 }, output: { directory: dir, prefix: 'l' } });
    try {
      cap.start();
      await send(pair, 600);
      expect(await cap.stopped).toBe('byte-limit');
      expect(tcpdumpLines(`${dir}/l-000000.pcapng`)).toHaveLength(100);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('duration limit', async () => {
    const pair = createVethPair('ldu');
    const dir = tempDir('ldu');
    const { cap, events } = open(pair, { limits: { durationSeconds: 0.4 }, output: { directory: dir, prefix: 'l' } });
    try {
      cap.start();
      expect(await cap.stopped).toBe('duration');
      expect(events).toContainEqual({ type: 'limit-reached', reason: 'duration' });
      expect(tcpdumpLines(`${dir}/l-000000.pcapng`)).toHaveLength(0);
    } finally {
      cap.close();
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);
});

describe('crash safety', () => {
  test('a torn tail is repaired, and append resumes the file as a new section', async () => {
    const pair = createVethPair('tor');
    const dir = tempDir('tor');
    const file = `${dir}/t-000003.pcapng`;
    try {
      {
        const { cap } = open(pair, { output: { directory: dir, prefix: 't', startSequence: 3 } });
        cap.start();
        await send(pair, 100);
        await waitFor(() => cap.stats().packets >= 100, '100 packets');
        await cap.stop();
        cap.close();
      }
      // Simulate a crash mid-write: cut into the last EPB (the file ends with an ISB after it).
      const whole = repairCaptureFile(file, { truncate: false });
      expect(whole).toMatchObject({ format: 'pcapng', removedBytes: 0, packets: 100 });
      const size = statSync(file).size;
      truncateSync(file, size - 120);
      expect(() => tcpdumpLines(file)).toThrow();
      const fixed = repairCaptureFile(file);
      expect(fixed.packets).toBe(99);
      expect(fixed.removedBytes).toBeGreaterThan(0);
      expect(statSync(file).size).toBe(fixed.validBytes);
      expect(tcpdumpLines(file)).toHaveLength(99);

      // An agent restart may resume into the same file.
      const { cap } = open(pair, { output: { directory: dir, prefix: 't', startSequence: 3, append: true } });
      try {
        cap.start();
        await send(pair, 50);
        await waitFor(() => cap.stats().packets >= 50, '50 packets');
        await cap.stop();
      } finally {
        cap.close();
      }
      expect(filesIn(dir)).toEqual(['t-000003.pcapng']);
      expect(tcpdumpLines(file)).toHaveLength(149);
      expect(tsharkFields(file, ['frame.number'])).toHaveLength(149);
    } finally {
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('pcap torn tail', async () => {
    const pair = createVethPair('tpc');
    const dir = tempDir('tpc');
    const file = `${dir}/p-000000.pcap`;
    try {
      const { cap } = open(pair, { format: 'pcap', output: { directory: dir, prefix: 'p' } });
      cap.start();
      await send(pair, 20);
      await waitFor(() => cap.stats().packets >= 20, '20 packets');
      await cap.stop();
      cap.close();
      truncateSync(file, statSync(file).size - 10);
      expect(repairCaptureFile(file)).toMatchObject({ format: 'pcap', packets: 19, removedBytes: 16 + 64 - 10 });
      expect(tcpdumpLines(file)).toHaveLength(19);
    } finally {
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test.each([
    ['direct I/O', true],
    ['buffered writes', false],
  ])('a full disk closes the file at its last whole record and stops with disk-full (%s)', async (_what, directIo) => {
    const pair = createVethPair('dfl');
    const dir = tempDir('dfl');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'ringtap-test', dir]);
    try {
      const { cap, events } = open(pair, { output: { directory: dir, prefix: 'full', directIo } });
      try {
        cap.start();
        await send(pair, 1000, 1514);
        expect(await cap.stopped).toBe('disk-full');
        const err = events.find((e) => e.type === 'error');
        expect(err).toMatchObject({ type: 'error', code: 'ERR_RINGTAP_FILE', message: expect.stringMatching(/No space left/) });
      } finally {
        cap.close();
      }
      const file = `${dir}/full-000000.pcapng`;
      const r = repairCaptureFile(file, { truncate: false });
      expect(r.removedBytes).toBe(0);
      expect(r.packets).toBeGreaterThan(50);
      expect(tcpdumpLines(file)).toHaveLength(r.packets);
    } finally {
      execFileSync('umount', [dir]);
      removeDir(dir);
      pair.destroy();
    }
  }, 60000);

  test('an existing file is never overwritten', () => {
    const dir = tempDir('exs');
    try {
      execFileSync('touch', [`${dir}/x-000000.pcapng`]);
      const cap = new RingCapture({ interfaces: [], output: { directory: dir, prefix: 'x' } });
      try {
        expect(() => cap.start()).toThrow(expect.objectContaining({ code: 'ERR_RINGTAP_FILE' }));
      } finally {
        cap.close();
      }
      expect(existsSync(`${dir}/x-000000.pcapng`)).toBe(true);
      expect(statSync(`${dir}/x-000000.pcapng`).size).toBe(0);
    } finally {
      removeDir(dir);
    }
  });
});
