// The reader against what tshark and libpcap read: each defect found by running it over other
// people's files, built here byte by byte (or by editcap) and read by both tools as well.
import { describe, expect, it, beforeAll, afterAll, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapFormatError, type ReadDamage } from '../../../lib/pcapng/index.js';
import { blk, epb, frame, idb, opb, pcapHeader, pcapRecord, readAll, shb, spb, u32, type Endian } from './bytes.js';
import { libpcapRead, tsharkFields, wiretapRead } from './tools.js';

// Deadlines, not measurements: each test starts tshark, editcap or tcpdump, a second or more on a busy machine.
jest.setTimeout(60_000);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtap-reader-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, b: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, b);
  return p;
}

/** Our packets against wiretap's and libpcap's, field by field. */
async function sameAsTools(path: string, b: Buffer): Promise<void> {
  const ours = await readAll(b, 5, { damage: true });
  for (const tool of [wiretapRead(path), libpcapRead(path)]) {
    expect(tool.unconvertible).toBeUndefined();
    expect(ours.packets.map((p) => [p.tsNs, p.caplen, p.origLen, p.data.toString('hex')])).toEqual(tool.packets.map((p) => [p.tsNs, p.caplen, p.origLen, p.data.toString('hex')]));
  }
}

describe('pcap link-type word', () => {
  it.each([
    ['FCS length 3 without the F bit (tcpdump test captures)', 0x30000001, undefined],
    ['F bit with FCS length 0', 0x04000001, 0],
    ['F bit with 2 words of FCS', 0x24000001, 32],
  ] as const)('reads %s as Ethernet, as tshark and tcpdump do', async (_what, word, fcsLenBits) => {
    const b = Buffer.concat([pcapHeader('le', false, 65535, word), pcapRecord('le', 100, 1, frame(1)), pcapRecord('le', 101, 2, frame(2))]);
    const path = file(`lt-${word.toString(16)}.pcap`, b);
    const { ifaces } = await readAll(b);
    expect(ifaces[0]!.linkType).toBe(1);
    expect(ifaces[0]!.fcsLenBits).toBe(fcsLenBits);
    expect(tsharkFields(path, ['frame.encap_type']).rows).toEqual([['1'], ['1']]);
    await sameAsTools(path, b);
  });

  it('refuses reserved bits, as tshark and tcpdump do', async () => {
    const b = Buffer.concat([pcapHeader('le', false, 65535, 0x00010001), pcapRecord('le', 100, 1, frame(1))]);
    await expect(readAll(b)).rejects.toThrow(/pcap link-type word 0x00010001 has reserved bits \(16-25\) set at byte offset 20/);
    const path = file('lt-reserved.pcap', b);
    expect(tsharkFields(path, ['frame.number']).error).toMatch(/reserved field not zero/);
    expect(libpcapRead(path).packets).toHaveLength(0);
  });
});

describe('pcap record times', () => {
  it('reads on past a fraction of a second or more, adding it up', async () => {
    for (const nano of [false, true]) {
      const big = nano ? 1_500_000_000 : 1_500_000;
      const b = Buffer.concat([pcapHeader('le', nano), pcapRecord('le', 100, 5, frame(1)), pcapRecord('le', 101, big, frame(2)), pcapRecord('le', 102, 7, frame(3))]);
      const path = file(`frac-${nano}.pcap`, b);
      const { packets } = await readAll(b);
      expect(packets.map((p) => p.tsNs)).toEqual([100_000_000_000n + (nano ? 5n : 5000n), 102_500_000_000n, 102_000_000_000n + (nano ? 7n : 7000n)]);
      // Both tools read all three; tshark prints the un-normalised "101.1500000000" for the second.
      expect(tsharkFields(path, ['frame.number']).rows).toHaveLength(3);
      expect(libpcapRead(path).packets).toHaveLength(3);
    }
  });
});

describe('versions and magics', () => {
  const pcapng = (e: Endian, version: [number, number]) => Buffer.concat([shb(e, version), idb(e, { tsresol: 9 }), epb(e, 0, 1_000_000_001n, frame(1)), epb(e, 0, 2_000_000_002n, frame(2))]);

  it.each([[[2, 0]], [[0, 1]], [[1, 1]]] as const)('refuses pcapng %j, as tshark and tcpdump do', async (version) => {
    const b = pcapng('le', [...version]);
    await expect(readAll(b)).rejects.toThrow(new RegExp(`unsupported pcapng version ${version[0]}\\.${version[1]}`));
    const path = file(`ng-${version.join('.')}.pcapng`, b);
    expect(tsharkFields(path, ['frame.number']).error).toMatch(/unknown SHB version/);
    expect(libpcapRead(path).packets).toHaveLength(0);
  });

  it('reads pcapng 1.2 as 1.0, and stops at a later section of another version after the packets before it', async () => {
    const b12 = pcapng('be', [1, 2]);
    expect((await readAll(b12)).packets).toHaveLength(2);
    await sameAsTools(file('ng-1.2.pcapng', b12), b12);
    const mixed = Buffer.concat([pcapng('le', [1, 0]), pcapng('le', [2, 0])]);
    const r = await readAll(mixed, 8, { damage: true });
    expect(r.packets).toHaveLength(2);
    expect(r.damage).toMatchObject({ truncated: false, packets: 2, message: expect.stringMatching(/unsupported pcapng version 2\.0/) });
    const path = file('ng-mixed.pcapng', mixed);
    expect(tsharkFields(path, ['frame.number']).rows).toHaveLength(2);
    expect(wiretapRead(path).packets).toHaveLength(2);
  });

  it('refuses pcap 1.x, as tshark and tcpdump do', async () => {
    const b = Buffer.concat([pcapHeader('le', false, 65535, 1, { version: [1, 0] }), pcapRecord('le', 1, 1, frame(1))]);
    await expect(readAll(b)).rejects.toThrow(/unsupported pcap version 1\.0/);
    expect(tsharkFields(file('v1.pcap', b), ['frame.number']).error).toMatch(/major version 1 unsupported/);
  });

  it('swaps the lengths of pcap before 2.3 back, and of 2.3 where the captured one is the larger, as both tools do', async () => {
    const rec = (caplenField: number, lenField: number) => Buffer.concat([u32(1, 'le'), u32(2, 'le'), u32(caplenField, 'le'), u32(lenField, 'le'), frame(1)]);
    for (const version of [[2, 2], [2, 3]] as [number, number][]) {
      // The first field is the original length (1514), the second the captured one (60).
      const b = Buffer.concat([pcapHeader('le', false, 65535, 1, { version }), rec(1514, 60)]);
      const { packets } = await readAll(b);
      expect(packets.map((p) => [p.caplen, p.origLen])).toEqual([[60, 1514]]);
      await sameAsTools(file(`v${version.join('.')}.pcap`, b), b);
    }
  });

  it("reads Alexey Kuznetzov's modified pcap (magic 0xa1b2cd34, 24-byte record headers) as written by editcap", async () => {
    const src = Buffer.concat([pcapHeader('le', false), pcapRecord('le', 100, 1, frame(1)), pcapRecord('le', 100, 2, frame(2, 1514)), pcapRecord('le', 101, 3, frame(3), 9000)]);
    const modified = join(dir, 'modified.pcap');
    execFileSync('editcap', ['-F', 'modpcap', file('plain.pcap', src), modified]);
    const b = Buffer.from(execFileSync('cat', [modified]));
    expect(b.readUInt32LE(0)).toBe(0xa1b2cd34);
    const { packets } = await readAll(b);
    expect(packets.map((p) => [p.tsNs, p.caplen, p.origLen])).toEqual([[100_000_001_000n, 60, 60], [100_000_002_000n, 1514, 1514], [101_000_003_000n, 60, 9000]]);
    await sameAsTools(modified, b);
  });
});

describe('pcap variants with longer record headers', () => {
  it.each([
    ['Red Hat 6.1 (standard magic, 24-byte record headers)', 'rh6_1pcap', 0xa1b2c3d4],
    ['Nokia (standard magic, 20-byte record headers)', 'nokiapcap', 0xa1b2c3d4],
    ['SuSE 6.3 (modified magic, 28-byte record headers)', 'suse6_3pcap', 0xa1b2cd34],
  ] as const)('reads %s as written by editcap, as wiretap does', async (_what, format, magic) => {
    const src = Buffer.concat([pcapHeader('le', false), ...[1, 2, 3, 4].map((i) => pcapRecord('le', 1_700_000_000 + i, i * 1000, frame(i, 40 + i * 10), 1500))]);
    const path = join(dir, `${format}.pcap`);
    execFileSync('editcap', ['-F', format, file(`${format}-src.pcap`, src), path]);
    const b = readFileSync(path);
    expect(b.readUInt32LE(0)).toBe(magic);
    const { packets } = await readAll(b, 7);
    expect(packets.map((p) => [p.tsNs, p.caplen, p.origLen, p.data.readUInt32BE(14)])).toEqual([1, 2, 3, 4].map((i) => [BigInt(1_700_000_000 + i) * 1_000_000_000n + BigInt(i) * 1_000_000n, 40 + i * 10, 1500, i]));
    const w = wiretapRead(path);
    expect(packets.map((p) => [p.tsNs, p.caplen, p.data.toString('hex')])).toEqual(w.packets.map((p) => [p.tsNs, p.caplen, p.data.toString('hex')]));
  });
});

describe('Simple Packet Blocks', () => {
  it('refuses one shorter than 16 bytes with a format error, after the packets before it', async () => {
    const b = Buffer.concat([shb('le'), idb('le'), epb('le', 0, 1_000_000n, frame(1)), blk(3, Buffer.alloc(0), 'le'), epb('le', 0, 2_000_000n, frame(2))]);
    await expect(readAll(b)).rejects.toThrow(PcapFormatError);
    await expect(readAll(b)).rejects.toThrow(/Simple Packet Block of 12 bytes, shorter than the minimum 16/);
    const r = await readAll(b, 3, { damage: true });
    expect(r.packets).toHaveLength(1);
    const path = file('spb-short.pcapng', b);
    expect(tsharkFields(path, ['frame.number']).error).toMatch(/less than the minimum SPB size 16/);
    expect(wiretapRead(path).packets).toHaveLength(1);
  });

  it('marks them as untimed and places them by their neighbours in the file', async () => {
    const b = Buffer.concat([shb('le'), idb('le', { snap: 40 }), spb('le', frame(1, 40), 60), spb('le', frame(2, 40), 60), epb('le', 0, 5_000_000n, frame(3)), spb('le', frame(4, 40), 60), epb('le', 0, 6_000_000n, frame(5))]);
    const { packets } = await readAll(b);
    expect(packets.map((p) => [p.data.readUInt32BE(14), p.tsNs, p.noTimestamp ?? false, p.caplen, p.origLen])).toEqual([
      [1, 5_000_000_000n, true, 40, 60],
      [2, 5_000_000_000n, true, 40, 60],
      [3, 5_000_000_000n, false, 60, 60],
      [4, 5_000_000_000n, true, 40, 60],
      [5, 6_000_000_000n, false, 60, 60],
    ]);
    // tshark has no time for them either; the data and lengths agree.
    const t = tsharkFields(file('spb.pcapng', b), ['frame.time_epoch', 'frame.cap_len', 'frame.len']);
    expect(t.rows.map((r) => r[0] === '' ? 'none' : 'time')).toEqual(['none', 'none', 'time', 'none', 'time']);
    expect(t.rows.map((r) => [Number(r[1]), Number(r[2])])).toEqual(packets.map((p) => [p.caplen, p.origLen]));
  });

  it('gives them time 0 when the file has no timed packet, as tshark shows them', async () => {
    const b = Buffer.concat([shb('le'), idb('le'), spb('le', frame(1)), spb('le', frame(2))]);
    const { packets } = await readAll(b);
    expect(packets.map((p) => p.tsNs)).toEqual([0n, 0n]);
  });
});

describe('obsolete Packet Blocks', () => {
  it('keep pack_flags', async () => {
    const b = Buffer.concat([shb('be'), idb('be', { tsresol: 9 }), opb('be', 0, 7n, frame(1), 0x00000002), opb('be', 0, 8n, frame(2))]);
    const { packets } = await readAll(b);
    expect(packets.map((p) => p.flags)).toEqual([2, undefined]);
    expect(tsharkFields(file('opb.pcapng', b), ['frame.packet_flags']).rows.map((r) => r[0] ? Number(r[0]) : undefined)).toEqual([2, undefined]);
  });
});

describe('damage', () => {
  const good = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, 1n, frame(1)), epb('le', 0, 2n, frame(2))]);

  it('reports a torn last block with where it began, after every whole packet', async () => {
    const whole = Buffer.concat([good, epb('le', 0, 3n, frame(3))]);
    const cut = whole.subarray(0, whole.length - 10);
    const damage: ReadDamage[] = [];
    const r = await readAll(cut, 9, { damage: true });
    if (r.damage) damage.push(r.damage);
    expect(r.packets).toHaveLength(2);
    expect(damage).toEqual([{ offset: good.length, packets: 2, truncated: true, message: expect.stringMatching(/ends inside a block: \d+ of its 92 bytes/) }]);
    expect(r.stats.truncated).toBe(true);
    // Without onDamage it ends quietly, as before (a live stream's last block may be in flight).
    expect((await readAll(cut)).packets).toHaveLength(2);
    const path = file('torn.pcapng', cut);
    expect(tsharkFields(path, ['frame.number']).error).toMatch(/cut short/);
    expect(wiretapRead(path).packets).toHaveLength(2);
  });

  it('reports a corrupt block and keeps the packets before it, as tshark does', async () => {
    const bad = Buffer.concat([good, u32(6, 'le'), u32(13, 'le'), Buffer.alloc(16), epb('le', 0, 3n, frame(3))]);
    const r = await readAll(bad, 64, { damage: true });
    expect(r.packets).toHaveLength(2);
    expect(r.damage).toMatchObject({ offset: good.length, truncated: false, message: expect.stringMatching(/bad pcapng block length 13/) });
    const path = file('corrupt.pcapng', bad);
    expect(tsharkFields(path, ['frame.number']).rows).toHaveLength(2);
    expect(wiretapRead(path).packets).toHaveLength(2);
  });

  it('still throws what is not a format error (the input failing)', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield good;
      throw new Error('connection reset');
    }
    const seen: ReadDamage[] = [];
    await expect(readAll(failing(), undefined, { damage: true }).then((r) => r.damage && seen.push(r.damage))).rejects.toThrow('connection reset');
    expect(seen).toEqual([]);
  });
});
