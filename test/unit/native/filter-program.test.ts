// The classic BPF that tc mirrors attach comes from the addon's pcap_compile, in process: for
// every filter it equals what tcpdump (an independent libpcap user) prints with -ddd for the same
// link type and snap length, read from an empty capture file of that link type.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_SNAP_LENGTH } from '../../../crds/src/index.js';
import { type BpfInsn, compileFilterProgram } from '../../../lib/native/filter.js';
import { isNativeError, NativeErrorCode } from '../../../lib/native/addon.js';
import { removeDir, tempDir } from './helpers.js';

const dir = tempDir('bpfprog');
afterAll(() => removeDir(dir));

/** An empty pcap file (header only) of the link type and snap length. */
function emptyPcap(linkType: number, snaplen: number): string {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(snaplen, 16);
  hdr.writeUInt32LE(linkType, 20);
  const p = join(dir, `empty-${linkType}-${snaplen}.pcap`);
  writeFileSync(p, hdr);
  return p;
}

/** `tcpdump -ddd`: a count line, then `code jt jf k` per instruction. */
function tcpdumpProgram(filter: string, linkType: number, snaplen: number): BpfInsn[] {
  const out = execFileSync('tcpdump', ['-ddd', '-s', String(snaplen), '-r', emptyPcap(linkType, snaplen), '--', filter], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [count, ...lines] = out.trim().split('\n');
  const insns = lines.map((l) => {
    const [code, jt, jf, k] = l.trim().split(/\s+/).map(Number);
    return { code: code!, jt: jt!, jf: jf!, k: k! };
  });
  expect(insns.length).toBe(Number(count));
  return insns;
}

const ETHERNET = 1;
// Link types whose LINKTYPE_ (file) and DLT_ (pcap_open_dead) numbers are the same.
const SLL = 113; // Linux cooked capture
const IPV4 = 228; // IPv4 without a link header
const FILTERS = [
  'icmp',
  'icmp[icmptype] == icmp-echo and dst host 10.1.2.3',
  'tcp port 443 or udp port 53',
  'not (dst host 100.64.0.12 and udp dst port 4789)',
  '(not (dst host 100.64.0.12 and udp dst port 4789)) and (tcp)',
  'vlan and ip',
  'arp or ip6',
  'greater 500',
  'ether dst 02:00:00:00:00:01',
  'tcp[tcpflags] & (tcp-syn|tcp-fin) != 0',
  'net 10.0.0.0/8 and portrange 1000-2000',
  'ip6 and icmp6',
];

describe('compileFilterProgram equals tcpdump -ddd', () => {
  test.each(FILTERS)('Ethernet, snap length 262144: %s', (filter) => {
    expect(compileFilterProgram(filter)).toEqual(tcpdumpProgram(filter, ETHERNET, MAX_SNAP_LENGTH));
  });

  test.each([['udp port 53', SLL, 1500], ['tcp', ETHERNET, 96], ['host 192.0.2.1', IPV4, 65535]] as const)('%s at link type %i, snap length %i', (filter, linkType, snaplen) => {
    const prog = compileFilterProgram(filter, { linkType, snaplen });
    expect(prog).toEqual(tcpdumpProgram(filter, linkType, snaplen));
    expect(prog.some((i) => i.code === 6 && i.k === snaplen)).toBe(true); // accept returns the snap length
  });

  test('a filter libpcap refuses throws ERR_RINGTAP_BAD_FILTER with its message', () => {
    let err: unknown;
    try {
      compileFilterProgram('tcp port ((');
    } catch (e) {
      err = e;
    }
    expect(isNativeError(err, NativeErrorCode.badFilter)).toBe(true);
    expect((err as Error).message).toMatch(/syntax error/);
  });
});
