import { describe, expect, test } from '@jest/globals';
import { WorkQueue } from '../../../lib/kube/queue.js';
import { mergeConditions } from '../../../lib/kube/conditions.js';

describe('WorkQueue', () => {
  test('de-duplicates keys waiting in the queue', async () => {
    const q = new WorkQueue();
    q.add('a'); q.add('b'); q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  test('never hands a key to two workers: a key added while processed comes back after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    expect(q.length).toBe(0); // held back while 'a' is processed
    let second: string | undefined;
    const p = q.get().then((x) => { second = x; });
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(k!);
    await p;
    expect(second).toBe('a');
  });

  test('backs off per key from 5 ms, doubling, capped, and forget resets it', () => {
    const q = new WorkQueue(5, 1_000_000);
    const delays = Array.from({ length: 5 }, () => q.nextDelay('a'));
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(q.nextDelay('b')).toBe(5);
    for (let i = 0; i < 40; i++) q.nextDelay('a');
    expect(q.nextDelay('a')).toBe(1_000_000);
    q.forget('a');
    expect(q.nextDelay('a')).toBe(5);
  });

  test('addAfter keeps the earliest deadline and shutdown releases waiting workers', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 60_000);
    q.addAfter('a', 1);
    expect(await q.get()).toBe('a');
    const waiting = q.get();
    q.shutdown();
    expect(await waiting).toBeUndefined();
  });
});

describe('mergeConditions', () => {
  test('keeps lastTransitionTime while the status is unchanged and moves it when it changes', () => {
    const prev = [{ type: 'Ready', status: 'False' as const, reason: 'Pending', message: '', lastTransitionTime: 't0' }];
    const same = mergeConditions(prev, [{ type: 'Ready', status: 'False', reason: 'Starting', message: 'x' }], 2, 't1');
    expect(same[0]).toEqual({ type: 'Ready', status: 'False', reason: 'Starting', message: 'x', observedGeneration: 2, lastTransitionTime: 't0' });
    const flipped = mergeConditions(prev, [{ type: 'Ready', status: 'True', reason: 'Running', message: '' }], 2, 't1');
    expect(flipped[0]?.lastTransitionTime).toBe('t1');
  });
});
