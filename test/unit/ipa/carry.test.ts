// Carrying published IPA counts over a restart (agent/src/drivers/ipa/carry.ts): totals add exactly,
// rows add where both sides list them, bounded tables stay bounded with the rest in otherPairs.
import { describe, expect, test } from '@jest/globals';
import type { IPATaskStatus } from '../../../crds/src/ipamonitor.js';
import { carryCounters, carryIPAStatus } from '../../../agent/src/drivers/ipa/carry.js';

const status = (over: Partial<IPATaskStatus> = {}): IPATaskStatus => ({
  format: 'status', source: '/dev/x', records: 10, packets: 8, bytes: 1000, truncated: 1, exceptions: 2,
  pairs: [{ src: 3, dst: 12, records: 6, bytes: 600, truncated: 1 }, { src: 12, dst: 3, records: 4, bytes: 400, truncated: 0 }],
  otherPairs: { pairs: 0, records: 0, bytes: 0 },
  byOpcode: [{ name: 'PACKET', records: 10, bytes: 1000 }],
  byException: [{ name: 'NONE', records: 8, bytes: 800 }, { name: 'NAT', records: 2, bytes: 200 }],
  topFlows: [{ src: 3, dst: 12, proto: 17, srcAddr: '10.0.0.3', dstAddr: '10.1.0.12', srcPort: 1, dstPort: 2, records: 6, bytes: 600 }],
  flowsApproximate: false, decodeErrors: { garbage: 1, truncatedTail: 1 }, resyncs: 1, skippedBytes: 37, reopens: 2, ...over,
});

describe('carryIPAStatus', () => {
  test('no base: the current status as it is', () => {
    expect(carryIPAStatus(undefined, status())).toEqual(status());
  });

  test('totals and rows add up; new rows join', () => {
    const cur = status({ byException: [{ name: 'IPV6_CONN_TRACK', records: 1, bytes: 50 }, { name: 'NONE', records: 9, bytes: 950 }] });
    const s = carryIPAStatus(status(), cur);
    expect([s.records, s.packets, s.bytes, s.truncated, s.exceptions, s.resyncs, s.skippedBytes, s.reopens]).toEqual([20, 16, 2000, 2, 4, 2, 74, 4]);
    expect(s.pairs).toEqual([{ src: 3, dst: 12, records: 12, bytes: 1200, truncated: 2 }, { src: 12, dst: 3, records: 8, bytes: 800, truncated: 0 }]);
    expect(s.byException).toEqual([{ name: 'NONE', records: 17, bytes: 1750 }, { name: 'NAT', records: 2, bytes: 200 }, { name: 'IPV6_CONN_TRACK', records: 1, bytes: 50 }]);
    expect(s.decodeErrors).toEqual({ garbage: 2, truncatedTail: 2 });
    expect(s.topFlows![0]).toMatchObject({ records: 12, bytes: 1200 });
    expect(s.source).toBe('/dev/x');
  });

  test('pairs beyond the bound go to otherPairs; the sums stay exact', () => {
    const many = (off: number) => Array.from({ length: 64 }, (_, i) => ({ src: i + off, dst: 1, records: 1, bytes: 10 + i }));
    const s = carryIPAStatus(status({ pairs: many(0) }), status({ pairs: many(32) }));
    expect(s.pairs).toHaveLength(64);
    const listed = s.pairs!.reduce((a, p) => a + p.records, 0);
    expect(listed + s.otherPairs!.records).toBe(128);
  });
});

test('carryCounters: packets and bytes only where either side has them', () => {
  expect(carryCounters({ records: 5, exceptions: 1, drops: 2, packets: 3, bytes: 30 }, { records: 1, exceptions: 0, drops: 0 }))
    .toEqual({ records: 6, exceptions: 1, drops: 2, packets: 3, bytes: 30 });
  expect(carryCounters(undefined, { records: 1, exceptions: 0, drops: 0 })).toEqual({ records: 1, exceptions: 0, drops: 0 });
  expect(carryCounters({}, { records: 1, exceptions: 0, drops: 0 })).toEqual({ records: 1, exceptions: 0, drops: 0 });
});
