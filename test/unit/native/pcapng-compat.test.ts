// One pcapng format, two encoders: the ring engine's writer (agent/native/src/pcapfmt.cc, C++,
// on its writer thread) and lib/pcapng/write.ts (TypeScript: the merge, the data API, the IPA
// capture). A real capture written by the engine is read block by block, and each block's fields
// are encoded again by lib/pcapng: every block must come out byte for byte the same.
import { afterAll, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { RingCapture, transmit } from '../../../agent/src/native.js';
import { BT_EPB, BT_IDB, BT_ISB, BT_SHB, EPB_FLAGS, IF_DESCRIPTION, IF_NAME, IF_TSRESOL, ISB_ENDTIME, ISB_FILTERACCEPT, ISB_IFDROP, ISB_IFRECV, ISB_OSDROP, ISB_STARTTIME, ISB_USRDELIV, SHB_USERAPPL } from '../../../lib/pcapng/format.js';
import { encodeEPB, encodeIDB, encodeISB, encodeSHB, type OutputStatistics } from '../../../lib/pcapng/write.js';
import { createVethPair, destroyAll } from '../../support/netns.js';
import { flowFrames, removeDir, tempDir, waitFor } from './helpers.js';

afterAll(() => destroyAll());

/** A little-endian block's options: code -> values, in order. */
function options(b: Buffer, from: number): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let o = from; o + 4 <= b.length - 4; ) {
    const code = b.readUInt16LE(o);
    const len = b.readUInt16LE(o + 2);
    if (code === 0) break;
    out.push([code, b.subarray(o + 4, o + 4 + len)]);
    o += 4 + ((len + 3) & ~3);
  }
  return out;
}

function only(opts: [number, Buffer][], allowed: number[], block: string): Map<number, Buffer> {
  for (const [code] of opts) expect({ block, code, known: allowed.includes(code) }).toEqual({ block, code, known: true });
  return new Map(opts);
}

const ts = (b: Buffer, at: number): bigint => (BigInt(b.readUInt32LE(at)) << 32n) | BigInt(b.readUInt32LE(at + 4));

/** The same block, from its fields, by lib/pcapng. */
function reencode(body: Buffer): Buffer {
  const type = body.readUInt32LE(0);
  switch (type) {
    case BT_SHB: {
      const o = only(options(body, 24), [SHB_USERAPPL], 'SHB');
      return encodeSHB(o.get(SHB_USERAPPL)?.toString('utf8') ?? '');
    }
    case BT_IDB: {
      const o = only(options(body, 16), [IF_NAME, IF_DESCRIPTION, IF_TSRESOL], 'IDB');
      expect(o.get(IF_TSRESOL)).toEqual(Buffer.from([9])); // lib/pcapng writes nanoseconds, as the engine does
      const name = o.get(IF_NAME)?.toString('utf8');
      const description = o.get(IF_DESCRIPTION)?.toString('utf8');
      return encodeIDB({ linkType: body.readUInt16LE(8), snapLen: body.readUInt32LE(12), ...(name ? { name } : {}), ...(description ? { description } : {}) });
    }
    case BT_EPB: {
      const caplen = body.readUInt32LE(20);
      const o = only(options(body, 28 + ((caplen + 3) & ~3)), [EPB_FLAGS], 'EPB');
      const flags = o.get(EPB_FLAGS)?.readUInt32LE(0);
      return encodeEPB(body.readUInt32LE(8), ts(body, 12), body.readUInt32LE(24), body.subarray(28, 28 + caplen), flags);
    }
    case BT_ISB: {
      const o = only(options(body, 20), [ISB_STARTTIME, ISB_ENDTIME, ISB_IFRECV, ISB_IFDROP, ISB_FILTERACCEPT, ISB_OSDROP, ISB_USRDELIV], 'ISB');
      const s: OutputStatistics = { tsNs: ts(body, 12) };
      const t = (code: number) => (o.has(code) ? ts(o.get(code)!, 0) : undefined);
      const n = (code: number) => o.get(code)?.readBigUInt64LE(0);
      const fields: [keyof OutputStatistics, bigint | undefined][] = [
        ['startNs', t(ISB_STARTTIME)], ['endNs', t(ISB_ENDTIME)], ['ifRecv', n(ISB_IFRECV)], ['ifDrop', n(ISB_IFDROP)],
        ['filterAccept', n(ISB_FILTERACCEPT)], ['osDrop', n(ISB_OSDROP)], ['usrDeliv', n(ISB_USRDELIV)],
      ];
      for (const [k, v] of fields) if (v !== undefined) s[k] = v;
      return encodeISB(body.readUInt32LE(8), s);
    }
    default:
      throw new Error(`the engine wrote a block of type ${type}, which this test does not know`);
  }
}

test('every block the ring engine writes, lib/pcapng encodes to the same bytes (SHB, IDB, EPB with flags and padding, ISB)', async () => {
  const pair = createVethPair('compat');
  const dir = tempDir('compat');
  // A snap length below the largest frame: some records are cut (caplen < origlen).
  const cap = new RingCapture({ interfaces: [{ name: pair.ifB, netns: pair.nsPathB }], snaplen: 1000, ring: { blockSize: 1 << 20, blockCount: 8, retireTimeoutMs: 20 }, output: { directory: dir, prefix: 'c' } });
  try {
    cap.start();
    // Frame lengths of every remainder mod 4 (EPB padding), and one longer than the snap length.
    const lengths = [61, 62, 63, 64, 1514];
    for (const frameLength of lengths) await transmit({ interface: pair.ifA, netns: pair.nsPathA, frames: flowFrames(pair, [7000], frameLength), count: 20, ratePps: 20000 });
    await waitFor(() => cap.stats().packets >= 20 * lengths.length, `${20 * lengths.length} packets`);
    await cap.stop();
  } finally {
    cap.close();
  }
  try {
    const file = readFileSync(`${dir}/c-000000.pcapng`);
    const seen = new Map<number, number>();
    const caplens = new Set<number>();
    for (let off = 0; off < file.length; ) {
      const len = file.readUInt32LE(off + 4);
      const block = file.subarray(off, off + len);
      const type = block.readUInt32LE(0);
      seen.set(type, (seen.get(type) ?? 0) + 1);
      if (type === BT_EPB) caplens.add(block.readUInt32LE(20));
      expect({ offset: off, type, bytes: reencode(block).toString('hex') }).toEqual({ offset: off, type, bytes: block.toString('hex') });
      off += len;
    }
    expect(seen.get(BT_SHB)).toBe(1);
    expect(seen.get(BT_IDB)).toBeGreaterThanOrEqual(1);
    expect(seen.get(BT_EPB)).toBeGreaterThanOrEqual(100);
    expect(seen.get(BT_ISB)).toBeGreaterThanOrEqual(1);
    expect(caplens.has(1000)).toBe(true);
    expect(new Set([...caplens].map((c) => c % 4)).size).toBe(4);
  } finally {
    removeDir(dir);
    pair.destroy();
  }
}, 60000);
