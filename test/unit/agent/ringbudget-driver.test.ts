// The ring budget in the afpacket driver, on real rings: with a budget of one ring, a capture
// whose filter does not compile does not keep it; a second capture fails to start with reason
// RingBudgetExhausted (what the task runner writes into the NodeTask's status.reason) while the
// first keeps counting its packets; once the first is stopped its ring is back in the budget
// and the second starts, with a ring of 16 KiB blocks for its 128-byte snap length. A capture's
// ring size is in its status message. Traffic: UDP on 127.0.0.1 to a port of this test, on the host's lo
// (each capture's filter keeps only that port; lo shows every datagram twice, going out and
// coming in). A capture that completes on its own limit gives its ring back without being stopped.
import { afterAll, describe, expect, test } from '@jest/globals';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeTaskSpec, NodeTaskStatus } from '../../../crds/src/index.js';
import { AfPacketDriver } from '../../../agent/src/drivers/afpacket/driver.js';
import type { DriverTask, TaskReporter } from '../../../agent/src/drivers/driver.js';
import { RING_FLOOR_BYTES, RingBudget } from '../../../agent/src/runner/ringbudget.js';
import { errorReason } from '../../../lib/errors.js';
import { newLogger } from '../../../lib/observe/log.js';
import { waitFor } from '../../support/kube.js';

const dataDir = mkdtempSync(join(tmpdir(), 'rt-ringbudget-'));
const tasks: DriverTask[] = [];
afterAll(async () => {
  for (const t of tasks) await t.stop({ cleanup: true }).catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

class Reporter implements TaskReporter {
  status: NodeTaskStatus = {};
  log = newLogger('test').child({}, { level: 'silent' });
  update(s: Partial<NodeTaskStatus>): void {
    this.status = { ...this.status, ...s };
  }
}

const port = 20000 + (process.pid % 20000);

function spec(name: string, snapLength = 1514): NodeTaskSpec {
  return {
    node: 'n1',
    parent: { kind: 'PacketCapture', name, namespace: 'test', uid: `uid-${name}`, generation: 1 },
    packetCapture: {
      interfaces: ['lo'], capturePoint: 'pod', filter: `udp and dst port ${port}`, snapLength,
      output: { format: 'pcapng' }, timestamps: 'software',
    },
  };
}

const ctx = (name: string, reporter: Reporter) => ({ namespace: 'test', name, uid: `uid-${name}`, node: 'n1', dataDir, reporter });

async function send(n: number): Promise<void> {
  const s = createSocket('udp4');
  for (let i = 0; i < n; i++) await new Promise<void>((res, rej) => s.send(Buffer.from(`ringbudget ${i}`), port, '127.0.0.1', (e) => (e ? rej(e) : res())));
  s.close();
}

describe('the ring budget in the afpacket driver', () => {
  test('a capture over budget fails with RingBudgetExhausted while its neighbour keeps counting', async () => {
    const driver = new AfPacketDriver(new RingBudget({ budgetBytes: RING_FLOOR_BYTES, maxRingBytes: 64 << 20 }));
    // A capture that fails to start (its filter does not compile) gives its ring back at once.
    const bad = spec('bad');
    bad.packetCapture!.filter = 'udp and (';
    const badErr = await driver.start(bad, ctx('bad', new Reporter())).then(() => undefined, (e: unknown) => e);
    expect((badErr as { code?: string } | undefined)?.code).toBe('ERR_RINGTAP_BAD_FILTER');

    const first = new Reporter();
    const a = await driver.start(spec('first'), ctx('first', first));
    tasks.push(a);
    expect(first.status.phase).toBe('Running');
    expect(first.status.message).toMatch(/^ring 256Ki per interface \(4 x 64Ki blocks\)/);
    await waitFor('the first capture attached lo', () => first.status.targets?.[0]?.state === 'Attached' || undefined, 15_000, 20);

    const second = new Reporter();
    const err = await driver.start(spec('second', 128), ctx('second', second)).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(errorReason(err)).toBe('RingBudgetExhausted');
    expect((err as Error).message).toMatch(/packet ring budget is exhausted: 1 rings hold 256Ki of 256Ki/);

    // The neighbour goes on: every datagram sent now is counted.
    await send(50);
    await waitFor('the first capture counted 50 datagrams', () => ((first.status.counters?.packets ?? 0) >= 100 ? true : undefined), 15_000, 20);
    expect(first.status.counters?.packets).toBe(100);
    expect(first.status.phase).toBe('Running');

    // Stopped, the first gives its ring back: the second fits now.
    await a.stop({ cleanup: true });
    tasks.splice(tasks.indexOf(a), 1);
    const b = await driver.start(spec('second', 128), ctx('second', second));
    tasks.push(b);
    expect(second.status.phase).toBe('Running');
    expect(second.status.message).toMatch(/^ring 64Ki per interface \(4 x 16Ki blocks\)/);
    await waitFor('the second capture attached lo', () => second.status.targets?.[0]?.state === 'Attached' || undefined, 15_000, 20);
    await send(10);
    await waitFor('the second capture counted 10 datagrams', () => ((second.status.counters?.packets ?? 0) >= 20 ? true : undefined), 15_000, 20);
  });

  test('a capture that completes by itself gives its ring back and keeps its counts', async () => {
    const budget = new RingBudget({ budgetBytes: RING_FLOOR_BYTES, maxRingBytes: 64 << 20 });
    const driver = new AfPacketDriver(budget);
    const done = new Reporter();
    const s = spec('done');
    s.packetCapture!.limits = { maxPackets: 6 };
    const a = await driver.start(s, ctx('done', done));
    tasks.push(a);
    await waitFor('the capture attached lo', () => done.status.targets?.[0]?.state === 'Attached' || undefined, 15_000, 20);
    expect(budget.stats().rings).toBe(1);
    await send(20);
    await waitFor('the capture completed on its packet limit', () => (done.status.phase === 'Completed' ? true : undefined), 15_000, 20);
    expect(done.status.stopReason).toBe('PacketLimitReached');
    // Not stopped, not deleted: Completed alone gives the ring back.
    await waitFor('the completed capture released its ring', () => (budget.stats().rings === 0 ? true : undefined), 15_000, 20);
    const counted = done.status.counters?.packets;
    expect(counted).toBeGreaterThanOrEqual(6);
    // A neighbour gets the whole budget again, while the completed task still exists.
    const next = new Reporter();
    const b = await driver.start(spec('next'), ctx('next', next));
    tasks.push(b);
    expect(next.status.phase).toBe('Running');
    // Stopping the completed task later neither fails nor loses its counts.
    await a.stop({ cleanup: false });
    expect(done.status.counters?.packets).toBe(counted);
  }, 60_000); // its waits have deadlines of their own (15 s each), longer than jest's default 5 s
});
