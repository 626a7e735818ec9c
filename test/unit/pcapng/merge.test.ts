// The merge against other people's files: what a source says about its packets and interfaces
// reaches the merged pcapng, checked by tshark and capinfos reading it.
import { describe, expect, it, beforeAll, afterAll, jest } from '@jest/globals';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NO_TIMESTAMP_COMMENT, USER_APPL, concatCaptures, mergeCaptures, readCapture, writeMerged,
  type MergeSource, type ReadDamage, type ReadEvent, type WriteSummary,
} from '../../../lib/pcapng/index.js';
import { IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStreamWalker } from '../../../agent/src/drivers/ipa/walker.js';
import { defaultMix, simulate } from '../../../hack/ipa-sim/sim.js';
import { chunks, epb, frame, idb, isb, opb, pcapHeader, pcapRecord, readAll, shb, spb, u32 } from './bytes.js';
import { capinfos, epochNs, libpcapRead, tsharkFields } from './tools.js';

// Deadlines, not measurements: each test starts tshark or capinfos, a second or more on a busy machine.
jest.setTimeout(60_000);

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtap-merge-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (b: Buffer, onDamage?: (d: ReadDamage) => void): AsyncIterable<ReadEvent> => readCapture(chunks(b, 13), undefined, { statistics: true, ...(onDamage ? { onDamage } : {}) });

/** Merges the sources (each a list of files) into a pcapng file; returns its path and the summary. */
async function merge(sources: { label: string; files: Buffer[] }[], onDamage?: (label: string, d: ReadDamage) => void): Promise<{ path: string; summary: WriteSummary }> {
  const path = join(dir, `merged-${n++}.pcapng`);
  const ms: MergeSource[] = sources.map((s) => ({ label: s.label, events: concatCaptures(s.files.map((f) => read(f, onDamage && ((d) => onDamage(s.label, d))))) }));
  const out = createWriteStream(path);
  const summary = await writeMerged(mergeCaptures(ms, { slackNs: 1_000_000_000n, statistics: true }), out);
  return { path, summary };
}

const T = 1_700_000_000_000_000_000n;

describe('merge', () => {
  it('keeps the obsolete Packet Block pack_flags and the EPB flags', async () => {
    const a = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), opb('le', 0, T + 1n, frame(1), 0x2), epb('le', 0, T + 3n, frame(3), 60, 0x1)]);
    const b = Buffer.concat([shb('be'), idb('be', { tsresol: 9 }), opb('be', 0, T + 2n, frame(2), 0x10000)]);
    const { path } = await merge([{ label: 'node=a', files: [a] }, { label: 'node=b', files: [b] }]);
    expect(tsharkFields(path, ['frame.packet_flags']).rows.map((r) => Number(r[0]))).toEqual([0x2, 0x10000, 0x1]);
  });

  it('keeps two alike IDBs of one section apart, and continues them in the next rotated file', async () => {
    const head = (e: 'le' | 'be') => [shb(e), idb(e, { name: 'eth0', desc: 'mirror', tsresol: 9 }), idb(e, { name: 'eth0', desc: 'mirror', tsresol: 9 })];
    const f1 = Buffer.concat([...head('le'), epb('le', 0, T + 1n, frame(1)), epb('le', 1, T + 2n, frame(2))]);
    const f2 = Buffer.concat([...head('be'), epb('be', 1, T + 3n, frame(3)), epb('be', 0, T + 4n, frame(4))]);
    const { path, summary } = await merge([{ label: 'node=a', files: [f1, f2] }]);
    expect(summary.interfaces).toBe(2);
    expect(tsharkFields(path, ['frame.interface_id']).rows.map((r) => Number(r[0]))).toEqual([0, 1, 1, 0]);
  });

  it("writes Simple Packet Block packets at their neighbour's time with a comment saying so", async () => {
    const a = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), spb('le', frame(1)), epb('le', 0, T + 10n, frame(2)), spb('le', frame(3)), epb('le', 0, T + 30n, frame(4))]);
    const b = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, T + 20n, frame(5))]);
    const { path } = await merge([{ label: 'node=a', files: [a] }, { label: 'node=b', files: [b] }]);
    const rows = tsharkFields(path, ['frame.time_epoch', 'frame.comment', 'eth.type']).rows;
    const ids = (await readAll(readFileSync(path))).packets.map((p) => p.data.readUInt32BE(14));
    expect(ids).toEqual([1, 2, 3, 5, 4]);
    expect(rows.map((r) => [epochNs(r[0]!) - T, r[1] === NO_TIMESTAMP_COMMENT])).toEqual([[10n, true], [10n, false], [10n, true], [20n, false], [30n, false]]);
  });

  it('says which program wrote it (shb_userappl)', async () => {
    const a = Buffer.concat([shb('le'), idb('le'), epb('le', 0, 1n, frame(1))]);
    const { path } = await merge([{ label: 'node=a', files: [a] }]);
    expect(USER_APPL).toMatch(/^ringtap \d+\.\d+\.\d+/);
    expect(capinfos(path, ['-F'])).toContain(`Capture application: ${USER_APPL}`);
  });

  it('carries every Interface Statistics Block on its own interface, so kernel drop counts survive', async () => {
    const a = Buffer.concat([shb('le'), idb('le', { name: 'a0', tsresol: 9 }), epb('le', 0, T + 1n, frame(1)), isb('le', 0, T + 5n, { ifRecv: 10n, ifDrop: 1n })]);
    const b = Buffer.concat([
      shb('be'), idb('be', { name: 'b0' }), idb('be', { name: 'b1' }), // microseconds
      epb('be', 1, (T + 2_000n) / 1000n, frame(2)),
      isb('be', 1, (T + 9_000n) / 1000n, { start: T / 1000n, end: (T + 9_000n) / 1000n, ifRecv: 100n, ifDrop: 7n, osDrop: 3n }),
    ]);
    const { path } = await merge([{ label: 'node=a', files: [a] }, { label: 'node=b', files: [b] }]);
    // Output interfaces: 0 = a0, 1 = b0, 2 = b1.
    const info = capinfos(path, ['-I']);
    const entries = [...info.matchAll(/Interface #(\d+) info:[\s\S]*?Number of stat entries = (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(entries).toEqual([[0, 1], [1, 0], [2, 1]]);
    const back = await readAll(readFileSync(path));
    expect(back.statistics.map((s) => [s.interfaceKey, s.tsNs - T, s.ifRecv, s.ifDrop, s.osDrop])).toEqual([['0/0', 5n, 10n, 1n, undefined], ['0/2', 9_000n, 100n, 7n, 3n]]);
    expect(back.statistics[1]).toMatchObject({ startNs: T, endNs: T + 9_000n });
  });

  it('writes pcap files whose link-type word has FCS bits as Ethernet with if_fcslen (it threw a RangeError)', async () => {
    const p = Buffer.concat([pcapHeader('le', false, 65535, 0x24000001), pcapRecord('le', 1_700_000_000, 1, frame(1))]);
    const q = Buffer.concat([pcapHeader('be', false, 65535, 0x30000001), pcapRecord('be', 1_700_000_000, 2, frame(2))]);
    const { path } = await merge([{ label: 'node=a', files: [p] }, { label: 'node=b', files: [q] }]);
    expect(tsharkFields(path, ['frame.encap_type', 'eth.type']).rows).toEqual([['1', '0x88b5'], ['1', '0x88b5']]);
    const back = await readAll(readFileSync(path));
    expect(back.ifaces.map((i) => [i.linkType, i.fcsLenBits])).toEqual([[1, 32], [1, undefined]]);
  });

  it('keeps every good packet of a damaged file, the files after it and the other nodes, and reports the damage', async () => {
    const good1 = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, T + 1n, frame(1)), epb('le', 0, T + 2n, frame(2))]);
    const corrupt = Buffer.concat([good1, u32(6, 'le'), u32(13, 'le'), Buffer.alloc(16), epb('le', 0, T + 3n, frame(99))]);
    const next = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, T + 5n, frame(5))]);
    const other = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, T + 4n, frame(4)), epb('le', 0, T + 6n, frame(6))]);
    const torn = other.subarray(0, other.length - 8);
    const damage: [string, ReadDamage][] = [];
    const { path, summary } = await merge([{ label: 'node=a', files: [corrupt, next] }, { label: 'node=b', files: [torn] }], (label, d) => damage.push([label, d]));
    expect(damage.map(([l, d]) => [l, d.truncated, d.packets]).sort()).toEqual([['node=a', false, 2], ['node=b', true, 1]]);
    expect(summary.packets).toBe(4);
    const rows = tsharkFields(path, ['frame.time_epoch']);
    expect(rows.error).toBeUndefined();
    expect(rows.rows.map((r) => epochNs(r[0]!) - T)).toEqual([1n, 2n, 4n, 5n]);
  });
});

describe('notices', () => {
  it('carries a notice at the end that readCapture reports and tshark and tcpdump skip', async () => {
    const a = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, T + 1n, frame(1))]);
    const path = join(dir, 'notice.pcapng');
    const ms: MergeSource[] = [{ label: 'node=a', events: read(a) }];
    await writeMerged(mergeCaptures(ms), createWriteStream(path), { notices: () => ['node a file x-000001.pcapng: damaged at byte offset 99; the 7 packets before it are kept'] });
    const notices: string[] = [];
    for await (const ev of readCapture(chunks(readFileSync(path), 5), undefined, { onNotice: (t) => notices.push(t) })) expect(ev.type).not.toBe('statistics');
    expect(notices).toEqual(['node a file x-000001.pcapng: damaged at byte offset 99; the 7 packets before it are kept']);
    const t = tsharkFields(path, ['frame.number']);
    expect(t).toEqual({ rows: [['1']] });
    expect(libpcapRead(path)).toMatchObject({ packets: [{ tsNs: T + 1n }] });
    expect(libpcapRead(path).error).toBeUndefined();
  });
});

describe('packet options', () => {
  it("keeps an IPAMonitor file's per-packet comment and custom option, which the Wireshark dissector reads", async () => {
    const pcap = new IPAPcapngWriter({ format: 'status', version: '4.9' });
    const walker = new IPAStreamWalker({ format: 'status', version: '4.9' });
    const out = [pcap.startFile()];
    let ts = T;
    for (const e of [...walker.push(simulate(defaultMix('status'), { format: 'status', version: '4.9' }).stream), ...walker.end()]) {
      const b = pcap.packet(e, ts++);
      if (b) out.push(b);
    }
    const src = Buffer.concat(out);
    const srcPath = join(dir, 'ipa.pcapng');
    writeFileSync(srcPath, src);
    const { path, summary } = await merge([{ label: 'node=a', files: [src] }]);
    expect(summary.packets).toBeGreaterThan(10);
    const comments = (f: string) => tsharkFields(f, ['frame.comment']).rows.map((r) => r[0]);
    expect(comments(path)).toEqual(comments(srcPath));
    expect(comments(path).every((c) => c && /src=/.test(c))).toBe(true);
    const custom = async (b: Buffer) => (await readAll(b)).packets.map((p) => p.custom?.map((c) => [c.code, c.pen, c.data.toString('hex')]));
    expect(await custom(readFileSync(path))).toEqual(await custom(src));
    expect((await custom(src))[0]).toEqual([[2989, 32473, expect.any(String)]]);
  });
});
