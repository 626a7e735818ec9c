// A stream generated independently of hack/ipa-sim: gen_status.py builds IPA 4.9 and 5.0
// status streams with struct.pack straight from the upstream layout (drivers/net/ipa/
// ipa_endpoint.c) and the hardware padding (4 bytes), every replica length 1..1500, and
// computes its own expected counts. The simulator shares code with the decoder (decode.ts's
// tables); this generator shares nothing, so a misreading common to both cannot hide here.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IPAStats } from '../../../agent/src/drivers/ipa/stats.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';

const GEN = join(import.meta.dirname, 'gen_status.py');

describe('a status stream written from the upstream struct layout by another program', () => {
  test.each(['4.9', '5.0'])('IPA %s, padded to 4, lengths 1..1500: every count exact', (version) => {
    const dir = mkdtempSync(join(tmpdir(), 'ipa-gen-'));
    try {
      const out = join(dir, 'stream.bin');
      const expected = JSON.parse(execFileSync('python3', [GEN, version, out], { encoding: 'utf8' })) as Record<string, unknown>;
      const stream = readFileSync(out);
      for (const chunk of [stream.length, 97]) {
        const w = new IPAStreamWalker({ format: 'status', version });
        const stats = new IPAStats({ format: 'status' });
        for (let off = 0; off < stream.length; off += chunk) for (const e of w.push(stream.subarray(off, off + chunk))) stats.add(e);
        for (const e of w.end()) stats.add(e);
        const s = stats.summary(w.counters);
        expect(s.errors).toEqual({ unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 });
        expect(s.skippedBytes).toBe(0);
        expect({
          records: s.records, packets: s.packets, bytes: s.bytes, capturedBytes: s.capturedBytes, truncated: s.truncated, exceptions: s.exceptions,
          byPair: Object.fromEntries(s.byPair.map((p) => [`${p.src}>${p.dst}`, { records: p.records, bytes: p.bytes, truncated: p.truncated }])),
          byOpcode: s.byOpcode, byException: s.byException,
        }).toEqual(expected);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
