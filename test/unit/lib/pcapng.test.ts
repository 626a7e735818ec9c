// The plugin's pcapng/pcap reader, writer and time-ordered merge: byte vectors built here,
// and interop with tools nobody here wrote (tshark, tcpdump, mergecap).
import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  PacketHeap,
  PcapFormatError,
  PcapngWriter,
  concatCaptures,
  encodeEPB,
  encodeIDB,
  encodeSHB,
  mergeCaptures,
  readCapture,
  tsresolToFraction,
  writeMerged,
  type CaptureEvent,
  type MergeEvent,
} from '../../../lib/pcapng/index.js';
import { blk, chunks, epb, frame, idb, pad, pcapHeader, pcapRecord, readAll, shb, u32 } from '../pcapng/bytes.js';

// ---- reader ------------------------------------------------------------------------------------------

describe('pcapng reader', () => {
  it('reads a little-endian section: interface options, nanosecond timestamps, flags', async () => {
    const file = Buffer.concat([
      shb('le'),
      idb('le', { name: 'eth0', desc: 'node=n1 pod=ns/a uid=u1 interface=eth0', tsresol: 9 }),
      epb('le', 0, 1_700_000_000_123_456_789n, frame(1), 1514, 1),
      blk(5, Buffer.alloc(16), 'le'), // ISB: skipped
      blk(0x0bad, Buffer.alloc(8), 'le'), // unknown: skipped
    ]);
    const { ifaces, packets, stats } = await readAll(file, 1);
    expect(ifaces).toHaveLength(1);
    expect(ifaces[0]).toMatchObject({ linkType: 1, snapLen: 262144, name: 'eth0', description: 'node=n1 pod=ns/a uid=u1 interface=eth0' });
    expect(packets).toHaveLength(1);
    expect(packets[0]).toMatchObject({ interfaceKey: ifaces[0]!.key, tsNs: 1_700_000_000_123_456_789n, caplen: 60, origLen: 1514, flags: 1 });
    expect(packets[0]!.data.equals(frame(1))).toBe(true);
    expect(stats).toEqual({ format: 'pcapng', bytes: file.length, packets: 1, truncated: false });
  });

  it('reads big-endian sections, honours the default microsecond resolution, if_tsresol powers of two and if_tsoffset', async () => {
    const file = Buffer.concat([
      shb('be'),
      idb('be', { name: 'a' }), // default resolution: microseconds
      idb('be', { name: 'b', tsresol: 0x80 | 10, tsoffset: 100n }), // 2^-10 s units, +100 s
      epb('be', 0, 1_000_001n, frame(1)),
      epb('be', 1, 1024n * 5n + 512n, frame(2)),
    ]);
    const { ifaces, packets } = await readAll(file);
    expect(ifaces.map((i) => i.name)).toEqual(['a', 'b']);
    expect(packets.map((p) => p.tsNs)).toEqual([1_000_001_000n, 105_500_000_000n]);
    expect(packets.map((p) => p.interfaceKey)).toEqual([ifaces[0]!.key, ifaces[1]!.key]);
  });

  it('starts interface numbering again in each section, whatever its byte order', async () => {
    const file = Buffer.concat([
      shb('le'), idb('le', { name: 'x', tsresol: 9 }), epb('le', 0, 10n, frame(1)),
      shb('be'), idb('be', { name: 'y', tsresol: 9 }), epb('be', 0, 20n, frame(2)),
    ]);
    const { ifaces, packets } = await readAll(file, 3);
    expect(ifaces.map((i) => [i.key, i.name])).toEqual([['0/0', 'x'], ['1/0', 'y']]);
    expect(packets.map((p) => [p.interfaceKey, p.tsNs])).toEqual([['0/0', 10n], ['1/0', 20n]]);
  });

  it('reads Simple Packet Blocks on interface 0 at the previous packet time', async () => {
    const spb = blk(3, Buffer.concat([u32(100, 'le'), pad(frame(9, 30))]), 'le');
    const file = Buffer.concat([shb('le'), idb('le', { snap: 30, tsresol: 9 }), epb('le', 0, 5n, frame(1)), spb]);
    const { packets } = await readAll(file);
    expect(packets[1]).toMatchObject({ tsNs: 5n, caplen: 30, origLen: 100 });
  });

  it('ends cleanly at a torn last block and says so', async () => {
    const whole = Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, 1n, frame(1)), epb('le', 0, 2n, frame(2))]);
    for (const cut of [1, 4, 13, 40]) {
      const { packets, stats } = await readAll(whole.subarray(0, whole.length - cut));
      expect(packets).toHaveLength(1);
      expect(stats.truncated).toBe(true);
    }
  });

  it('reads an empty input as no packets', async () => {
    const { packets, stats } = await readAll(Buffer.alloc(0));
    expect(packets).toHaveLength(0);
    expect(stats.truncated).toBe(false);
  });

  it('rejects garbage with the byte offset', async () => {
    await expect(readAll(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).rejects.toThrow(/not a pcapng or pcap capture .* at byte offset 0/);
    const good = Buffer.concat([shb('le'), idb('le', { tsresol: 9 })]);
    const badLen = Buffer.concat([good, u32(6, 'le'), u32(13, 'le'), Buffer.alloc(16)]);
    await expect(readAll(badLen)).rejects.toThrow(new RegExp(`bad pcapng block length 13 .* at byte offset ${good.length}$`));
    const badTrailer = Buffer.concat([good, u32(6, 'le'), u32(12, 'le'), u32(16, 'le')]);
    await expect(readAll(badTrailer)).rejects.toThrow(PcapFormatError);
    await expect(readAll(Buffer.concat([good, epb('le', 3, 1n, frame(1))]))).rejects.toThrow(/names interface 3, but the section has 1/);
    await expect(readAll(Buffer.concat([shb('le').subarray(0, 8), u32(0x01020304, 'le'), Buffer.alloc(16)]))).rejects.toThrow(/byte-order magic .* at byte offset 8/);
  });
});

describe('classic pcap reader', () => {
  it.each([
    ['little-endian microseconds', 'le', false],
    ['big-endian microseconds', 'be', false],
    ['little-endian nanoseconds', 'le', true],
    ['big-endian nanoseconds', 'be', true],
  ] as const)('reads %s as one interface', async (_what, e, nano) => {
    const file = Buffer.concat([pcapHeader(e, nano, 128), pcapRecord(e, 1_700_000_000, nano ? 123_456_789 : 123_456, frame(1), 1500), pcapRecord(e, 1_700_000_001, 5, frame(2))]);
    const { ifaces, packets, stats } = await readAll(file, 5);
    expect(stats.format).toBe('pcap');
    expect(ifaces).toHaveLength(1);
    expect(ifaces[0]).toMatchObject({ linkType: 1, snapLen: 128 });
    expect(packets.map((p) => p.tsNs)).toEqual([
      nano ? 1_700_000_000_123_456_789n : 1_700_000_000_123_456_000n,
      nano ? 1_700_000_001_000_000_005n : 1_700_000_001_000_005_000n,
    ]);
    expect(packets[0]).toMatchObject({ caplen: 60, origLen: 1500, interfaceKey: ifaces[0]!.key });
  });

  it('ends at a torn record and rejects a record header that cannot be', async () => {
    const file = Buffer.concat([pcapHeader('le', true), pcapRecord('le', 1, 1, frame(1)), pcapRecord('le', 2, 2, frame(2))]);
    const torn = await readAll(file.subarray(0, file.length - 10));
    expect(torn.packets).toHaveLength(1);
    expect(torn.stats.truncated).toBe(true);
    const bad = Buffer.concat([pcapHeader('le', true), u32(1, 'le'), u32(2, 'le'), u32(1_000_000, 'le'), u32(10, 'le')]);
    await expect(readAll(bad)).rejects.toThrow(/pcap record of 1000000 captured bytes, more than the 262144 a record may hold at byte offset 24/);
  });
});

describe('if_tsresol', () => {
  it('converts powers of ten and of two to nanoseconds per unit', () => {
    expect(tsresolToFraction(6)).toEqual({ num: 1000n, den: 1n });
    expect(tsresolToFraction(9)).toEqual({ num: 1n, den: 1n });
    expect(tsresolToFraction(12)).toEqual({ num: 1n, den: 1000n });
    expect(tsresolToFraction(0x80 | 20)).toEqual({ num: 1_000_000_000n, den: 1n << 20n });
  });
});

describe('PacketHeap', () => {
  it('pops in (timestamp, source, arrival) order', () => {
    const h = new PacketHeap();
    const ts = Array.from({ length: 500 }, (_, i) => BigInt((i * 7919) % 113));
    ts.forEach((t, i) => h.push({ tsNs: t, src: i % 3, seq: i, arrived: 0, ev: {} as never }));
    const out: bigint[] = [];
    while (h.size) out.push(h.pop()!.tsNs);
    expect(out).toEqual([...ts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });
});

// ---- writer and merge, checked by other tools ------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ringtap-pcapng-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tshark(file: string, fields = ['frame.interface_description', 'frame.time_epoch']): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter(Boolean).map((l) => l.split('|'));
}
/** "1700000000.000000123" -> ns. */
function epochNs(s: string): bigint {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}
function tcpdumpCount(file: string): number {
  // One line per packet starts with its -tt timestamp; unknown ethertypes add hex dump lines.
  const out = execFileSync('tcpdump', ['-tt', '-nr', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => /^\d+\.\d+ /.test(l)).length;
}

async function writeFile(path: string, build: (w: PcapngWriter) => Promise<void>): Promise<void> {
  const out = createWriteStream(path);
  const w = new PcapngWriter(out);
  await build(w);
  await w.end();
}

const T0 = 1_700_000_000_000_000_000n;

describe('pcapng writer', () => {
  it('writes files that tshark and tcpdump read with the right count, order, times and interface descriptions', async () => {
    const path = join(dir, 'written.pcapng');
    await writeFile(path, async (w) => {
      const a = w.addInterface({ linkType: 1, snapLen: 262144, name: 'eth0', description: 'node=n1 pod=ns/a uid=u1 interface=eth0' });
      const b = w.addInterface({ linkType: 1, snapLen: 96, name: 'eth0', description: 'node=n2 pod=ns/b uid=u2 interface=eth0' });
      for (let i = 0; i < 10; i++) await w.writePacket(i % 2 ? b : a, T0 + BigInt(i) * 1_000_123n, 1000, frame(i), i % 2 ? 2 : 1);
    });
    const rows = tshark(path);
    expect(rows).toHaveLength(10);
    rows.forEach(([desc, time], i) => {
      expect(desc).toBe(i % 2 ? 'node=n2 pod=ns/b uid=u2 interface=eth0' : 'node=n1 pod=ns/a uid=u1 interface=eth0');
      expect(epochNs(time!)).toBe(T0 + BigInt(i) * 1_000_123n);
    });
    // libpcap takes a section only if all its interfaces have one snap length: the writer sees to it.
    expect(tcpdumpCount(path)).toBe(10);
    // Our own reader agrees, byte for byte.
    const back = await readAll(createReadStream(path, { highWaterMark: 100 }));
    expect(back.packets.map((p) => p.tsNs)).toEqual(rows.map((r) => epochNs(r[1]!)));
    expect(back.packets[3]).toMatchObject({ origLen: 1000, flags: 2 });
  });

  it('encodes blocks with lengths that are multiples of four and a matching trailer', () => {
    for (const b of [encodeSHB(), encodeIDB({ linkType: 1, snapLen: 1, name: 'abc', description: 'x' }), encodeEPB(0, 1n, 61, frame(0, 61), 1)]) {
      expect(b.length % 4).toBe(0);
      expect(b.readUInt32LE(4)).toBe(b.length);
      expect(b.readUInt32LE(b.length - 4)).toBe(b.length);
    }
  });
});

/** A source's events from a byte buffer. */
const fromBytes = (b: Buffer) => readCapture(chunks(b, 64));

async function collect(events: AsyncIterable<MergeEvent>): Promise<MergeEvent[]> {
  const out: MergeEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('merge', () => {
  it('matches mergecap for a pcapng and a pcap file with distinct timestamps', async () => {
    const a = join(dir, 'a.pcapng');
    const b = join(dir, 'b.pcap');
    await writeFile(a, async (w) => {
      const i = w.addInterface({ linkType: 1, snapLen: 262144, name: 'eth0', description: 'node=n1 pod=ns/a uid=u1 interface=eth0' });
      for (let k = 0; k < 50; k++) await w.writePacket(i, T0 + BigInt(k * 2) * 1000n, 60, frame(k)); // even microseconds
    });
    // Classic pcap, nanosecond magic, as the agent writes with format: pcap.
    const recs: Buffer[] = [pcapHeader('le', true, 262144)];
    for (let k = 0; k < 40; k++) {
      const t = T0 + BigInt(k * 6 + 1) * 1000n; // odd microseconds: all timestamps distinct
      recs.push(pcapRecord('le', Number(t / 1_000_000_000n), Number(t % 1_000_000_000n), frame(1000 + k)));
    }
    writeFileSync(b, Buffer.concat(recs));

    const ours = join(dir, 'merged.pcapng');
    const summary = await writeMerged(
      mergeCaptures([
        { label: 'node=n1', events: readCapture(createReadStream(a)) },
        { label: 'node=n2', events: readCapture(createReadStream(b)) },
      ]),
      createWriteStream(ours),
    );
    expect(summary.packets).toBe(90);
    expect(summary.perSource.get('node=n1')).toBe(50);
    expect(summary.perSource.get('node=n2')).toBe(40);

    const theirs = join(dir, 'mergecap.pcapng');
    execFileSync('mergecap', ['-w', theirs, a, b]);
    const ourRows = tshark(ours, ['frame.time_epoch', 'eth.type', 'frame.len']);
    expect(ourRows).toEqual(tshark(theirs, ['frame.time_epoch', 'eth.type', 'frame.len']));
    // Our frame contents in the same order as mergecap's.
    const payload = (f: string) => execFileSync('tshark', ['-r', f, '-T', 'fields', '-e', 'data.data'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(payload(ours)).toBe(payload(theirs));
    // One IDB per node/interface, labelled with the node.
    const descs = tshark(ours, ['frame.interface_description']).map((r) => r[0]);
    expect(new Set(descs)).toEqual(new Set(['node=n1 pod=ns/a uid=u1 interface=eth0', 'node=n2']));
    expect(tcpdumpCount(ours)).toBe(90);
  });

  it('keeps one IDB per node/pod/interface across rotated files, and prefixes descriptions with the source label', async () => {
    const file = (start: number, n: number) =>
      Buffer.concat([shb('le'), idb('le', { name: 'eth0', desc: 'pod=ns/a interface=eth0', tsresol: 9 }), idb('le', { name: 'eth0', desc: 'pod=ns/b interface=eth0', tsresol: 9 }),
        ...Array.from({ length: n }, (_, k) => epb('le', k % 2, BigInt(start + k), frame(k)))]);
    const events = await collect(mergeCaptures([
      { label: 'node=n1', events: concatCaptures([fromBytes(file(0, 4)), fromBytes(file(10, 4))]) },
      { label: 'node=n2', events: fromBytes(file(5, 2)) },
    ]));
    const ifaces = events.filter((e) => e.type === 'interface').map((e) => (e.type === 'interface' ? e.iface.description : ''));
    expect(ifaces.sort()).toEqual(['node=n1 pod=ns/a interface=eth0', 'node=n1 pod=ns/b interface=eth0', 'node=n2 pod=ns/a interface=eth0', 'node=n2 pod=ns/b interface=eth0']);
    const ts = events.flatMap((e) => (e.type === 'packet' ? [e.packet.tsNs] : []));
    expect(ts).toEqual([0n, 1n, 2n, 3n, 5n, 6n, 10n, 11n, 12n, 13n]);
  });

  it('reorders a source that is only sorted per interface, within the slack window', async () => {
    // Two rings' blocks interleaved as the engine writes them: [10,20,30] of eth0, then [15,25] of eth1.
    const f = Buffer.concat([shb('le'), idb('le', { name: 'eth0', tsresol: 9 }), idb('le', { name: 'eth1', tsresol: 9 }),
      epb('le', 0, 10n, frame(1)), epb('le', 0, 20n, frame(2)), epb('le', 0, 30n, frame(3)), epb('le', 1, 15n, frame(4)), epb('le', 1, 25n, frame(5))]);
    const g = Buffer.concat([shb('le'), idb('le', { name: 'eth0', tsresol: 9 }), epb('le', 0, 12n, frame(6)), epb('le', 0, 40n, frame(7))]);
    const events = await collect(mergeCaptures([{ label: 'node=n1', events: fromBytes(f) }, { label: 'node=n2', events: fromBytes(g) }], { slackNs: 100n }));
    expect(events.flatMap((e) => (e.type === 'packet' ? [e.packet.tsNs] : []))).toEqual([10n, 12n, 15n, 20n, 25n, 30n, 40n]);
  });

  it('merges many sources in time order and ends when all end', async () => {
    const sources = Array.from({ length: 12 }, (_, s) => {
      const parts = [shb('le'), idb('le', { name: `if${s}`, tsresol: 9 })];
      for (let k = 0; k < 30; k++) parts.push(epb('le', 0, BigInt(k * 12 + s), frame(k)));
      return { label: `node=n${s}`, events: fromBytes(Buffer.concat(parts)) };
    });
    const ts = (await collect(mergeCaptures(sources))).flatMap((e) => (e.type === 'packet' ? [e.packet.tsNs] : []));
    expect(ts).toEqual(Array.from({ length: 360 }, (_, i) => BigInt(i)));
  });
});

describe('live merge', () => {
  /** A live source: bytes pushed over time through a PassThrough, like an HTTP body. */
  function live(): { stream: PassThrough; events: AsyncIterable<CaptureEvent> } {
    const stream = new PassThrough();
    return { stream, events: readCapture(stream) };
  }
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('emits in time order while sources run, holds at most the window, and ends when every stream ends', async () => {
    const a = live();
    const b = live();
    const out: { ts: bigint; at: number }[] = [];
    const start = Date.now();
    const done = (async () => {
      for await (const e of mergeCaptures([{ label: 'node=a', events: a.events }, { label: 'node=b', events: b.events }], { holdMs: 150, slackNs: 1000n })) {
        if (e.type === 'packet') out.push({ ts: e.packet.tsNs, at: Date.now() - start });
      }
    })();
    a.stream.write(Buffer.concat([shb('le'), idb('le', { tsresol: 9 }), epb('le', 0, 100n, frame(1))]));
    b.stream.write(Buffer.concat([shb('le'), idb('le', { tsresol: 9 })]));
    await tick(30);
    b.stream.write(epb('le', 0, 50n, frame(2))); // earlier than a's packet: goes first
    await tick(30);
    expect(out).toEqual([]); // both held: b could still produce something before 50 + window
    // a quiet source does not hold the others up for longer than the window
    await tick(250);
    expect(out.map((o) => o.ts)).toEqual([50n, 100n]);
    a.stream.write(epb('le', 0, 300n, frame(3)));
    b.stream.write(epb('le', 0, 200n, frame(4)));
    await tick(20);
    a.stream.end();
    b.stream.end();
    await done;
    expect(out.map((o) => o.ts)).toEqual([50n, 100n, 200n, 300n]);
  });

  it('writes a live pcapng that tshark reads from a pipe', async () => {
    const a = live();
    const path = join(dir, 'live.pcapng');
    const pipe = new PassThrough();
    const chunksOut: Buffer[] = [];
    pipe.on('data', (c: Buffer) => chunksOut.push(c));
    const writing = writeMerged(mergeCaptures([{ label: 'node=a', events: a.events }], { holdMs: 50 }), pipe);
    a.stream.write(Buffer.concat([shb('be'), idb('be', { name: 'eth0', desc: 'pod=ns/p interface=eth0', tsresol: 9 })]));
    for (let k = 0; k < 5; k++) {
      a.stream.write(epb('be', 0, T0 + BigInt(k), frame(k)));
      await tick(5);
    }
    await tick(100);
    // Packets reach the output while the source is still open.
    const partial = await readAll(Readable.from([Buffer.concat(chunksOut)]));
    expect(partial.packets).toHaveLength(5);
    a.stream.end();
    const s = await writing;
    expect(s.packets).toBe(5);
    writeFileSync(path, Buffer.concat(chunksOut));
    const rows = execFileSync('sh', ['-c', `tshark -r - -T fields -e frame.interface_description < ${path}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(rows.trim().split('\n')).toEqual(Array(5).fill('node=a pod=ns/p interface=eth0'));
    expect(readFileSync(path).length % 4).toBe(0);
  });
});
