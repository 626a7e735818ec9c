// PACKET_FANOUT: several rings and reader threads on one interface, one fanout group, one IDB.
// Exact per-flow counts for many flows, statistics summed over the workers, groups kept apart,
// interface removal covering every worker, and close() leaving nothing behind.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';

import {
  NativeErrorCode,
  RingCapture,
  transmit,
  type CaptureEvent,
  type CaptureOptions,
} from '../../../agent/src/native.js';
import { addVeth, createVethPair, destroyAll, ip, type VethPair } from '../../support/netns.js';
import {
  countFds,
  countThreads,
  flowFrames,
  removeDir,
  tempDir,
  tsharkFields,
  udpCountsByDstPort,
  waitFor,
} from './helpers.js';

let pair: VethPair;
beforeAll(() => {
  pair = createVethPair('fan');
});
afterAll(() => destroyAll());

const RING = { blockSize: 1 << 20, blockCount: 8, retireTimeoutMs: 20 };

// 16 UDP flows (ports 6000..6015); flow i is listed 1 + i % 4 times, so after ROUNDS rounds it
// has ROUNDS * (1 + i % 4) packets.
const PORTS = Array.from({ length: 16 }, (_, i) => 6000 + i);
const PATTERN = PORTS.flatMap((p, i) => Array<number>(1 + (i % 4)).fill(p));
const ROUNDS = 50;
const TOTAL = PATTERN.length * ROUNDS;
const EXPECTED = new Map(PORTS.map((p, i) => [p, ROUNDS * (1 + (i % 4))]));

async function sendFlows(ifA = pair.ifA): Promise<void> {
  const res = await transmit({
    interface: ifA,
    netns: pair.nsPathA,
    frames: flowFrames(pair, PATTERN),
    count: TOTAL,
    ratePps: 20000,
  });
  expect(res.sent).toBe(TOTAL);
}

describe('fanout across worker rings', () => {
  test.each([
    ['hash', { fanout: { workers: 2, mode: 'hash' } }],
    ['lb (capture default)', { fanout: { workers: 2, mode: 'lb' } }],
  ] as const)('%s: exact per-flow counts, one IDB, stats summed over workers', async (mode, opts) => {
    const dir = tempDir('fan');
    const cap = new RingCapture({
      ...(opts as Partial<CaptureOptions>),
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB, description: 'pod=fan' }],
      filter: 'udp',
      ring: RING,
      output: { directory: dir, prefix: 'f' },
    });
    try {
      cap.start();
      await sendFlows();
      await waitFor(() => cap.stats().packets >= TOTAL, 'every packet in the rings');
      expect(await cap.stop()).toBe('stopped');
      const st = cap.stats();
      const itf = st.interfaces[0];
      expect(itf?.fanout).toEqual({ group: expect.any(Number), mode: mode.startsWith('hash') ? 'hash' : 'lb' });
      expect(itf?.workerPackets).toHaveLength(2);
      // Both workers took part, and between them saw everything exactly once.
      for (const w of itf?.workerPackets ?? []) expect(w).toBeGreaterThan(0);
      expect((itf?.workerPackets ?? []).reduce((a, b) => a + b, 0)).toBe(TOTAL);
      expect(st).toMatchObject({ packets: TOTAL, packetsWritten: TOTAL, kernelPackets: TOTAL, kernelDrops: 0, spillDrops: 0 });

      const file = `${dir}/f-000000.pcapng`;
      expect(udpCountsByDstPort(file)).toEqual(EXPECTED);
      const rows = tsharkFields(file, ['frame.interface_id', 'frame.interface_name', 'udp.dstport', 'frame.time_epoch']);
      expect(rows).toHaveLength(TOTAL);
      const lastTime = new Map<string, number>();
      for (const [id, name, port, time] of rows) {
        expect(`${id}/${name}`).toBe(`0/${pair.ifB}`);
        if (mode === 'hash') {
          // A flow stays on one worker, so its packets are in arrival order in the file.
          const t = Number(time);
          expect(t).toBeGreaterThanOrEqual(lastTime.get(port ?? '') ?? 0);
          lastTime.set(port ?? '', t);
        }
      }
    } finally {
      cap.close();
      removeDir(dir);
    }
  }, 60000);

  test('two captures on one interface get their own groups and each sees every packet', async () => {
    const caps = [0, 1].map(
      () =>
        new RingCapture({
          interfaces: [{ name: pair.ifB, netns: pair.nsPathB, fanout: { workers: 2 } }],
          filter: 'udp',
          ring: RING,
        }),
    );
    try {
      for (const c of caps) c.start();
      const groups = caps.map((c) => c.stats().interfaces[0]?.fanout?.group);
      expect(groups[0]).not.toBe(groups[1]);
      await sendFlows();
      for (const c of caps) await waitFor(() => c.stats().packets >= TOTAL, 'every packet in each capture');
      for (const c of caps) await c.stop();
      for (const c of caps) expect(c.stats()).toMatchObject({ packets: TOTAL, kernelPackets: TOTAL, kernelDrops: 0 });
    } finally {
      for (const c of caps) c.close();
    }
  }, 60000);

  test('a deleted interface ends every worker and is reported once; removeInterface joins them all', async () => {
    const doomed = addVeth(pair, 'g');
    const removed = addVeth(pair, 'h');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      ring: RING,
      filter: 'udp',
    });
    const events: CaptureEvent[] = [];
    cap.on('event', (e) => events.push(e));
    try {
      cap.start();
      const gone = cap.addInterface({ name: doomed.ifB, netns: pair.nsPathB, fanout: { workers: 3 } });
      const rem = cap.addInterface({ name: removed.ifB, netns: pair.nsPathB, fanout: { workers: 2, mode: 'lb' } });
      expect(cap.stats().interfaces.map((i) => i.workerPackets.length)).toEqual([1, 3, 2]);
      await sendFlows(doomed.ifA);
      await waitFor(() => (cap.stats().interfaces[gone]?.packets ?? 0) >= TOTAL, 'packets on the fanout interface');

      ip('-n', pair.nsA, 'link', 'del', doomed.ifA);
      await waitFor(() => events.some((e) => e.type === 'interface-removed'), 'interface-removed');
      cap.removeInterface(rem);
      await waitFor(() => events.filter((e) => e.type === 'interface-removed').length >= 2, 'second interface-removed');
      expect(events).toEqual([
        { type: 'interface-removed', interfaceName: doomed.ifB, interfaceId: gone, reason: 'gone' },
        { type: 'interface-removed', interfaceName: removed.ifB, interfaceId: rem, reason: 'removed' },
      ]);
      const st = cap.stats();
      expect(st.state).toBe('running');
      expect(st.interfaces[gone]).toMatchObject({ state: 'gone', packets: TOTAL, kernelPackets: TOTAL });
      expect(st.interfaces[rem]?.state).toBe('removed');
    } finally {
      cap.close();
      ip('-n', pair.nsA, 'link', 'del', removed.ifA);
    }
  }, 60000);

  test('close() leaves no worker thread, ring or fd behind', async () => {
    await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1]), count: 1 });
    const threads = countThreads();
    const fds = countFds();
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
      fanout: { workers: 4 },
      ring: RING,
    });
    cap.start();
    await sendFlows();
    await waitFor(() => cap.stats().packets >= TOTAL, 'packets');
    expect(countThreads()).toBe(threads + 5); // four readers and the writer
    cap.close();
    expect(countThreads()).toBe(threads);
    expect(countFds()).toBe(fds);
  }, 60000);

  test('bad fanout options are refused with a code', () => {
    for (const fanout of [{ workers: 0 }, { workers: 65 }, { mode: 'rollover' }]) {
      expect(
        () =>
          new RingCapture({
            interfaces: [{ name: pair.ifB, netns: pair.nsPathB }],
            fanout: fanout as never,
          }),
      ).toThrow(expect.objectContaining({ code: NativeErrorCode.invalidArgument }));
    }
  });
});
