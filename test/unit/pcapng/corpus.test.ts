// The reader over third-party capture corpora, packet by packet against Wireshark's wiretap and
// libpcap: the pcapng test suite of pcapng-test-generator (the files Wireshark's own tests use)
// and tcpdump's test captures that exercise a reader (every pcapng, every pcap that is not
// little-endian microseconds, every link-type word with high bits set); see
// test/fixtures/pcap-corpus/import.sh. wiretap is read through editcap, or through tshark where a
// pcap cannot hold the file (several link types, times past 2106); libpcap through tcpdump.
//
// libpcap reads one link type and one snap length per file: files with more are left out of its
// comparison (it refuses them, we read them as wiretap does). tshark shows Custom and Decryption
// Secrets Blocks as frames without an interface; they are not packets, and are left out.
// Where a tool and we differ on purpose, KNOWN says why and who is right; anything else fails.
import { describe, expect, it, jest } from '@jest/globals';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { mergeCaptures, readCapture, writeMerged, type MergeSource } from '../../../lib/pcapng/index.js';
import { chunks, readAll, type ReadResult } from './bytes.js';
import { epochNs, libpcapRead, tsharkFields, wiretapRead } from './tools.js';

// Deadlines, not measurements: a file may need tshark (a second or more on a busy machine) besides editcap and tcpdump.
jest.setTimeout(120_000);

const corpus = resolve(import.meta.dirname, '../../fixtures/pcap-corpus');
const files = [
  ...['output_le', 'output_be'].flatMap((d) => readdirSync(join(corpus, 'pcapng-test-generator', d), { recursive: true }).map(String).filter((f) => f.endsWith('.pcapng')).map((f) => join('pcapng-test-generator', d, f))),
  ...readdirSync(join(corpus, 'tcpdump')).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => join('tcpdump', f)),
].sort();

const LIBPCAP_CUTS = 'libpcap cuts a record longer than the file header\'s snap length to it; wiretap and we keep every byte the record holds (the file says how long it is)';
/** Per file and tool: where we differ on purpose. */
const KNOWN: Record<string, { wiretap?: string; libpcap?: string }> = {
  'tcpdump/802_15_4-oobr-1.pcap': { libpcap: LIBPCAP_CUTS },
  'tcpdump/802_15_4_beacon.pcap': { libpcap: LIBPCAP_CUTS },
  'tcpdump/bootp_asan.pcap': { libpcap: LIBPCAP_CUTS },
  'tcpdump/ieee802.11_meshhdr-oobr.pcap': { libpcap: LIBPCAP_CUTS },
  'tcpdump/atm-oam-heapoverflow.pcap': { wiretap: 'wiretap rewrites the SunATM pseudo-header when it writes a pcap (an editcap artifact); we pass the record\'s bytes on as they are' },
  'tcpdump/time_2106_overflow.pcapng': { libpcap: 'libpcap wraps times past 2106 to 32 bits (tcpdump shows 2107 as 1970); tshark reads the times we read' },
  'tcpdump/time_2107.pcapng': { libpcap: 'libpcap wraps times past 2106 to 32 bits (tcpdump shows 2107 as 1970); tshark reads the times we read' },
  'tcpdump/hoobr_juniper3.pcap': { wiretap: 'wiretap refuses link type 132, which it does not know; the merge needs no link type knowledge and keeps the packets (libpcap reads them too)' },
  'tcpdump/juniper_es_oobr.pcap': { wiretap: 'wiretap refuses link type 132, which it does not know; the merge needs no link type knowledge and keeps the packets (libpcap reads them too)' },
};

type Row = (string | number)[];
const big = (v: bigint | 'none') => (typeof v === 'bigint' ? v.toString() : v);

function oursRows(r: ReadResult, withData: boolean): Row[] {
  return r.packets.map((p) => [big(p.noTimestamp ? 'none' : p.tsNs), p.caplen, p.origLen, ...(withData ? [p.data.toString('hex')] : [])]);
}

/** wiretap's packets: from editcap's pcap with their bytes, or from tshark's fields where a pcap cannot hold them. */
function wiretapRows(path: string, r: ReadResult): { via: string; rows: Row[]; withData: boolean; error?: string } {
  const w = wiretapRead(path);
  const pastPcap = r.packets.some((p) => p.tsNs >= (1n << 32n) * 1_000_000_000n) ? 'times past 2106' : undefined;
  const cannot = w.unconvertible ?? (/network type that differs/.test(w.error ?? '') ? w.error : undefined) ?? pastPcap;
  if (!cannot) return { via: 'editcap', rows: w.packets.map((p, i) => [big(r.packets[i]?.noTimestamp ? 'none' : p.tsNs), p.caplen, p.origLen, p.data.toString('hex')]), withData: true, ...(w.error ? { error: w.error } : {}) };
  const t = tsharkFields(path, ['frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.interface_id']);
  const rows = t.rows.filter((f) => r.stats.format !== 'pcapng' || f[3] !== '').map((f) => [f[0] ? big(epochNs(f[0])) : 'none', Number(f[1]), Number(f[2])]);
  return { via: 'tshark', rows, withData: false, ...(t.error ? { error: t.error } : {}) };
}

describe('third-party corpus', () => {
  it('is there', () => {
    expect(files.length).toBeGreaterThan(150);
  });

  it.each(files)('%s: the packets wiretap and libpcap read', async (f) => {
    const path = join(corpus, f);
    const r = await readAll(readFileSync(path), 4096, { damage: true });
    const known = KNOWN[f] ?? {};
    if (!known.wiretap) {
      const w = wiretapRows(path, r);
      expect({ via: w.via, rows: oursRows(r, w.withData), error: !!r.damage }).toEqual({ via: w.via, rows: w.rows, error: !!w.error });
    }
    const l = libpcapRead(path);
    const refused = /an interface has a (type|snapshot length) .* different from/.test(l.error ?? '');
    if (!known.libpcap && !refused && !l.unconvertible) {
      expect({ rows: oursRows(r, true), error: !!r.damage }).toEqual({
        rows: l.packets.map((p, i) => [big(r.packets[i]?.noTimestamp ? 'none' : p.tsNs), p.caplen, p.origLen, p.data.toString('hex')]),
        error: !!l.error,
      });
    }
  });

  it('merges every file of it into one pcapng that tshark reads whole, in time order', async () => {
    // Files wiretap refuses (a link type it does not know) stay out: tshark would stop there.
    const usable = files.filter((f) => !KNOWN[f]?.wiretap?.includes('does not know'));
    const sources: MergeSource[] = [];
    let expected = 0;
    for (const f of usable) {
      const r = await readAll(readFileSync(join(corpus, f)), 4096, { damage: true });
      expected += r.packets.length;
      sources.push({ label: `node=${f.replace(/[^a-z0-9]+/gi, '-')}`, events: readCapture(chunks(readFileSync(join(corpus, f)), 4096), undefined, { statistics: true, onDamage: () => undefined }) });
    }
    const dir = mkdtempSync(join(tmpdir(), 'ringtap-corpus-'));
    try {
      const path = join(dir, 'all.pcapng');
      // Fuzzed files go back in time: a window as wide as time itself sorts them whole.
      const summary = await writeMerged(mergeCaptures(sources, { slackNs: 1n << 64n, statistics: true }), createWriteStream(path));
      expect(summary.packets).toBe(expected);
      const t = tsharkFields(path, ['frame.time_epoch']);
      expect(t.error).toBeUndefined();
      expect(t.rows).toHaveLength(expected);
      const times = t.rows.map((row) => epochNs(row[0]!));
      expect(times).toEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
