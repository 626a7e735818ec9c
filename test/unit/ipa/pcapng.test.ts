// pcapng written from simulated IPA streams, read back by tshark (wiretap), tcpdump (libpcap)
// and a second libpcap reader (pcap_count.py: pcap_open_offline/pcap_next_ex through ctypes):
// every one opens the file and counts the mix's packets; IP payloads decode, caplen/origlen
// show the truncated replicas, the comment carries the decoded header with both endpoints, and
// the custom option (2989, PEN 32473) carries the header bytes verbatim.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPAFormat } from '../../../agent/src/drivers/ipa/decode.js';
import { FORMAT_IDS, IPAPcapngWriter, matchesEndpoints, RINGTAP_PEN } from '../../../agent/src/drivers/ipa/capture.js';
import { OPT_CUSTOM_BIN_COPY } from '../../../lib/pcapng/format.js';
import { IPAStreamWalker, type IPAEntry } from '../../../agent/src/drivers/ipa/walker.js';
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
let hasTcpdump = true;
try {
  execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
} catch {
  hasTcpdump = false;
}
if (!hasTcpdump) console.log('skipped: tcpdump is not installed (hack/setup.sh installs it); the libpcap read-back tests do not run');
const withLibpcap = hasTcpdump ? test : test.skip;
const PCAP_COUNT = join(import.meta.dirname, 'pcap_count.py');

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
        if (code === OPT_CUSTOM_BIN_COPY) out.push(buf.subarray(o + 4, o + 4 + l));
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
      // Replicas shorter than an IP header may show no address (or part of one).
      const v = e.payload[0]! >> 4;
      if (e.payload.length >= (v === 6 ? 40 : 20)) expect(ip4 || ip6).toBe(v === 4 ? `10.0.0.${e.header.srcEndpoint}` : `fd00::${e.header.srcEndpoint}`);
      expect(comment).toContain(`ipa ${format}`);
      expect(comment).toContain(`src=${e.header.srcEndpoint}`);
      if (e.header.format === 'status') expect(comment).toContain(`dst=${e.header.dstEndpoint} `);
      expect(ifname).toBe('ipa');
    });
    expect(rows.filter(([len, cap]) => Number(len) > Number(cap))).toHaveLength(expected.truncated);
  });

  withLibpcap('tcpdump -r and a second libpcap reader open it and count the same packets as tshark', () => {
    const { file, entries, expected } = write(format, version);
    const out = execFileSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out.trim().split('\n')).toHaveLength(expected.pcapPackets);
    const [n, dlt, caplen] = execFileSync('python3', [PCAP_COUNT, file], { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect([n, dlt, caplen]).toEqual([expected.pcapPackets, 12 /* DLT_RAW */, entries.reduce((a, e) => a + e.payload.length, 0)]);
    if (hasTshark) expect(fields(file, 'frame.number')).toHaveLength(n!);
    // capinfos (wiretap) agrees.
    if (hasTshark) expect(execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' })).toMatch(new RegExp(`Number of packets:\\s+${n}\\b`));
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
    if (entries[i]!.payload.length >= 40) expect(ip4 || ip6).not.toBe('');
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
