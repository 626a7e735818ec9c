// The shipped Wireshark dissector (cli/wireshark/ringtap_ipa.lua) run by tshark, which nobody
// here wrote, on pcapng files of simulator streams: every packet's fields, parsed by the Lua
// script from the packet comment, equal the TypeScript decoder's header for that packet; read as
// a file ("MIME Files Format"), the script decodes the custom option 2989 bytes to the same
// fields. Skipped only when tshark is absent.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dstOf, exceptionName, exceptionOf, isIPv6Status, opcodeName, type IPAFormat } from '../../../agent/src/drivers/ipa/decode.js';
import { IPAPcapngWriter } from '../../../agent/src/drivers/ipa/capture.js';
import { IPAStreamWalker, type IPAEntry } from '../../../agent/src/drivers/ipa/walker.js';
import { repoRoot } from '../../support/cluster.js';
import { defaultMix, simulate } from '../../../hack/ipa-sim/sim.js';

const script = join(repoRoot, 'cli/wireshark/ringtap_ipa.lua');
let tshark = true;
try {
  execFileSync('tshark', ['--version'], { stdio: 'ignore' });
} catch {
  tshark = false;
}
const maybe = tshark ? test : test.skip;
if (!tshark) console.log('skipped: tshark is not installed');

function capture(format: IPAFormat, version: string, file: string): IPAEntry[] {
  const mix = defaultMix(format);
  if (version.startsWith('5')) mix.flows.push({ src: 40, dst: 200, proto: 'udp', packets: 3, size: 90 }); // 8-bit endpoints of v5
  const { stream } = simulate(mix, { format, version });
  const w = new IPAStreamWalker({ format, version });
  const pcap = new IPAPcapngWriter({ format, version });
  const out = [pcap.startFile()];
  const packets: IPAEntry[] = [];
  let ts = 1_700_000_000_000_000_000n;
  for (const e of [...w.push(stream), ...w.end()]) {
    const b = pcap.packet(e, ts++);
    if (b) {
      out.push(b);
      packets.push(e);
    }
  }
  writeFileSync(file, Buffer.concat(out));
  return packets;
}

const FIELDS = ['ringtap_ipa.source', 'ringtap_ipa.format', 'ringtap_ipa.opcode_name', 'ringtap_ipa.exception_name', 'ringtap_ipa.src', 'ringtap_ipa.dst', 'ringtap_ipa.len', 'ringtap_ipa.seq'];

function tsharkRows(file: string, extra: string[]): string[][] {
  const out = execFileSync('tshark', ['-X', `lua_script:${script}`, ...extra, '-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', ...FIELDS.flatMap((f) => ['-e', f]), '-e', 'ringtap_ipa.truncated', '-e', 'ip.version'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20,
  });
  return out.split('\n').filter(Boolean).map((l) => l.split('\t'));
}

function want(e: IPAEntry): string[] {
  const h = e.header;
  const exc = exceptionOf(h);
  const dst = dstOf(h);
  return ['comment', h.format, opcodeName(h.opcode), exc < 0 ? '' : exceptionName(exc, h.format === 'status' && isIPv6Status(h.mask)), String(h.srcEndpoint), dst < 0 ? '' : String(dst), String(h.pktLen), String(h.seq)];
}

describe('Wireshark dissector (tshark 4.0 + cli/wireshark/ringtap_ipa.lua)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-ipa-ws-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [format, version] of [['status', '4.9'], ['status', '5.0'], ['dplv2', '4.2'], ['dplv3', '4.11']] as const) {
    maybe(`${format} ${version}: comment fields per packet, IP payloads decode, custom option decodes to the same header`, () => {
      const file = join(dir, `${format}-${version}.pcapng`);
      const packets = capture(format, version, file);
      const rows = tsharkRows(file, []);
      expect(rows).toHaveLength(packets.length);
      rows.forEach((r, i) => {
        const e = packets[i]!;
        expect(r.slice(0, FIELDS.length)).toEqual(want(e));
        expect(r[FIELDS.length]).toBe(e.truncated ? '1' : '0');
        if (e.payload.length >= 40) expect(['4', '6']).toContain(r[FIELDS.length + 1]); // the payload dissects as IP
      });
      // The file view: one frame holding every block; one decoded option per packet, in order.
      const [whole] = tsharkRows(file, ['-X', 'read_format:MIME Files Format']);
      const col = (name: string) => whole![FIELDS.indexOf(name)]!.split('|');
      expect(col('ringtap_ipa.source')).toEqual(packets.map(() => 'option'));
      expect(col('ringtap_ipa.opcode_name')).toEqual(packets.map((e) => opcodeName(e.header.opcode)));
      expect(col('ringtap_ipa.src')).toEqual(packets.map((e) => String(e.header.srcEndpoint)));
      expect(col('ringtap_ipa.len')).toEqual(packets.map((e) => String(e.header.pktLen)));
      if (format === 'status') expect(col('ringtap_ipa.dst')).toEqual(packets.map((e) => String(dstOf(e.header))));
    }, 60_000);
  }
});
