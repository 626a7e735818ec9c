// The node's packet ring budget (agent/src/runner/ringbudget.ts), as a pure computation: a capture
// alone gets a large ring, many captures get rings near the floor and all fit, the total never
// passes the budget, a ring whose floor does not fit is refused, released rings come back, and
// the geometry of every size divides it into whole blocks the engine accepts.
import { describe, expect, test } from '@jest/globals';
import {
  checkRingBudget, DEFAULT_RING_BUDGET, KiB, MiB, parseBytes, RING_FLOOR_BYTES, RingBudget, ringBudgetFromEnv, ringGeometry, ringShare,
} from '../../../agent/src/runner/ringbudget.js';

/** Opens rings one after the other until refused; returns their sizes. */
function fill(b: RingBudget, max = 100_000): number[] {
  const sizes: number[] = [];
  for (let s = b.share(); s !== undefined && sizes.length < max; s = b.share()) {
    expect(b.reserve(s)).toBe(true);
    sizes.push(s);
  }
  return sizes;
}

describe('ring shares', () => {
  test('a capture alone on its node gets half the elastic part (16 MiB of the default 256 MiB budget)', () => {
    expect(ringShare(DEFAULT_RING_BUDGET, 0, 0)).toBe(16 * MiB);
    expect(ringShare({ budgetBytes: 1024 * MiB, maxRingBytes: 64 * MiB }, 0, 0)).toBe(64 * MiB);
  });

  test('no ring gets more than the most a ring may have', () => {
    expect(ringShare({ budgetBytes: 8192 * MiB, maxRingBytes: 64 * MiB }, 0, 0)).toBe(64 * MiB);
    expect(ringShare({ budgetBytes: 8192 * MiB, maxRingBytes: 3 * MiB }, 0, 0)).toBe(2 * MiB);
  });

  test('shares halve as captures arrive, down to the floor', () => {
    const sizes = fill(new RingBudget(DEFAULT_RING_BUDGET), 12);
    expect(sizes.slice(0, 4)).toEqual([16 * MiB, 8 * MiB, 4 * MiB, 2 * MiB]);
    expect(sizes.every((s, i) => i === 0 || s <= sizes[i - 1]!)).toBe(true);
    expect(sizes.at(-1)).toBe(RING_FLOOR_BYTES);
  });

  test('200 small captures fit the default budget, in under 100 MiB of rings', () => {
    const b = new RingBudget(DEFAULT_RING_BUDGET);
    const sizes = fill(b, 200);
    expect(sizes).toHaveLength(200);
    expect(b.stats().usedBytes).toBeLessThan(100 * MiB);
    expect(b.stats().usedBytes).toBeLessThanOrEqual(DEFAULT_RING_BUDGET.budgetBytes / 8 + 200 * RING_FLOOR_BYTES);
  });

  test('the budget is never passed; the ring whose floor does not fit is refused', () => {
    for (const budgetBytes of [RING_FLOOR_BYTES, 1 * MiB, 3 * MiB + 5, 64 * MiB, 256 * MiB]) {
      const b = new RingBudget({ budgetBytes, maxRingBytes: 64 * MiB });
      const sizes = fill(b);
      const total = sizes.reduce((a, s) => a + s, 0);
      expect(total).toBeLessThanOrEqual(budgetBytes);
      expect(budgetBytes - total).toBeLessThan(RING_FLOOR_BYTES);
      expect(b.share()).toBeUndefined();
      expect(b.reserve(RING_FLOOR_BYTES)).toBe(false);
      expect(sizes.every((s) => s >= RING_FLOOR_BYTES)).toBe(true);
    }
  });

  test('a ring whose share does not fit whole gets the floor', () => {
    // 1 MiB budget: the elastic eighth is 128 KiB, so every ring is a floor; 4 fit.
    expect(fill(new RingBudget({ budgetBytes: 1 * MiB, maxRingBytes: 64 * MiB }))).toEqual(Array(4).fill(RING_FLOOR_BYTES));
    // Elastic room left, but only the floor fits in the budget.
    expect(ringShare({ budgetBytes: 64 * MiB, maxRingBytes: 64 * MiB }, 64 * MiB - RING_FLOOR_BYTES, 0)).toBe(RING_FLOOR_BYTES);
  });

  test('reservations are all or none, and released rings come back', () => {
    const b = new RingBudget({ budgetBytes: 1 * MiB, maxRingBytes: 64 * MiB });
    expect(b.reserve(RING_FLOOR_BYTES, 5)).toBe(false);
    expect(b.stats()).toEqual({ rings: 0, usedBytes: 0, budgetBytes: 1 * MiB });
    expect(b.reserve(RING_FLOOR_BYTES, 4)).toBe(true);
    expect(b.share()).toBeUndefined();
    b.release(RING_FLOOR_BYTES, 1);
    expect(b.share()).toBe(RING_FLOOR_BYTES);
    const big = new RingBudget(DEFAULT_RING_BUDGET);
    const first = big.share()!;
    big.reserve(first);
    expect(big.share()).toBeLessThan(first);
    big.release(first);
    expect(big.share()).toBe(first);
  });
});

describe('ring geometry', () => {
  test('whole blocks that hold a 64 KiB packet; 1 MiB blocks for large rings', () => {
    expect(ringGeometry(RING_FLOOR_BYTES)).toEqual({ blockSize: 128 * KiB, blockCount: 2 });
    expect(ringGeometry(4 * MiB)).toEqual({ blockSize: 128 * KiB, blockCount: 32 });
    expect(ringGeometry(16 * MiB)).toEqual({ blockSize: 1 * MiB, blockCount: 16 });
    expect(ringGeometry(64 * MiB)).toEqual({ blockSize: 1 * MiB, blockCount: 64 });
    // The whole snap length and 256 bytes of headers fit one block; at least two blocks.
    expect(ringGeometry(RING_FLOOR_BYTES, 262144)).toEqual({ blockSize: 512 * KiB, blockCount: 2 });
    expect(ringGeometry(4 * MiB, 262144)).toEqual({ blockSize: 512 * KiB, blockCount: 8 });
    expect(ringGeometry(16 * MiB, 262144)).toEqual({ blockSize: 1 * MiB, blockCount: 16 });
    expect(ringGeometry(RING_FLOOR_BYTES, 65535)).toEqual({ blockSize: 128 * KiB, blockCount: 2 });
    expect(ringGeometry(RING_FLOOR_BYTES, 131072)).toEqual({ blockSize: 256 * KiB, blockCount: 2 });
    for (let s = RING_FLOOR_BYTES; s <= 64 * MiB; s *= 2) {
      const g = ringGeometry(s);
      expect(g.blockSize * g.blockCount).toBe(s);
    }
  });
});

describe('settings', () => {
  test('quantities', () => {
    expect(parseBytes('X', '256Mi')).toBe(256 * MiB);
    expect(parseBytes('X', '1Gi')).toBe(1024 * MiB);
    expect(parseBytes('X', '512Ki')).toBe(512 * KiB);
    expect(parseBytes('X', '64M')).toBe(64e6);
    expect(parseBytes('X', '262144')).toBe(262144);
    expect(() => parseBytes('RINGTAP_RING_BUDGET', '1.5Gi')).toThrow(/RINGTAP_RING_BUDGET must be a byte count/);
    expect(() => parseBytes('RINGTAP_RING_BUDGET', '-1')).toThrow(/RINGTAP_RING_BUDGET/);
  });

  test('from the environment, with defaults and errors that name the variable', () => {
    expect(ringBudgetFromEnv({})).toEqual(DEFAULT_RING_BUDGET);
    expect(ringBudgetFromEnv({ RINGTAP_RING_BUDGET: '1Gi', RINGTAP_RING_MAX: '8Mi' })).toEqual({ budgetBytes: 1024 * MiB, maxRingBytes: 8 * MiB });
    expect(() => ringBudgetFromEnv({ RINGTAP_RING_BUDGET: '100Ki' })).toThrow(/RINGTAP_RING_BUDGET must be at least 256Ki/);
    expect(() => ringBudgetFromEnv({ RINGTAP_RING_MAX: '2Gi' })).toThrow(/RINGTAP_RING_MAX must be between/);
    expect(() => checkRingBudget({ budgetBytes: Number.NaN, maxRingBytes: MiB })).toThrow(/RINGTAP_RING_BUDGET/);
  });
});
