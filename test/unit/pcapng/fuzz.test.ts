// The reader on damaged input: valid files from the corpus and from editcap, mutated by a seeded
// (so repeatable) generator. The reader may only ever throw its PcapFormatError, and what it reads
// before the damage is compared packet by packet with what Wireshark's wiretap (through editcap)
// reads. Where they differ, the category is in AGREED_DIFFERENCES with who is right.
import { describe, expect, it, beforeAll, afterAll, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PcapFormatError } from '../../../lib/pcapng/index.js';
import { frame, pcapHeader, pcapRecord, readAll } from './bytes.js';
import { wiretapCount, wiretapRead } from './tools.js';

// Deadlines, not measurements: 280 mutants, each read by editcap or capinfos.
jest.setTimeout(600_000);

const corpus = resolve(import.meta.dirname, '../../fixtures/pcap-corpus');
const MUTANTS_PER_SEED = 40;

/** mulberry32: a small seeded PRNG, so that every run mutates the same way. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 4, 12, 16, 28, 0x7fffffff, 0xffffffff, 0x0a0d0d0a, 0x1a2b3c4d, 0xa1b2c3d4, 1_000_000, 1_000_000_000];

function mutate(src: Buffer, rnd: () => number): { bytes: Buffer; how: string } {
  const b = Buffer.from(src);
  const at = (n = b.length) => Math.floor(rnd() * n);
  switch (at(6)) {
    case 0: {
      const o = at();
      b[o]! ^= 1 << at(8);
      return { bytes: b, how: `bit flip at ${o}` };
    }
    case 1: {
      const o = at();
      b[o] = at(256);
      return { bytes: b, how: `byte ${o} = ${b[o]}` };
    }
    case 2: {
      const o = at(Math.floor(b.length / 4)) * 4;
      const v = INTERESTING[at(INTERESTING.length)]!;
      if (o + 4 <= b.length) b.writeUInt32LE(v >>> 0, o);
      return { bytes: b, how: `u32 at ${o} = 0x${v.toString(16)}` };
    }
    case 3: {
      const o = at();
      return { bytes: b.subarray(0, o), how: `cut at ${o}` };
    }
    case 4: {
      const o = at();
      const n = 1 + at(64);
      return { bytes: Buffer.concat([b.subarray(0, o), b.subarray(o + n)]), how: `${n} bytes removed at ${o}` };
    }
    default: {
      const o = at();
      const n = 1 + at(64);
      return { bytes: Buffer.concat([b.subarray(0, o), b.subarray(o, o + n), b.subarray(o)]), how: `${n} bytes repeated at ${o}` };
    }
  }
}

let dir: string;
const seeds: { name: string; bytes: Buffer }[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtap-fuzz-'));
  for (const f of ['output_le/basic/test009.pcapng', 'output_be/basic/test011.pcapng', 'output_le/advanced/test101.pcapng', 'output_be/advanced/test100.pcapng']) {
    seeds.push({ name: f, bytes: readFileSync(join(corpus, 'pcapng-test-generator', f)) });
  }
  seeds.push({ name: 'tcpdump/tcp-handshake-nano.pcap', bytes: readFileSync(join(corpus, 'tcpdump/tcp-handshake-nano.pcap')) });
  // Big-endian microseconds and the modified format, written by editcap from a pcap built here.
  const plain = join(dir, 'plain.pcap');
  writeFileSync(plain, Buffer.concat([pcapHeader('be', false), ...[1, 2, 3, 4].map((i) => pcapRecord('be', 1_700_000_000 + i, i * 1000, frame(i, 40 + i * 10), 1500))]));
  seeds.push({ name: 'be-us.pcap', bytes: readFileSync(plain) });
  execFileSync('editcap', ['-F', 'modpcap', plain, join(dir, 'mod.pcap')]);
  seeds.push({ name: 'modified.pcap', bytes: readFileSync(join(dir, 'mod.pcap')) });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/**
 * Where wiretap and we may read a damaged file differently, and who is right. Every other
 * difference fails the test.
 */
const AGREED_DIFFERENCES = {
  trailer:
    "wiretap (4.0) does not compare a block's trailing length with its leading one and reads on; libpcap refuses the block, and so do we " +
    '(the spec has both equal; a mismatch means the block boundaries cannot be trusted, so what follows may be misread).',
  notCapture:
    'wiretap reads a file it cannot open as pcapng or pcap (a torn or damaged first header) as one "MIME file" frame; it holds no packet, and we read none.',
} as const;

const row = (p: { tsNs: bigint; caplen: number; origLen: number; data: Buffer }) => `${p.tsNs}/${p.caplen}/${p.origLen}/${p.data.toString('hex')}`;

describe('fuzzed files', () => {
  it('never throw anything but PcapFormatError, and read what wiretap reads before the damage', async () => {
    const tally = new Map<string, number>();
    const unexplained: string[] = [];
    for (const [si, seed] of seeds.entries()) {
      const rnd = prng(0x5eed + si);
      for (let i = 0; i < MUTANTS_PER_SEED; i++) {
        const { bytes, how } = mutate(seed.bytes, rnd);
        const what = `${seed.name} #${i} (${how})`;
        const chunk = 1 + Math.floor(rnd() * 300);
        // Without onDamage, a damaged file throws PcapFormatError and nothing else (a torn tail ends it quietly).
        await readAll(bytes, chunk).catch((err: unknown) => expect([what, err]).toEqual([what, expect.any(PcapFormatError)]));
        const ours = await readAll(bytes, chunk, { damage: true });
        const path = join(dir, 'mutant');
        writeFileSync(path, bytes);
        const w = wiretapRead(path);
        let kind: string;
        if (w.unconvertible) {
          // Several link types, which a pcap cannot hold: wiretap's count (capinfos) instead.
          const c = wiretapCount(path);
          const counted = Number(/after reading (\d+) packets/.exec(c.error ?? '')?.[1] ?? c.packets);
          kind = c.type !== 'pcapng' && c.type !== 'pcap' && ours.packets.length === 0 ? 'notCapture'
            : counted === ours.packets.length && !!c.error === !!ours.damage ? 'same count'
            : counted > ours.packets.length && /does not match its trailer/.test(ours.damage?.message ?? '') ? 'trailer'
            : `count ${counted} (${c.error ?? 'no error'}), ours ${ours.packets.length} (${ours.damage?.message ?? 'no damage'})`;
        } else {
          const a = ours.packets.map((p, j) => row({ ...p, tsNs: p.noTimestamp ? (w.packets[j]?.tsNs ?? 0n) : p.tsNs }));
          const b = w.packets.map(row);
          const same = a.length === b.length && a.every((x, j) => x === b[j]) && !!w.error === !!ours.damage;
          const prefix = a.every((x, j) => x === b[j]);
          kind = same ? 'same'
            : prefix && b.length > a.length && /does not match its trailer/.test(ours.damage?.message ?? '') ? 'trailer'
            : `ours ${a.length} packets (${ours.damage?.message ?? 'no damage'}), wiretap ${b.length} (${w.error ?? 'no error'})`;
        }
        tally.set(kind in AGREED_DIFFERENCES || kind.startsWith('same') ? kind : 'unexplained', (tally.get(kind) ?? 0) + 1);
        if (!(kind in AGREED_DIFFERENCES) && !kind.startsWith('same')) unexplained.push(`${what}: ${kind}`);
      }
    }
    expect(unexplained).toEqual([]);
    // Most mutants must be comparable at all, or the test proves little.
    expect((tally.get('same') ?? 0) + (tally.get('same count') ?? 0)).toBeGreaterThan(seeds.length * MUTANTS_PER_SEED * 0.8);
  });
});
