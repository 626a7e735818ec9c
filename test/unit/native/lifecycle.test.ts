// Lifetime and membership: clear errors, interfaces joining and leaving a running capture,
// close() leaving no thread or fd behind, hardware timestamps refused clearly on veth.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';

import { NativeErrorCode, RingCapture, transmit, type CaptureEvent } from '../../../agent/src/native.js';
import { addVeth, createVethPair, destroyAll, ip, type VethPair } from '../../support/netns.js';
import {
  countFds,
  countThreads,
  flowFrames,
  removeDir,
  tcpdumpLines,
  tempDir,
  tsharkFields,
  waitFor,
} from './helpers.js';

let pair: VethPair;
beforeAll(() => {
  pair = createVethPair('lif');
});
afterAll(() => destroyAll());

const RING = { blockSize: 1 << 20, blockCount: 8, retireTimeoutMs: 20 };

describe('errors carry stable codes and clear messages', () => {
  test('a nonexistent interface', () => {
    const cap = new RingCapture({ interfaces: [{ name: 'nosuch0', netns: pair.nsPathB }], ring: RING });
    try {
      expect(() => cap.start()).toThrow(
        expect.objectContaining({
          code: NativeErrorCode.noSuchInterface,
          message: `interface 'nosuch0' in network namespace ${pair.nsPathB} does not exist`,
        }),
      );
      expect(cap.stats().state).toBe('created');
    } finally {
      cap.close();
    }
  });

  test('a network namespace that does not exist', () => {
    const cap = new RingCapture({ interfaces: [{ name: 'eth0', netns: '/run/netns/ringtap-none' }], ring: RING });
    try {
      expect(() => cap.start()).toThrow(
        expect.objectContaining({
          code: NativeErrorCode.netns,
          message: expect.stringMatching(/cannot open network namespace \/run\/netns\/ringtap-none: No such file/),
        }),
      );
    } finally {
      cap.close();
    }
  });

  test('hardware timestamps on veth are refused with their own code', () => {
    const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB, timestamps: 'hardware' }], ring: RING });
    try {
      expect(() => cap.start()).toThrow(
        expect.objectContaining({
          code: NativeErrorCode.hwTimestampUnsupported,
          message: expect.stringMatching(new RegExp(`interface '${pair.ifB}'.*does not support hardware receive timestamps`)),
        }),
      );
    } finally {
      cap.close();
    }
  });

  test('ring geometry that cannot hold the snap length', () => {
    const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB }], ring: { blockSize: 65536 } });
    try {
      expect(() => cap.start()).toThrow(expect.objectContaining({ code: NativeErrorCode.invalidArgument }));
    } finally {
      cap.close();
    }
  });

  test('transmit on a nonexistent interface', async () => {
    await expect(
      transmit({ interface: 'nosuch0', netns: pair.nsPathA, frames: flowFrames(pair, [1]), count: 1 }),
    ).rejects.toMatchObject({ code: NativeErrorCode.noSuchInterface });
  });
});

describe('interfaces join and leave a running capture', () => {
  test('an added interface gets its own IDB; a deleted one yields an event and a clean file', async () => {
    const dir = tempDir('mem');
    const extra = addVeth(pair, 'x');
    const cap = new RingCapture({
      interfaces: [{ name: pair.ifB, netns: pair.nsPathB, description: 'pod=first' }],
      ring: RING,
      filter: 'udp',
      output: { directory: dir, prefix: 'm' },
    });
    const events: CaptureEvent[] = [];
    cap.on('event', (e) => events.push(e));
    try {
      cap.start();
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1001]), count: 20, ratePps: 5000 });
      await waitFor(() => cap.stats().packets >= 20, 'first interface packets');

      const id = cap.addInterface({ name: extra.ifB, netns: pair.nsPathB, description: 'pod=second' });
      expect(id).toBe(1);
      await transmit({ interface: extra.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1002]), count: 30, ratePps: 5000 });
      await waitFor(() => (cap.stats().interfaces[1]?.packets ?? 0) >= 30, 'second interface packets');

      // The pod goes away: its veth disappears under the running ring.
      ip('-n', pair.nsA, 'link', 'del', extra.ifA);
      await waitFor(() => events.some((e) => e.type === 'interface-removed'), 'interface-removed event');
      expect(events).toContainEqual({ type: 'interface-removed', interfaceName: extra.ifB, interfaceId: 1, reason: 'gone' });
      expect(cap.stats().interfaces[1]?.state).toBe('gone');
      expect(cap.stats().state).toBe('running');

      // The capture goes on for the first interface.
      await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1001]), count: 10, ratePps: 5000 });
      await waitFor(() => cap.stats().packets >= 60, 'more packets on the first interface');
      await cap.stop();

      const file = `${dir}/m-000000.pcapng`;
      expect(tcpdumpLines(file)).toHaveLength(60);
      const rows = tsharkFields(file, ['frame.interface_id', 'frame.interface_name', 'frame.interface_description', 'udp.dstport']);
      const byIface = new Map<string, number>();
      for (const [idx, name, desc, port] of rows) {
        const key = `${idx}/${name}/${desc}/${port}`;
        byIface.set(key, (byIface.get(key) ?? 0) + 1);
      }
      expect(byIface).toEqual(
        new Map([
          [`0/${pair.ifB}/pod=first/1001`, 30],
          [`1/${extra.ifB}/pod=second/1002`, 30],
        ]),
      );
    } finally {
      cap.close();
      removeDir(dir);
    }
  }, 60000);

  test('removeInterface drains the ring and reports the removal', async () => {
    const extra = addVeth(pair, 'r');
    const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB }], ring: RING, filter: 'udp' });
    const events: CaptureEvent[] = [];
    cap.on('event', (e) => events.push(e));
    try {
      cap.start();
      const id = cap.addInterface({ name: extra.ifB, netns: pair.nsPathB });
      await transmit({ interface: extra.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [9]), count: 10 });
      await waitFor(() => (cap.stats().interfaces[id]?.packets ?? 0) >= 10, 'packets on the added interface');
      cap.removeInterface(id);
      await waitFor(() => events.some((e) => e.type === 'interface-removed'), 'interface-removed');
      expect(events).toContainEqual({ type: 'interface-removed', interfaceName: extra.ifB, interfaceId: id, reason: 'removed' });
      expect(cap.stats().interfaces[id]).toMatchObject({ state: 'removed', packets: 10 });
    } finally {
      cap.close();
      ip('-n', pair.nsA, 'link', 'del', extra.ifA);
    }
  }, 60000);
});

describe('close()', () => {
  test('leaves no thread and no fd behind, running or stopped', async () => {
    // Warm up what Node creates lazily (libuv pool threads used by transmit, the addon itself).
    await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [1]), count: 1 });
    const dir = tempDir('cls');
    try {
      const threads = countThreads();
      const fds = countFds();
      for (const stopFirst of [false, true]) {
        const cap = new RingCapture({
          interfaces: [
            { name: pair.ifB, netns: pair.nsPathB },
            { name: 'lo', netns: pair.nsPathB },
          ],
          ring: RING,
          output: { directory: dir, prefix: `c${stopFirst ? 1 : 0}`, rotateBytes: 4096 },
        });
        cap.start();
        const s = cap.openStream();
        s.resume();
        await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [5]), count: 100 });
        await waitFor(() => cap.stats().packets >= 100, 'packets');
        expect(countThreads()).toBeGreaterThanOrEqual(threads + 3); // two readers and the writer
        if (stopFirst) await cap.stop();
        cap.close();
        expect(cap.stats).toThrow();
        expect(countThreads()).toBe(threads);
        expect(countFds()).toBe(fds);
      }
    } finally {
      removeDir(dir);
    }
  }, 60000);
});
