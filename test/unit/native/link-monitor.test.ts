// rtnetlink link monitor in a real namespace: the initial table, the exact event sequence for a
// veth's life (add, up, mtu, down, rename, delete), clear errors, and close() leaving nothing.
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { LinkMonitor, NativeErrorCode, type LinkEvent } from '../../../agent/src/native.js';
import { createNamespace, destroyAll, ip } from '../../support/netns.js';
import { countFds, countThreads, waitFor } from './helpers.js';

afterAll(() => destroyAll());

/** Collects a monitor's events; `until` waits (with a deadline) for one matching event. */
function recorder(m: LinkMonitor): { events: LinkEvent[]; until(pred: (e: LinkEvent) => boolean, what: string): Promise<void> } {
  const events: LinkEvent[] = [];
  m.on('link', (e) => events.push(e));
  return { events, until: (pred, what) => waitFor(() => events.some(pred), what, 10000) };
}

describe('LinkMonitor', () => {
  test('the initial table, then add, up, mtu, down, rename and delete in order', async () => {
    const ns = createNamespace('lmo');
    const peerNs = createNamespace('lmp');
    const m = new LinkMonitor({ netns: ns.path });
    try {
      // The dump is complete when the constructor returns: a fresh namespace has only lo.
      expect(m.links()).toEqual([{ ifindex: 1, name: 'lo', mtu: 65536, up: true, running: true }]);
      const rec = recorder(m);

      // The peer lives in another namespace and is up first, so ours gets carrier when it comes up.
      ip('-n', ns.name, 'link', 'add', 'lm0', 'type', 'veth', 'peer', 'name', 'lm0p', 'netns', peerNs.name);
      ip('-n', peerNs.name, 'link', 'set', 'lm0p', 'up');
      await rec.until((e) => e.type === 'add', 'add');
      const ifindex = rec.events[0]?.ifindex ?? -1;
      const base = { ifindex, name: 'lm0', mtu: 1500 };
      expect(m.links()).toContainEqual({ ...base, up: false, running: false });

      ip('-n', ns.name, 'link', 'set', 'lm0', 'up');
      await rec.until((e) => e.type === 'up', 'up');
      ip('-n', ns.name, 'link', 'set', 'lm0', 'mtu', '1400');
      await rec.until((e) => e.type === 'mtu', 'mtu');
      ip('-n', ns.name, 'link', 'set', 'lm0', 'down');
      await rec.until((e) => e.type === 'down', 'down');
      ip('-n', ns.name, 'link', 'set', 'lm0', 'name', 'lm1');
      await rec.until((e) => e.type === 'rename', 'rename');
      ip('-n', ns.name, 'link', 'del', 'lm1');
      await rec.until((e) => e.type === 'delete', 'delete');

      expect(rec.events).toEqual([
        { type: 'add', ...base, up: false, running: false },
        { type: 'up', ...base, up: true, running: true },
        { type: 'mtu', ...base, mtu: 1400, previousMtu: 1500, up: true, running: true },
        { type: 'down', ...base, mtu: 1400, up: false, running: false },
        { type: 'rename', ...base, name: 'lm1', previousName: 'lm0', mtu: 1400, up: false, running: false },
        { type: 'delete', ...base, name: 'lm1', mtu: 1400, up: false, running: false },
      ]);
      expect(m.links().map((l) => l.name)).toEqual(['lo']);
      expect(m.stats()).toEqual({ overruns: 0, resyncs: 0, eventsDropped: 0 });
    } finally {
      m.close();
      ns.destroy();
      peerNs.destroy();
    }
  }, 30000);

  test('a link moved out of the namespace is a delete; moved in, an add', async () => {
    const ns = createNamespace('lmm');
    const other = createNamespace('lmn');
    const m = new LinkMonitor({ netns: ns.path });
    try {
      const rec = recorder(m);
      ip('-n', other.name, 'link', 'add', 'mv0', 'type', 'veth', 'peer', 'name', 'mv0p');
      ip('-n', other.name, 'link', 'set', 'mv0', 'netns', ns.name);
      await rec.until((e) => e.type === 'add' && e.name === 'mv0', 'add of the moved link');
      ip('-n', ns.name, 'link', 'set', 'mv0', 'netns', other.name);
      await rec.until((e) => e.type === 'delete', 'delete of the moved link');
      expect(rec.events.map((e) => `${e.type}:${e.name}`)).toEqual(['add:mv0', 'delete:mv0']);
    } finally {
      m.close();
      ns.destroy();
      other.destroy();
    }
  }, 30000);

  test('a namespace that does not exist gives ERR_RINGTAP_NETNS', () => {
    expect(() => new LinkMonitor({ netns: '/run/netns/ringtap-none' })).toThrow(
      expect.objectContaining({
        code: NativeErrorCode.netns,
        message: expect.stringMatching(/cannot open network namespace \/run\/netns\/ringtap-none: No such file/),
      }),
    );
  });

  test('close() leaves no thread and no fd behind; no event after close', async () => {
    const ns = createNamespace('lmc');
    try {
      // Warm up the addon and anything Node creates lazily.
      new LinkMonitor({ netns: ns.path }).close();
      const threads = countThreads();
      const fds = countFds();
      for (let i = 0; i < 3; i++) {
        const m = new LinkMonitor({ netns: ns.path });
        const rec = recorder(m);
        expect(countThreads()).toBe(threads + 1);
        expect(countFds()).toBe(fds + 2); // the netlink socket and the eventfd
        ip('-n', ns.name, 'link', 'add', `cl${i}`, 'type', 'veth', 'peer', 'name', `cl${i}p`);
        await waitFor(() => rec.events.length === 2, 'two adds', 10000);
        m.close();
        m.close(); // idempotent
        expect(() => m.links()).toThrow(expect.objectContaining({ code: NativeErrorCode.state }));
        expect(countThreads()).toBe(threads);
        expect(countFds()).toBe(fds);
        ip('-n', ns.name, 'link', 'del', `cl${i}`);
        await new Promise((r) => setImmediate(r));
        expect(rec.events.map((e) => e.type)).toEqual(['add', 'add']);
      }
    } finally {
      ns.destroy();
    }
  }, 30000);

  test('an open monitor never keeps the process alive (unref’d, cleanup hook)', () => {
    const addon = fileURLToPath(new URL('../../../agent/native/index.cjs', import.meta.url));
    const r = spawnSync(
      process.execPath,
      ['-e', `const n = require(${JSON.stringify(addon)}); const m = new n.LinkMonitor({}, () => {}); console.log(m.links().length > 0);`],
      { encoding: 'utf8', timeout: 15000 },
    );
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('true');
  });
});
