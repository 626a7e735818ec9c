// The controller runs reconciles of different keys at once, as many as it has workers, and
// never two of the same key: a key enqueued while it is being reconciled runs again after.
import { describe, expect, test } from '@jest/globals';
import { Controller } from '../../../lib/kube/controller.js';
import { newLogger } from '../../../lib/observe/log.js';

const log = newLogger('test');
log.level = 'silent';
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Controller workers', () => {
  test('different keys run concurrently up to the worker count; one key never runs twice at once', async () => {
    const workers = 8;
    const active = new Set<string>();
    let overlaps = 0, peak = 0;
    const runs = new Map<string, number>();
    const lastStart = new Map<string, number>();
    let clock = 0;
    const ctl = new Controller('test', async (key) => {
      if (active.has(key)) overlaps += 1;
      active.add(key);
      peak = Math.max(peak, active.size);
      lastStart.set(key, ++clock);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await tick(2 + (key.length % 3));
      active.delete(key);
    }, log, workers);
    ctl.start();
    const keys = Array.from({ length: 20 }, (_, i) => `ns/k${i}`);
    const lastEnqueue = new Map<string, number>();
    // Enqueue every key again and again, also while it is being reconciled.
    for (let round = 0; round < 15; round++) {
      for (const k of keys) { ctl.enqueue(k); lastEnqueue.set(k, clock); }
      await tick(1);
    }
    const deadline = Date.now() + 10_000;
    while ((ctl.queue.length > 0 || active.size > 0) && Date.now() < deadline) await tick(5);
    await ctl.stop();
    expect(overlaps).toBe(0);
    expect(peak).toBe(workers);
    // Level-based: every key ran after the last time it was enqueued, so it saw the last change.
    for (const k of keys) expect(lastStart.get(k)!).toBeGreaterThan(lastEnqueue.get(k)!);
    // De-duplicated: far fewer runs than enqueues (15 per key).
    for (const k of keys) expect(runs.get(k)!).toBeLessThan(15);
  });

  test('a failing key is retried with backoff without blocking the other keys', async () => {
    let failures = 0;
    const done: string[] = [];
    const ctl = new Controller('test-retry', async (key) => {
      if (key === 'bad' && failures < 3) { failures += 1; throw new Error('transient'); }
      done.push(key);
    }, log, 4);
    ctl.start();
    ctl.enqueue('bad');
    for (let i = 0; i < 10; i++) ctl.enqueue(`good-${i}`);
    const deadline = Date.now() + 10_000;
    while (done.length < 11 && Date.now() < deadline) await tick(5);
    await ctl.stop();
    expect(failures).toBe(3);
    expect(done.indexOf('bad')).toBe(done.length - 1);
    expect(done.filter((k) => k.startsWith('good-'))).toHaveLength(10);
  });
});
