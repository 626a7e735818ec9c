// The stream walker on bad and awkward input: headers split across reads, padding, the
// checksum trailer, a truncated final record, garbage, impossible lengths, unknown opcodes.
// Walking rules: upstream drivers/net/ipa/ipa_endpoint.c ipa_endpoint_status_parse() and
// ipa_endpoint_status_skip(); DPL entry sizes from qcom_ipa_monitor.h (Alex Elder's series).
// Most streams here are built without padding (`padAlign: 1`, as a user override would say);
// 'hardware padding' walks the padded streams the hardware writes by default.
import { describe, expect, test } from '@jest/globals';
import { Readable } from 'node:stream';
import { IPAStreamWalker, walkIPAStream, type IPAEntry, type WalkerOptions } from '../../../agent/src/drivers/ipa/walker.js';
import { encodeDplV2, encodeDplV3, encodeStatus, ipPacket } from '../../../hack/ipa-sim/sim.js';

function walkAll(stream: Buffer, opts: WalkerOptions, chunk = stream.length || 1): { entries: IPAEntry[]; w: IPAStreamWalker } {
  const w = new IPAStreamWalker(opts);
  const entries: IPAEntry[] = [];
  for (let off = 0; off < stream.length; off += chunk) entries.push(...w.push(stream.subarray(off, off + chunk)));
  entries.push(...w.end());
  return { entries, w };
}

const pkt = (src: number, dst: number, size = 84): Buffer => ipPacket({ src, dst, packets: 1, size }, 1);
const rec = (opcode: number, src: number, dst: number, payload: Buffer, exception = 0) => ({
  opcode, exception, src, dst, mask: 0x88, metadata: 0, payload,
});
const status = (op: number, src: number, dst: number, payload: Buffer, v5 = false, exc = 0): Buffer =>
  Buffer.concat([encodeStatus(rec(op, src, dst, payload, exc), v5, 1), payload]);

describe('entry sizes', () => {
  test('status without padding: 32 + pkt_len for packet opcodes, 32 for others and for pkt_len 0', () => {
    const s = Buffer.concat([status(0x01, 1, 2, pkt(1, 2, 61)), status(0x10, 1, 2, Buffer.alloc(0)), status(0x04, 3, 4, pkt(3, 4, 40))]);
    const { entries, w } = walkAll(s, { format: 'status', padAlign: 1 });
    expect(entries.map((e) => [e.offset, e.header.opcode, e.payload.length, e.packet])).toEqual([
      [0, 0x01, 61, true], [93, 0x10, 0, false], [125, 0x04, 40, true],
    ]);
    expect(w.counters.errors).toEqual({ unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 });
  });

  test('status: ALIGN(pkt_len, pad_align) and the 8-byte checksum trailer', () => {
    const p = pkt(1, 2, 61);
    const one = Buffer.concat([encodeStatus(rec(1, 1, 2, p), false, 1), p, Buffer.alloc(3), Buffer.alloc(8, 0xcc)]);
    const { entries, w } = walkAll(Buffer.concat([one, one]), { format: 'status', padAlign: 4, checksumTrailer: true });
    expect(entries.map((e) => [e.offset, e.payload.length])).toEqual([[0, 61], [32 + 64 + 8, 61]]);
    expect(w.counters.skippedBytes).toBe(0);
  });

  test('DPLv2 rounds the payload to 4, DPLv3 to 8', () => {
    const p = pkt(5, 0, 61);
    const v2 = Buffer.concat([encodeDplV2(rec(0x10, 5, 0, p), 1), p, Buffer.alloc(3)]);
    const v3 = Buffer.concat([encodeDplV3(rec(0x10, 5, 0, p), 1), p, Buffer.alloc(3)]);
    expect(walkAll(Buffer.concat([v2, v2]), { format: 'dplv2' }).entries.map((e) => e.offset)).toEqual([0, 96]);
    expect(walkAll(Buffer.concat([v3, v3]), { format: 'dplv3' }).entries.map((e) => e.offset)).toEqual([0, 80]);
  });

  test('v5: the destination comes from w7', () => {
    const { entries } = walkAll(status(0x01, 200, 225, pkt(1, 2), true), { format: 'status', version: '5.0', padAlign: 1 });
    expect(entries[0]!.header).toMatchObject({ srcEndpoint: 200, dstEndpoint: 225 });
  });
});

/** A status element as the hardware writes it: the replica padded to `align`. */
const padded = (op: number, src: number, dst: number, payload: Buffer, v5 = false, align = 4, pktLen?: number): Buffer => {
  const h = encodeStatus({ ...rec(op, src, dst, payload), ...(pktLen !== undefined ? { pktLen } : {}) }, v5, 1);
  return Buffer.concat([h, payload, Buffer.alloc((align - (payload.length % align)) % align, 0x5a)]);
};

describe('hardware padding (AP_LAN_RX pad_align = ilog2(4) in every upstream ipa_data-v*.c)', () => {
  test.each(['3.5.1', '4.9', '5.0', '5.5'])('IPA %s: status replicas padded to 4 walk by default, every length 1..64', (version) => {
    const v5 = version.startsWith('5');
    const s = Buffer.concat(Array.from({ length: 64 }, (_, i) => padded(1, 3, 12, pkt(3, 12, 84).subarray(0, i + 1), v5)));
    for (const chunk of [1, 7, 4096]) {
      const { entries, w } = walkAll(s, { format: 'status', version }, chunk);
      expect(entries.map((e) => e.payload.length)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
      expect(w.counters.errors).toEqual({ unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 });
      expect([w.counters.skippedBytes, w.counters.walkedBytes]).toEqual([0, s.length]);
    }
  });

  test('the same padded stream read as unpadded loses step (why the default matters)', () => {
    const s = Buffer.concat(Array.from({ length: 20 }, (_, i) => padded(1, 3, 12, pkt(3, 12, 84).subarray(0, 41 + i))));
    const { entries, w } = walkAll(s, { format: 'status', padAlign: 1 });
    expect(entries.length < 20 || w.counters.resyncs > 0).toBe(true);
  });

  test('payloadAlignment overrides: 8, and 1 for an unpadded stream', () => {
    const s8 = Buffer.concat([padded(1, 1, 2, pkt(1, 2, 61), false, 8), padded(1, 2, 1, pkt(2, 1, 67), false, 8)]);
    expect(walkAll(s8, { format: 'status', padAlign: 8 }).entries.map((e) => e.offset)).toEqual([0, 32 + 64]);
    const s1 = Buffer.concat([status(1, 1, 2, pkt(1, 2, 61)), status(1, 2, 1, pkt(2, 1, 67))]);
    expect(walkAll(s1, { format: 'status', padAlign: 1 }).entries.map((e) => e.offset)).toEqual([0, 32 + 61]);
  });
});

describe('status-only elements: every opcode upstream lists (ipa_status_format_packet)', () => {
  // enum ipa_status_opcode: only PACKET, DROPPED_PACKET, SUSPENDED_PACKET and PACKET_2ND_PASS
  // carry a replica; NEW_RULE_PACKET, LOG and DCMP are 32 bytes whatever pkt_len says, and
  // so is any element with pkt_len 0.
  const OPCODES: [number, boolean][] = [[0x01, true], [0x02, false], [0x04, true], [0x08, true], [0x10, false], [0x20, false], [0x40, true]];
  test.each(OPCODES)('opcode 0x%s: carries a packet = %s', (op, carries) => {
    const after = padded(1, 7, 8, pkt(7, 8, 53));
    for (const v5 of [false, true]) {
      const version = v5 ? '5.0' : '4.9';
      // A claimed length with no replica behind it (non-packet opcodes), and pkt_len 0 (all opcodes).
      const claimed = carries ? padded(op, 1, 2, pkt(1, 2, 45), v5) : padded(op, 1, 2, Buffer.alloc(0), v5, 4, 1500);
      const zero = padded(op, 3, 4, Buffer.alloc(0), v5, 4, 0);
      const { entries, w } = walkAll(Buffer.concat([claimed, zero, after]), { format: 'status', version }, 5);
      expect(entries.map((e) => [e.header.opcode, e.payload.length, e.packet])).toEqual([
        [op, carries ? 45 : 0, carries], [op, 0, false], [0x01, 53, true],
      ]);
      expect(entries.map((e) => e.offset)).toEqual([0, claimed.length, claimed.length + 32]);
      expect(w.counters.errors).toEqual({ unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 });
    }
  });
});

describe('reads of any size', () => {
  const stream = Buffer.concat([status(1, 1, 2, pkt(1, 2, 77)), status(0x40, 2, 1, pkt(2, 1, 1500)), status(0x10, 3, 3, Buffer.alloc(0))]);
  test.each([1, 3, 31, 32, 33, 100, 4096])('chunks of %i bytes give the same entries as one read', (n) => {
    const whole = walkAll(stream, { format: 'status', padAlign: 1 });
    const split = walkAll(stream, { format: 'status', padAlign: 1 }, n);
    expect(split.entries).toEqual(whole.entries);
    expect(split.w.counters.errors).toEqual(whole.w.counters.errors);
    expect(split.w.bufferedBytes).toBe(0);
  });

  test('one-byte reads of 16 KB entries stay linear (no re-copy of the held bytes per read)', () => {
    const big = Buffer.concat(Array.from({ length: 8 }, (_, i) => status(1, i, i + 1, pkt(i, i + 1, 16000))));
    const t0 = Date.now();
    const { entries, w } = walkAll(big, { format: 'status', padAlign: 1 }, 1);
    expect(entries).toHaveLength(8);
    expect(w.counters.bufferedHighWater).toBeLessThanOrEqual(16032 + 32);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('walkIPAStream over a Node stream', async () => {
    const got: number[] = [];
    for await (const e of walkIPAStream(Readable.from([stream.subarray(0, 10), stream.subarray(10)]), { format: 'status', padAlign: 1 })) got.push(e.offset);
    expect(got).toEqual([0, 109, 1641]);
  });

  test('payloads are copies: reusing the read buffer does not change entries', () => {
    const w = new IPAStreamWalker({ format: 'status', padAlign: 1 });
    const buf = Buffer.from(stream.subarray(0, 50));
    const got = w.push(buf);
    buf.fill(0xff);
    got.push(...w.push(stream.subarray(50)), ...w.end());
    expect(got[0]!.payload).toEqual(pkt(1, 2, 77));
  });
});

describe('bad input is counted and resynchronised', () => {
  const good = [status(1, 1, 2, pkt(1, 2, 60)), status(1, 3, 4, pkt(3, 4, 70)), status(1, 5, 6, pkt(5, 6, 80))];

  test('a truncated final record', () => {
    const s = Buffer.concat([...good, status(1, 7, 8, pkt(7, 8, 90)).subarray(0, 50)]);
    const { entries, w } = walkAll(s, { format: 'status', padAlign: 1 }, 1);
    expect(entries).toHaveLength(3);
    expect(w.counters.errors.truncatedTail).toBe(1);
    expect(w.counters.skippedBytes).toBe(50);
  });

  test('a header cut short at the end', () => {
    const { w } = walkAll(Buffer.concat([...good, Buffer.alloc(5, 1)]), { format: 'status', padAlign: 1 });
    expect(w.counters.errors.truncatedTail).toBe(1);
  });

  test('garbage between records: one error, exactly the garbage skipped, every record kept', () => {
    for (const n of [1, 5, 31, 32, 33, 200]) {
      const s = Buffer.concat([good[0]!, Buffer.alloc(n, 0xee), good[1]!, good[2]!]);
      const { entries, w } = walkAll(s, { format: 'status', padAlign: 1 }, 7);
      expect([n, entries.length, w.counters.errors.garbage, w.counters.skippedBytes, w.counters.resyncs]).toEqual([n, 3, 1, n, 1]);
    }
  });

  test('random garbage between records is skipped for every format', () => {
    const rnd = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 151 + 77) & 0xff));
    for (const [format, enc] of [['dplv2', encodeDplV2], ['dplv3', encodeDplV3]] as const) {
      const one = (src: number): Buffer => {
        const p = pkt(src, 0, 64);
        return Buffer.concat([enc(rec(0x10, src, 0, p), 1), p]);
      };
      const s = Buffer.concat([one(1), Buffer.alloc(9, 0xee), one(2), one(3)]);
      const { entries, w } = walkAll(s, { format }, 5);
      expect([format, entries.map((e) => e.header.srcEndpoint), w.counters.errors.garbage, w.counters.skippedBytes]).toEqual([format, [1, 2, 3], 1, 9]);
      // Random bytes: never a crash, and the records after it are found again.
      const r = walkAll(Buffer.concat([one(1), rnd, one(2), one(3)]), { format }, 13);
      expect(r.entries.map((e) => e.header.srcEndpoint).slice(-2)).toEqual([2, 3]);
    }
  });

  test('an impossible length: counted, the header skipped, the next record found', () => {
    const bad = Buffer.alloc(32);
    bad[0] = 0x01;
    bad.writeUInt16LE(0xf000, 4);
    const { entries, w } = walkAll(Buffer.concat([good[0]!, bad, good[1]!, good[2]!]), { format: 'status', padAlign: 1 }, 3);
    expect(entries).toHaveLength(3);
    expect(w.counters.errors.impossibleLength).toBe(1);
    expect(w.counters.skippedBytes).toBe(32);
  });

  test('maxPacketLength sets what is impossible', () => {
    const { entries, w } = walkAll(Buffer.concat(good), { format: 'status', padAlign: 1, maxPacketLength: 64 });
    expect(w.counters.errors.impossibleLength).toBe(1);
    expect(entries.length).toBeLessThan(3);
  });

  test('an unknown opcode: status elements are skipped by 32 bytes (the driver rule), DPL entries by pkt_len', () => {
    const unk = Buffer.alloc(32);
    unk[0] = 0x80;
    const s = walkAll(Buffer.concat([good[0]!, unk, good[1]!]), { format: 'status', padAlign: 1 }, 1);
    expect([s.entries.length, s.w.counters.errors.unknownOpcode, s.w.counters.resyncs]).toEqual([2, 1, 0]);
    const p = pkt(1, 0, 64);
    const one = Buffer.concat([encodeDplV3(rec(0x10, 1, 0, p), 1), p]);
    const odd = Buffer.concat([encodeDplV3(rec(0x03, 1, 0, Buffer.alloc(20)), 1), Buffer.alloc(24)]);
    const d = walkAll(Buffer.concat([one, odd, one]), { format: 'dplv3' }, 1);
    expect([d.entries.length, d.w.counters.errors.unknownOpcode, d.w.counters.skippedBytes]).toEqual([2, 1, 0]);
  });

  test('unknown exceptions are kept and counted', () => {
    const { entries, w } = walkAll(status(1, 1, 2, pkt(1, 2), false, 0x77), { format: 'status', padAlign: 1 });
    expect(entries).toHaveLength(1);
    expect(w.counters.unknownExceptions).toBe(1);
  });

  test('held bytes never exceed the cap, even for one huge read', () => {
    const s = Buffer.concat(Array.from({ length: 3000 }, (_, i) => good[i % 3]!));
    const w = new IPAStreamWalker({ format: 'status', padAlign: 1, maxBufferedBytes: 1 });
    const n = w.push(s).length + w.end().length;
    expect(n).toBe(3000);
    expect(w.counters.bufferedHighWater).toBeLessThanOrEqual(w.maxBufferedBytes);
    expect(w.maxBufferedBytes).toBeLessThan(s.length);
  });
});
