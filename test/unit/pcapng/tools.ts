// What capture tools nobody here wrote make of a file: Wireshark's wiretap (through editcap,
// capinfos and tshark) and libpcap (through tcpdump). editcap and tcpdump rewrite the file as a
// nanosecond pcap, read here with a dozen lines of their own, so a whole corpus is checked per
// packet without a tshark start (about a second) per file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ToolPacket { tsNs: bigint; caplen: number; origLen: number; data: Buffer }
export interface ToolRead {
  packets: ToolPacket[];
  /** The tool's complaint, when it stopped at an error (after `packets`). */
  error?: string;
  /** The tool could not convert the file at all (several link types, an unknown one): no packets to compare. */
  unconvertible?: string;
}

/** A nanosecond pcap (either byte order) as records; what both tools write. */
export function parseNsecPcap(b: Buffer): ToolPacket[] {
  if (b.length < 24) return [];
  const le = b.readUInt32LE(0) === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`not a nanosecond pcap: 0x${b.readUInt32LE(0).toString(16)}`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out: ToolPacket[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = u32(o + 8);
    out.push({ tsNs: BigInt(u32(o)) * 1_000_000_000n + BigInt(u32(o + 4)), caplen, origLen: u32(o + 12), data: b.subarray(o + 16, o + 16 + caplen) });
    o += 16 + caplen;
  }
  return out;
}

function convert(cmd: string, args: (out: string) => string[], okStatus: (status: number | null, stderr: string) => boolean): ToolRead {
  const dir = mkdtempSync(join(tmpdir(), 'ringtap-tool-'));
  try {
    const out = join(dir, 'out.pcap');
    const r = spawnSync(cmd, args(out), { encoding: 'utf8' });
    const stderr = (r.stderr ?? '').split('\n').filter((l) => l && !l.startsWith('reading from file')).join('\n').trim();
    let bytes: Buffer;
    try {
      bytes = readFileSync(out);
    } catch {
      return { packets: [], unconvertible: stderr || `${cmd} wrote nothing` };
    }
    return { packets: parseNsecPcap(bytes), ...(okStatus(r.status, stderr) ? {} : { error: stderr }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wireshark's reading (wiretap, as tshark reads), through editcap. */
export function wiretapRead(file: string): ToolRead {
  // editcap exits 0 after a read error; only its complaint says so.
  const r = convert('editcap', (out) => ['-F', 'nsecpcap', file, out], (status, stderr) => status === 0 && stderr === '');
  // editcap refuses before writing a packet when the file has several link types or one pcap cannot hold.
  if (r.error && /encapsulation|per-packet|can't be saved|can't be written|network type that differs|unknown or unsupported/i.test(r.error)) return { packets: [], unconvertible: r.error };
  return r;
}

/** libpcap's reading, through tcpdump. */
export function libpcapRead(file: string): ToolRead {
  return convert('tcpdump', (out) => ['--time-stamp-precision=nano', '-r', file, '-w', out], (status) => status === 0);
}

/** tshark's fields, one row per frame; its complaint, if any, apart. */
export function tsharkFields(file: string, fields: string[]): { rows: string[][]; error?: string } {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  const rows = (r.stdout ?? '').split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  const error = (r.stderr ?? '').split('\n').filter((l) => l && !l.startsWith('Running as user')).join('\n').trim();
  return { rows, ...(error ? { error } : {}) };
}

export function capinfos(file: string, flags: string[]): string {
  return spawnSync('capinfos', [...flags, file], { encoding: 'utf8' }).stdout ?? '';
}

/** tshark's frame.time_epoch ("s.nnnnnnnnn") as nanoseconds. */
export function epochNs(s: string): bigint {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9));
}

/** wiretap's file type and packet count (capinfos), for files a pcap cannot hold; capinfos counts Custom Blocks as packets too. */
export function wiretapCount(file: string): { type: string; packets: number; error?: string } {
  const r = spawnSync('capinfos', ['-M', '-c', '-t', file], { encoding: 'utf8' });
  const type = /File type:\s+(\S+)/.exec(r.stdout ?? '')?.[1] ?? '';
  const packets = Number(/Number of packets:\s+(\d+)/.exec(r.stdout ?? '')?.[1] ?? 0);
  const error = (r.stderr ?? '').trim();
  return { type, packets, ...(error ? { error } : {}) };
}
