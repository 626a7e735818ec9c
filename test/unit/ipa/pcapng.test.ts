// pcapng written from simulated IPA streams, read back by tshark: the file opens, the packet
// count is the mix's, IP payloads decode, caplen/origlen show the truncated replicas, the
// comment carries the decoded header, and the custom option (2989, PEN 32473) carries the
// header bytes verbatim. Mapping: ../shared/notes/kernel-facts.md §2.3.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPAFormat } from '../../../agent/src/ipa/decode.js';
import { FORMAT_IDS, IPAPcapngWriter, matchesEndpoints, OPT_CUSTOM_BINARY_COPY, RINGTAP_PEN } from '../../../agent/src/ipa/pcapng.js';
import { IPAStreamWalker, type IPAEntry } from '../../../agent/src/ipa/walker.js';
import { defaultMix, simulate } from '../../../hack/ipa-sim/sim.js';

const dir = mkdtempSync(join(tmpdir(), 'ipa-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let hasTshark = true;
try {
  execFileSync('tshark', ['--version'], { stdio: 'ignore' });
} catch {
  hasTshark = false;
}
if (!hasTshark) console.log('skipped: tshark is not installed (hack/setup.sh installs it); the pcapng read-back tests do not run');
const withTshark = hasTshark ? test : test.skip;

function write(format: IPAFormat, version: string, snapLength?: number): { file: string; entries: IPAEntry[]; expected: ReturnType<typeof simulate>['expected'] } {
  const { stream, expected } = simulate(defaultMix(format), { format, version });
  const w = new IPAStreamWalker({ format, version });
  const p = new IPAPcapngWriter({ format, version, snapLength, endpointNames: { 3: 'AP_LAN_RX', 12: 'MODEM_AP_TX' } });
  const entries = [...w.push(stream), ...w.end()];
  const blocks = [p.startFile()];
  let ts = 1_700_000_000_000_000_000n;
  for (const e of entries) {
    const b = p.packet(e, (ts += 1000n));
    if (b) blocks.push(b);
  }
  const file = join(dir, `${format}-${version}-${snapLength ?? 0}.pcapng`);
  writeFileSync(file, Buffer.concat(blocks));
  return { file, entries: entries.filter((e) => e.packet), expected };
}

function fields(file: string, ...f: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...f.flatMap((x) => ['-e', x])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.trim().split('\n').map((l) => l.split('|'));
}

/** EPB custom options (code 2989) of a little-endian pcapng, read by hand. */
function customOptions(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < buf.length; ) {
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    if (type === 6) {
      const caplen = buf.readUInt32LE(off + 20);
      let o = off + 28 + Math.ceil(caplen / 4) * 4;
      while (o < off + len - 4) {
        const code = buf.readUInt16LE(o);
        const l = buf.readUInt16LE(o + 2);
        if (code === 0) break;
        if (code === OPT_CUSTOM_BINARY_COPY) out.push(buf.subarray(o + 4, o + 4 + l));
        o += 4 + Math.ceil(l / 4) * 4;
      }
    }
    off += len;
  }
  return out;
}

describe.each([
  ['status', '4.9'],
  ['status', '5.0'],
  ['dplv2', '4.2'],
  ['dplv3', '4.9'],
] as const)('%s IPA v%s', (format, version) => {
  withTshark('tshark opens it: packet count, IP sources, caplen/origlen, comments', () => {
    const { file, entries, expected } = write(format, version);
    const rows = fields(file, 'frame.len', 'frame.cap_len', 'ip.src', 'ipv6.src', 'frame.comment', 'frame.interface_name');
    expect(rows).toHaveLength(expected.pcapPackets);
    rows.forEach(([len, cap, ip4, ip6, comment, ifname], i) => {
      const e = entries[i]!;
      expect([Number(len), Number(cap)]).toEqual([e.origLen, e.payload.length]);
      expect(ip4 || ip6).toBe(e.payload[0]! >> 4 === 4 ? `10.0.0.${e.header.srcEndpoint}` : `fd00::${e.header.srcEndpoint}`);
      expect(comment).toContain(`ipa ${format}`);
      expect(comment).toContain(`src=${e.header.srcEndpoint}`);
      if (e.header.format === 'status') expect(comment).toContain(`dst=${e.header.dstEndpoint} `);
      expect(ifname).toMatch(new RegExp(`^ipa-ep${e.header.srcEndpoint}(-|$)`));
    });
    expect(rows.filter(([len, cap]) => Number(len) > Number(cap))).toHaveLength(expected.truncated);
    // One interface per source endpoint.
    expect(new Set(rows.map((r) => r[5])).size).toBe(new Set(entries.map((e) => e.header.srcEndpoint)).size);
  });

  test('the custom option carries the PEN, the format and the header bytes verbatim', () => {
    const { file, entries } = write(format, version);
    const opts = customOptions(readFileSync(file));
    expect(opts).toHaveLength(entries.length);
    opts.forEach((o, i) => {
      expect(o.readUInt32LE(0)).toBe(RINGTAP_PEN);
      expect([...o.subarray(4, 8)]).toEqual([1, FORMAT_IDS[format], format === 'status' && version === '5.0' ? 1 : 0, 0]);
      expect(o.subarray(8)).toEqual(entries[i]!.headerBytes);
    });
  });
});

withTshark('the snap length cuts caplen, never origlen', () => {
  const { file, entries } = write('status', '4.9', 64);
  const rows = fields(file, 'frame.len', 'frame.cap_len', 'ip.src', 'ipv6.src');
  rows.forEach(([len, cap, ip4, ip6], i) => {
    expect(Number(cap)).toBe(Math.min(64, entries[i]!.payload.length));
    expect(Number(len)).toBe(entries[i]!.origLen);
    expect(ip4 || ip6).not.toBe('');
  });
});

test('the endpoint filter: empty matches all, both lists must both match, DPL has no destination', () => {
  const st = { format: 'status', srcEndpoint: 3, dstEndpoint: 12 } as Parameters<typeof matchesEndpoints>[0];
  const dpl = { format: 'dplv3', srcEndpoint: 3 } as Parameters<typeof matchesEndpoints>[0];
  expect(matchesEndpoints(st, undefined)).toBe(true);
  expect(matchesEndpoints(st, { sources: [], destinations: [] })).toBe(true);
  expect(matchesEndpoints(st, { sources: [3] })).toBe(true);
  expect(matchesEndpoints(st, { sources: [3], destinations: [12] })).toBe(true);
  expect(matchesEndpoints(st, { sources: [3], destinations: [5] })).toBe(false);
  expect(matchesEndpoints(dpl, { sources: [3] })).toBe(true);
  expect(matchesEndpoints(dpl, { destinations: [3] })).toBe(false);
});
