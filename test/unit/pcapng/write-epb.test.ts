// writeEPB: an EPB with comments, flags and custom options laid out in a caller's buffer (the
// IPA capture's path) is what encodeEPB gives, every byte written, and reads back whole.
import { describe, expect, test } from '@jest/globals';
import { OPT_CUSTOM_BIN_COPY, OPT_CUSTOM_STR_COPY } from '../../../lib/pcapng/format.js';
import { readCapture, type Packet } from '../../../lib/pcapng/read.js';
import { encodeEPB, encodeIDB, encodeSHB, epbLength, writeEPB, type PacketOptions } from '../../../lib/pcapng/write.js';

async function packets(file: Buffer): Promise<Packet[]> {
  const out: Packet[] = [];
  for await (const e of readCapture((async function* () { yield file; })())) if (e.type === 'packet') out.push(e.packet);
  return out;
}

const CASES: [string, number, number | undefined, PacketOptions][] = [
  ['no options', 61, undefined, {}],
  ['flags only', 62, 0x11, {}],
  ['a comment with multi-byte characters', 63, undefined, { comments: ['src=3 dst=12 µ'] }],
  ['comments, flags and custom options in parts', 64, 1, {
    comments: ['one', 'three'],
    custom: [
      { code: OPT_CUSTOM_BIN_COPY, pen: 32473, data: [Buffer.from([1, 0, 1, 0]), Buffer.alloc(7, 0xab)] },
      { code: OPT_CUSTOM_STR_COPY, pen: 32473, data: Buffer.from('x') },
    ],
  }],
];

describe('writeEPB', () => {
  test.each(CASES)('%s: the bytes of encodeEPB, at any offset of a dirty buffer, and read back', async (_what, size, flags, po) => {
    const data = Buffer.alloc(size, 0x5a);
    const ts = 1_700_000_000_123_456_789n;
    const one = encodeEPB(0, ts, size + 100, data, flags, po);
    expect(one.length).toBe(epbLength(size, flags, po));
    expect(one.length % 4).toBe(0);
    // Every byte is written (padding too): buffers filled with 0x00 and 0xff end up the same.
    for (const fill of [0x00, 0xff]) {
      const shared = Buffer.alloc(one.length + 10, fill);
      expect(writeEPB(shared, 6, 0, ts, size + 100, data, flags, po)).toBe(one.length);
      expect(shared.subarray(6, 6 + one.length)).toEqual(one);
    }

    const [p] = await packets(Buffer.concat([encodeSHB('test'), encodeIDB({ linkType: 101, snapLen: 262144 }), one]));
    expect(p).toMatchObject({ tsNs: ts, caplen: size, origLen: size + 100, data });
    expect(p!.flags).toBe(flags);
    expect(p!.comments).toEqual(po.comments);
    expect(p!.custom).toEqual(po.custom?.map((c) => ({ code: c.code, pen: c.pen, data: Buffer.isBuffer(c.data) ? c.data : Buffer.concat(c.data) })));
  });
});
