// Simulator round trip: for every format and a spread of IPA versions, the stream the simulator
// writes for a known mix (pairs, opcodes, exceptions, truncated packets, garbage, unknown
// opcodes, an impossible length, a cut tail) decodes to exactly the counts the simulator
// computed from the mix, whatever the read sizes.
import { describe, expect, test } from '@jest/globals';
import type { IPAFormat } from '../../../agent/src/drivers/ipa/decode.js';
import { IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStats, nodeTaskCounters, prometheusSamples, type IPASummary } from '../../../agent/src/drivers/ipa/stats.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';
import { defaultMix, simulate, simulateRepeated, type SimExpected, type SimMix } from '../../../hack/ipa-sim/sim.js';

function decodeAll(stream: Buffer, format: IPAFormat, version: string, chunks: (i: number) => number, walkerOpts = {}): { summary: IPASummary; pcapPackets: number } {
  const w = new IPAStreamWalker({ format, version, ...walkerOpts });
  const stats = new IPAStats({ format });
  const pcap = new IPAPcapngWriter({ format, version });
  let pcapPackets = 0;
  const take = (es: ReturnType<IPAStreamWalker['push']>): void => {
    for (const e of es) {
      stats.add(e);
      if (pcap.packet(e, 0n)) pcapPackets++;
    }
  };
  for (let off = 0, i = 0; off < stream.length; i++) {
    const n = Math.max(1, chunks(i));
    take(w.push(stream.subarray(off, off + n)));
    off += n;
  }
  take(w.end());
  return { summary: stats.summary(w.counters), pcapPackets };
}

function asExpected(s: IPASummary, pcapPackets: number): SimExpected {
  return {
    records: s.records, packets: s.packets, bytes: s.bytes, capturedBytes: s.capturedBytes, truncated: s.truncated, exceptions: s.exceptions,
    byPair: Object.fromEntries(s.byPair.map((p) => [`${p.src}>${p.dst}`, { records: p.records, bytes: p.bytes, truncated: p.truncated }])),
    byOpcode: s.byOpcode,
    byException: s.byException,
    errors: s.errors,
    skippedBytes: s.skippedBytes,
    pcapPackets,
  };
}

const CASES: [IPAFormat, string, { padAlign?: number; checksumTrailer?: boolean }][] = [
  ['status', '3.5.1', {}],
  ['status', '4.2', { padAlign: 4 }],
  ['status', '4.9', {}],
  ['status', '4.9', { padAlign: 1 }], // a stream that does not pad (payloadAlignment: 1)
  ['status', '5.0', { padAlign: 1 }],
  ['status', '4.11', { checksumTrailer: true }],
  ['status', '5.0', {}],
  ['status', '5.5', { padAlign: 8, checksumTrailer: true }],
  ['dplv2', '4.2', {}],
  ['dplv2', '3.1', {}],
  ['dplv3', '4.9', {}],
  ['dplv3', '5.0', {}],
];

describe('simulator round trip', () => {
  test.each(CASES)('%s IPA v%s %j: decoded counts equal the mix', (format, version, layout) => {
    const { stream, expected } = simulate(defaultMix(format), { format, version, ...layout });
    expect(expected.errors).toEqual({ unknownOpcode: 2, impossibleLength: 1, garbage: 2, truncatedTail: 1, overflow: 0 });
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 200;
    for (const chunks of [() => stream.length, () => 1, rnd, () => 4096]) {
      const { summary, pcapPackets } = decodeAll(stream, format, version, chunks, layout);
      expect(asExpected(summary, pcapPackets)).toEqual(expected);
    }
  });

  test.each(['status', 'dplv2', 'dplv3'] as const)('%s: the mix repeated 5 times adds up exactly', (format) => {
    const version = format === 'dplv2' ? '4.2' : '4.9';
    const { stream, expected } = simulateRepeated(defaultMix(format), { format, version }, 5);
    expect(expected.errors).toEqual({ unknownOpcode: 10, impossibleLength: 5, garbage: 10, truncatedTail: 1, overflow: 0 });
    const { summary, pcapPackets } = decodeAll(stream, format, version, () => 1000);
    expect(asExpected(summary, pcapPackets)).toEqual(expected);
  });

  test('v5 endpoints above 31 and a custom mix', () => {
    const mix: SimMix = {
      flows: [
        { src: 200, dst: 225, packets: 7, size: 90 },
        { src: 33, dst: 1, exception: 0x81, packets: 3, size: 1500, truncateTo: 64, ipVersion: 6, proto: 'tcp' },
      ],
      malformed: [{ at: 4, kind: 'garbage', length: 100 }],
    };
    const { stream, expected } = simulate(mix, { format: 'status', version: '5.1' });
    const { summary, pcapPackets } = decodeAll(stream, 'status', '5.1', () => 17);
    expect(asExpected(summary, pcapPackets)).toEqual(expected);
    expect(summary.byPair.map((p) => `${p.src}>${p.dst}`)).toEqual(['33>1', '200>225']);
    expect(summary.byException).toEqual({ NONE: { records: 7, bytes: 630 }, INVALID_ENDPOINT: { records: 3, bytes: 4500 } });
  });
});

describe('acceptance: padded streams, every packet length 1..1500', () => {
  // IPA 4.9 and 5.0 status streams padded to 4 (the hardware default), every replica length
  // from 1 to 1500 over IPv4 and IPv6 and all four packet opcodes, with exceptions (0x40 on
  // both IP versions), status-only elements between them and truncated replicas: the decoded
  // records, packets, bytes, pair matrix, opcodes, exceptions and truncated counts equal what
  // the simulator wrote.
  const lengths = Array.from({ length: 1500 }, (_, i) => i + 1);
  const mix: SimMix = {
    flows: [
      { src: 3, dst: 12, proto: 'udp', packets: 1500, sizes: lengths },
      { src: 12, dst: 3, ipVersion: 6, proto: 'tcp', packets: 1500, sizes: [...lengths].reverse() },
      { src: 9, dst: 3, opcode: 0x04, exception: 0x40, proto: 'udp', packets: 37, sizes: [41, 42, 43, 44, 999] },
      { src: 7, dst: 5, opcode: 0x08, exception: 0x40, ipVersion: 6, proto: 'udp', packets: 29, sizes: [61, 1499] },
      { src: 5, dst: 7, opcode: 0x40, exception: 0xe5, proto: 'tcp', packets: 13, size: 1400, truncateTo: 129 },
      { src: 1, dst: 3, opcode: 0x10, claimedLength: 77, packets: 11 },
      { src: 2, dst: 3, opcode: 0x02, packets: 5 },
      { src: 6, dst: 3, opcode: 0x01, empty: true, packets: 4 },
    ],
  };
  test.each(['4.9', '5.0'])('IPA %s', (version) => {
    const { stream, expected } = simulate(mix, { format: 'status', version });
    expect(expected.records).toBe(1500 * 2 + 37 + 29 + 13 + 11 + 5 + 4);
    expect(expected.byException).toMatchObject({ NAT: { records: 37 }, IPV6_CONN_TRACK: { records: 29 }, CHECKSUM: { records: 13 } });
    for (const chunk of [65536, 1, 333]) {
      const { summary, pcapPackets } = decodeAll(stream, 'status', version, () => chunk);
      expect(asExpected(summary, pcapPackets)).toEqual(expected);
      expect(summary.errors).toEqual({ unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 });
    }
  });
});

describe('NodeTask counters', () => {
  test('records, exceptions and drops (malformed input events) from the summary; packets and bytes from the writer', () => {
    const { stream, expected } = simulate(defaultMix('status'), { format: 'status', version: '4.9' });
    const { summary } = decodeAll(stream, 'status', '4.9', () => 999);
    expect(nodeTaskCounters(summary)).toEqual({ records: expected.records, exceptions: expected.exceptions, drops: 6 });
    expect(nodeTaskCounters(summary, { packets: 3, bytes: 4 })).toMatchObject({ packets: 3, bytes: 4 });
  });
});

describe('summary bounds', () => {
  test('pairs, flows and Prometheus samples stay bounded on a stream with thousands of pairs', () => {
    const flows = Array.from({ length: 3000 }, (_, i) => ({ src: i % 256, dst: Math.floor(i / 256), packets: 1 + (i % 3), size: 60 + (i % 50) }));
    const { stream, expected } = simulate({ flows }, { format: 'status', version: '5.0' });
    const w = new IPAStreamWalker({ format: 'status', version: '5.0' });
    const stats = new IPAStats({ format: 'status', maxPairs: 1000, topPairs: 50, maxFlows: 500, topFlows: 20 });
    for (const e of [...w.push(stream), ...w.end()]) stats.add(e);
    const s = stats.summary(w.counters);
    expect(s.records).toBe(expected.records);
    expect(s.byPair).toHaveLength(50);
    expect(s.topFlows).toHaveLength(20);
    expect(s.flowsApproximate).toBe(true);
    // Everything is accounted for: listed pairs plus the "other" bucket.
    expect(s.byPair.reduce((n, p) => n + p.records, 0) + s.otherPairs.records).toBe(expected.records);
    expect(s.byPair.reduce((n, p) => n + p.bytes, 0) + s.otherPairs.bytes).toBe(expected.bytes);
    expect(JSON.stringify(s).length).toBeLessThan(32 * 1024);
    expect(prometheusSamples(s).length).toBeLessThan(50 * 3 + 300);
  });

  test('top flows are exact while the table is not full', () => {
    const { stream } = simulate(defaultMix('status'), { format: 'status', version: '4.9' });
    const w = new IPAStreamWalker({ format: 'status' });
    const stats = new IPAStats({ format: 'status' });
    for (const e of [...w.push(stream), ...w.end()]) stats.add(e);
    const s = stats.summary(w.counters);
    expect(s.flowsApproximate).toBe(false);
    expect(s.topFlows[0]).toMatchObject({ src: 12, dst: 3, proto: 6, srcAddr: '10.0.0.12', dstAddr: '10.1.0.3', srcPort: 1012, dstPort: 2003, records: 25, bytes: 35000 });
  });
});
