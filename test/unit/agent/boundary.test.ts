// The task boundary's first line: callbacks a task schedules for itself (timers, events,
// promises it does not await) fail that task, never the process.
import { describe, expect, test } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import type { NodeTaskStatus } from '../../../crds/src/index.js';
import { failureMessage, guarded, type TaskReporter } from '../../../agent/src/drivers/driver.js';

function reporter(withFail: boolean): TaskReporter & { failures: unknown[]; updates: Partial<NodeTaskStatus>[] } {
  const r = {
    failures: [] as unknown[],
    updates: [] as Partial<NodeTaskStatus>[],
    log: pino({ level: 'silent' }),
    update(s: Partial<NodeTaskStatus>) { r.updates.push(s); },
    ...(withFail ? { fail(err: unknown) { r.failures.push(err); } } : {}),
  };
  return r;
}

describe('guarded', () => {
  test('a throwing event listener fails the task; the emitter and the process go on', () => {
    const rep = reporter(true);
    const em = new EventEmitter();
    em.on('event', guarded(rep, () => { throw Object.assign(new Error('stat failed'), { code: 'ENOENT' }); }));
    expect(() => em.emit('event')).not.toThrow();
    expect(rep.failures).toHaveLength(1);
    expect(failureMessage(rep.failures[0])).toBe('TaskError: ENOENT: stat failed');
  });

  test('a rejected promise from a timer callback fails the task instead of an unhandled rejection', async () => {
    const rep = reporter(true);
    let rejections = 0;
    const onRejection = () => { rejections++; };
    process.on('unhandledRejection', onRejection);
    try {
      await new Promise<void>((resolve) => {
        const fail = rep.fail!.bind(rep);
        rep.fail = (err) => { fail(err); setImmediate(resolve); }; // an unhandled rejection would be reported before this
        setTimeout(guarded(rep, async () => { throw new Error('retention raced the writer'); }), 1);
      });
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toBe(0);
    expect((rep.failures[0] as Error).message).toBe('retention raced the writer');
  });

  test('without a runner, the task reports itself Failed with the reason', () => {
    const rep = reporter(false);
    guarded(rep, () => { throw new Error('bad spec'); })();
    expect(rep.updates).toEqual([{ phase: 'Failed', message: 'TaskError: bad spec' }]);
  });

  test('a callback that works is left alone', () => {
    const rep = reporter(true);
    let n = 0;
    guarded(rep, (k: number) => { n += k; })(2);
    expect(n).toBe(2);
    expect(rep.failures).toEqual([]);
  });
});
