// The node's packet ring budget (agent/src/runner/ringbudget.ts), as a pure computation: a capture
// alone gets a large ring, many captures get rings near the floor and all fit, the total never
// passes the budget, a ring whose floor does not fit is refused, released rings come back, rings
// of short snap lengths are smaller for as many packets, and the geometry of every size divides
// it into whole blocks the engine accepts.
import { describe, expect, test } from '@jest/globals';
import {
  checkRingBudget, DEFAULT_RING_BUDGET, frameBytes, KiB, MIN_RING_BYTES, MiB, parseBytes, RING_FLOOR_BYTES, RingBudget, ringBudgetFromEnv,
  ringFloor, ringGeometry, ringScale, ringShare,
} from '../../../agent/src/runner/ringbudget.js';

/** A snap length that keeps whole frames of the usual MTU: the full-size rings. */
const FULL = 1514;

/** Opens rings one after the other until refused (or `max`); returns their sizes. */
function fill(b: RingBudget, max = 100_000, snaplen = FULL): number[] {
  const sizes: number[] = [];
  for (let s = b.share(snaplen); s !== undefined && sizes.length < max; s = b.share(snaplen)) {
    expect(b.reserve(s, ringFloor(snaplen))).toBe(true);
    sizes.push(s);
  }
  return sizes;
}

describe('ring shares', () => {
  test('a capture alone on its node gets half the elastic part (16 MiB of the default 256 MiB budget)', () => {
    expect(ringShare(DEFAULT_RING_BUDGET, 0, 0, FULL)).toBe(16 * MiB);
    expect(ringShare({ budgetBytes: 1024 * MiB, maxRingBytes: 64 * MiB }, 0, 0, FULL)).toBe(64 * MiB);
  });

  test('no ring gets more than the most a ring may have', () => {
    expect(ringShare({ budgetBytes: 8192 * MiB, maxRingBytes: 64 * MiB }, 0, 0, FULL)).toBe(64 * MiB);
    expect(ringShare({ budgetBytes: 8192 * MiB, maxRingBytes: 3 * MiB }, 0, 0, FULL)).toBe(2 * MiB);
  });

  test('shares halve as captures arrive, down to the floor', () => {
    const sizes = fill(new RingBudget(DEFAULT_RING_BUDGET), 12);
    expect(sizes.slice(0, 4)).toEqual([16 * MiB, 8 * MiB, 4 * MiB, 2 * MiB]);
    expect(sizes.every((s, i) => i === 0 || s <= sizes[i - 1]!)).toBe(true);
    expect(sizes.at(-1)).toBe(RING_FLOOR_BYTES);
  });

  test('200 full-size captures fit the default budget, in under 100 MiB of rings', () => {
    const b = new RingBudget(DEFAULT_RING_BUDGET);
    const sizes = fill(b, 200);
    expect(sizes).toHaveLength(200);
    expect(b.stats().usedBytes).toBeLessThan(100 * MiB);
    expect(b.stats().usedBytes).toBeLessThanOrEqual(DEFAULT_RING_BUDGET.budgetBytes / 8 + 200 * RING_FLOOR_BYTES);
  });

  test('200 captures of 128-byte snap lengths hold under 20 MiB: their floors and their scale of the elastic part', () => {
    const b = new RingBudget(DEFAULT_RING_BUDGET);
    const sizes = fill(b, 200, 128);
    expect(sizes).toHaveLength(200);
    expect(sizes[0]).toBe(2 * MiB);
    expect(sizes.at(-1)).toBe(64 * KiB);
    expect(b.stats().usedBytes).toBeLessThan(20 * MiB);
    expect(b.stats().usedBytes).toBeLessThanOrEqual((DEFAULT_RING_BUDGET.budgetBytes / 8) * ringScale(128) + 200 * ringFloor(128));
    // A full-size capture that comes after them still finds most of the elastic part.
    expect(b.share(FULL)).toBe(8 * MiB);
  });

  test('full-size captures leave short ones their floor; the budget counts each ring above its own floor', () => {
    const b = new RingBudget(DEFAULT_RING_BUDGET);
    fill(b, 3);
    expect(b.share(128)).toBe(ringFloor(128));
    const s = b.share(128)!;
    expect(b.reserve(s, ringFloor(128))).toBe(true);
    b.release(s, ringFloor(128));
    // The first ring (16 MiB) goes: 12 MiB of the 32 MiB elastic part stay held (8 + 4), half the rest is 10 MiB.
    b.release(16 * MiB, RING_FLOOR_BYTES);
    expect(b.share(FULL)).toBe(8 * MiB);
  });

  test('the budget is never passed; the ring whose floor does not fit is refused', () => {
    for (const budgetBytes of [RING_FLOOR_BYTES, 1 * MiB, 3 * MiB + 5, 64 * MiB, 256 * MiB]) {
      const b = new RingBudget({ budgetBytes, maxRingBytes: 64 * MiB });
      const sizes = fill(b);
      const total = sizes.reduce((a, s) => a + s, 0);
      expect(total).toBeLessThanOrEqual(budgetBytes);
      expect(budgetBytes - total).toBeLessThan(RING_FLOOR_BYTES);
      expect(b.share(FULL)).toBeUndefined();
      expect(b.reserve(RING_FLOOR_BYTES, RING_FLOOR_BYTES)).toBe(false);
      expect(sizes.every((s) => s >= RING_FLOOR_BYTES)).toBe(true);
    }
  });

  test('a ring whose share does not fit whole gets the floor', () => {
    // 1 MiB budget: the elastic eighth is 128 KiB, so every ring is a floor; 4 fit.
    expect(fill(new RingBudget({ budgetBytes: 1 * MiB, maxRingBytes: 64 * MiB }))).toEqual(Array(4).fill(RING_FLOOR_BYTES));
    // Elastic room left, but only the floor fits in the budget.
    expect(ringShare({ budgetBytes: 64 * MiB, maxRingBytes: 64 * MiB }, 64 * MiB - RING_FLOOR_BYTES, 0, FULL)).toBe(RING_FLOOR_BYTES);
    // The same room takes four floors of a 128-byte snap length.
    expect(fill(new RingBudget({ budgetBytes: 64 * MiB, maxRingBytes: 64 * MiB }), 100_000, 128).length).toBeGreaterThan(900);
  });

  test('reservations are all or none, and released rings come back', () => {
    const b = new RingBudget({ budgetBytes: 1 * MiB, maxRingBytes: 64 * MiB });
    expect(b.reserve(RING_FLOOR_BYTES, RING_FLOOR_BYTES, 5)).toBe(false);
    expect(b.stats()).toEqual({ rings: 0, usedBytes: 0, budgetBytes: 1 * MiB });
    expect(b.reserve(RING_FLOOR_BYTES, RING_FLOOR_BYTES, 4)).toBe(true);
    expect(b.share(FULL)).toBeUndefined();
    b.release(RING_FLOOR_BYTES, RING_FLOOR_BYTES, 1);
    expect(b.share(FULL)).toBe(RING_FLOOR_BYTES);
    const big = new RingBudget(DEFAULT_RING_BUDGET);
    const first = big.share(FULL)!;
    big.reserve(first, RING_FLOOR_BYTES);
    expect(big.share(FULL)).toBeLessThan(first);
    big.release(first, RING_FLOOR_BYTES);
    expect(big.share(FULL)).toBe(first);
  });
});

describe('ring floors', () => {
  test('room for as many packets as a full-size floor, at least two blocks of a whole packet', () => {
    expect(frameBytes(FULL)).toBe(1610);
    expect(frameBytes(262144)).toBe(frameBytes(FULL));
    expect(ringScale(262144)).toBe(1);
    expect(ringFloor(FULL)).toBe(RING_FLOOR_BYTES);
    expect(ringFloor(128)).toBe(64 * KiB);
    expect(ringFloor(64)).toBe(32 * KiB);
    expect(ringFloor(1)).toBe(MIN_RING_BYTES);
    // The whole snap length and 256 bytes of headers fit one block; at least two blocks.
    expect(ringFloor(65535)).toBe(256 * KiB);
    expect(ringFloor(262144)).toBe(1 * MiB);
    for (const s of [1, 64, 128, 200, 512, 1000, FULL, 9000, 65535, 131072, 262144]) {
      expect((RING_FLOOR_BYTES * ringScale(s)) / frameBytes(s)).toBeCloseTo(RING_FLOOR_BYTES / frameBytes(FULL), 6);
      expect(ringFloor(s) / frameBytes(s)).toBeGreaterThanOrEqual(RING_FLOOR_BYTES / frameBytes(FULL));
    }
  });
});

describe('ring geometry', () => {
  test('whole blocks that hold the snap length, at least four where they can; 1 MiB blocks for large rings', () => {
    expect(ringGeometry(RING_FLOOR_BYTES, FULL)).toEqual({ blockSize: 64 * KiB, blockCount: 4 });
    expect(ringGeometry(4 * MiB, FULL)).toEqual({ blockSize: 128 * KiB, blockCount: 32 });
    expect(ringGeometry(16 * MiB, FULL)).toEqual({ blockSize: 1 * MiB, blockCount: 16 });
    expect(ringGeometry(64 * MiB, FULL)).toEqual({ blockSize: 1 * MiB, blockCount: 64 });
    expect(ringGeometry(64 * KiB, 128)).toEqual({ blockSize: 16 * KiB, blockCount: 4 });
    expect(ringGeometry(MIN_RING_BYTES, 1)).toEqual({ blockSize: 4 * KiB, blockCount: 4 });
    // The whole snap length and 256 bytes of headers fit one block; at least two blocks.
    expect(ringGeometry(1 * MiB, 262144)).toEqual({ blockSize: 512 * KiB, blockCount: 2 });
    expect(ringGeometry(4 * MiB, 262144)).toEqual({ blockSize: 512 * KiB, blockCount: 8 });
    expect(ringGeometry(16 * MiB, 262144)).toEqual({ blockSize: 1 * MiB, blockCount: 16 });
    expect(ringGeometry(RING_FLOOR_BYTES, 65535)).toEqual({ blockSize: 128 * KiB, blockCount: 2 });
    expect(ringGeometry(512 * KiB, 131072)).toEqual({ blockSize: 256 * KiB, blockCount: 2 });
    // Every share the budget can give a snap length divides into whole blocks that hold it.
    for (const snaplen of [1, 128, FULL, 65535, 262144]) {
      for (let s = ringFloor(snaplen); s <= 64 * MiB; s *= 2) {
        const g = ringGeometry(s, snaplen);
        expect(g.blockSize * g.blockCount).toBe(s);
        expect(g.blockSize).toBeGreaterThanOrEqual(snaplen + 256);
        expect(g.blockSize % 4096).toBe(0);
        expect(g.blockCount).toBeGreaterThanOrEqual(2);
      }
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
