// Fuzz of the walker, the stats and the pcapng writer on random and mutated streams, bounded in
// time (IPA_FUZZ_SECONDS per case, default 6: ~20 s for the file). For every stream: no
// exception, no hang (each run is bounded by the stream size and a deadline), the bytes held
// never exceed the cap, and every input byte is accounted for exactly once
// (walked + skipped + still held).
import { describe, expect, test } from '@jest/globals';
import { IPA_FORMATS, type IPAFormat } from '../../../agent/src/drivers/ipa/decode.js';
import { IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStats } from '../../../agent/src/drivers/ipa/stats.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';
import { defaultMix, simulate } from '../../../hack/ipa-sim/sim.js';

const SECONDS = Number(process.env.IPA_FUZZ_SECONDS ?? 6);
const VERSIONS = ['3.5.1', '4.9', '5.0'];

function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
  };
}

interface Outcome {
  runs: number;
  records: number;
  errors: number;
  maxHeld: number;
}

function report(name: string, o: Outcome): void {
  if (process.env.IPA_FUZZ_VERBOSE) process.stderr.write(`fuzz ${name}: ${JSON.stringify(o)}\n`);
}

function runOne(stream: Buffer, format: IPAFormat, version: string, r: (n: number) => number, o: Outcome): void {
  const maxPacketLength = [64, 1500, 16384, 65535][r(4)]!;
  const w = new IPAStreamWalker({ format, version, maxPacketLength, maxBufferedBytes: r(2) ? 1 : 1 << 16, padAlign: [1, 4, 8][r(3)], checksumTrailer: r(4) === 0 });
  const stats = new IPAStats({ format, maxPairs: 64, maxFlows: 32 });
  const pcap = new IPAPcapngWriter({ format, version, snapLength: 1 + r(2000) });
  pcap.startFile();
  const take = (es: ReturnType<IPAStreamWalker['push']>): void => {
    for (const e of es) {
      stats.add(e);
      pcap.packet(e, 0n);
    }
  };
  for (let off = 0; off < stream.length; ) {
    const n = 1 + r(r(8) === 0 ? 70000 : 300);
    take(w.push(stream.subarray(off, off + n)));
    off += n;
    if (w.bufferedBytes > w.maxBufferedBytes) throw new Error(`held ${w.bufferedBytes} > cap ${w.maxBufferedBytes}`);
    o.maxHeld = Math.max(o.maxHeld, w.bufferedBytes);
  }
  take(w.end());
  const c = w.counters;
  expect(c.bufferedHighWater).toBeLessThanOrEqual(w.maxBufferedBytes);
  expect(w.bufferedBytes).toBe(0);
  expect(c.walkedBytes + c.skippedBytes).toBe(stream.length);
  const s = stats.summary(c);
  expect(s.records).toBe(c.records);
  expect(JSON.stringify(s).length).toBeLessThan(64 * 1024);
  o.runs++;
  o.records += c.records;
  o.errors += Object.values(c.errors).reduce((a, b) => a + b, 0);
}

describe('fuzz', () => {
  test('random streams', () => {
    const r = prng(0x1badb002);
    const o: Outcome = { runs: 0, records: 0, errors: 0, maxHeld: 0 };
    const deadline = Date.now() + SECONDS * 1000;
    while (Date.now() < deadline) {
      const format = IPA_FORMATS[r(3)]!;
      const len = r(4) === 0 ? r(200_000) : r(4000);
      const b = Buffer.alloc(len);
      // Bias towards bytes that look like headers: known opcodes, zeros, small lengths.
      for (let i = 0; i < len; i++) b[i] = r(3) === 0 ? [0, 1, 4, 0x10, 0x40, 0xff][r(6)]! : r(256);
      runOne(b, format, VERSIONS[r(3)]!, r, o);
    }
    report('random', o);
    expect(o.runs).toBeGreaterThan(10);
  }, (SECONDS + 30) * 1000);

  test('mutated simulator streams', () => {
    const r = prng(0xdecaf);
    const o: Outcome = { runs: 0, records: 0, errors: 0, maxHeld: 0 };
    const deadline = Date.now() + SECONDS * 1000;
    const base = IPA_FORMATS.flatMap((format) =>
      VERSIONS.map((version) => ({ format, version, stream: simulate(defaultMix(format), { format, version: format === 'dplv2' ? '4.2' : version }).stream })),
    );
    while (Date.now() < deadline) {
      const { format, version, stream } = base[r(base.length)]!;
      let b = Buffer.from(stream);
      const edits = 1 + r(20);
      for (let k = 0; k < edits; k++) {
        const at = r(b.length + 1);
        switch (r(5)) {
          case 0: // bit flip
            if (b.length) b[at % b.length]! ^= 1 << r(8);
            break;
          case 1: // insert random bytes
            b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + r(64) }, () => r(256))), b.subarray(at)]);
            break;
          case 2: // delete a run
            b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + r(64))]);
            break;
          case 3: // duplicate a slice elsewhere
            b = Buffer.concat([b.subarray(0, at), b.subarray(r(b.length), r(b.length) + r(200)), b.subarray(at)]);
            break;
          default: // a huge length in a likely header position
            if (b.length > at + 6) b.writeUInt16LE(0xffff - r(100), at);
        }
      }
      runOne(b, format, version, r, o);
    }
    report('mutated', o);
    expect(o.runs).toBeGreaterThan(10);
    expect(o.records).toBeGreaterThan(0);
  }, (SECONDS + 30) * 1000);
});
