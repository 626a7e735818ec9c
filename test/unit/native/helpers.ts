// Shared helpers for the native engine tests: deadlines, file readers (tcpdump/tshark), traffic.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { udpFrame } from '../../support/frames.js';
import type { VethPair } from '../../support/netns.js';

/** Polls `cond` until it holds or the deadline passes (then throws with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `ringtap-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** tcpdump -r: one line per packet; throws if tcpdump reports an error (e.g. a truncated file). */
export function tcpdumpLines(file: string, filter?: string, extra: string[] = []): string[] {
  const args = ['-n', '-r', file, ...extra];
  if (filter) args.push(filter);
  const r = spawnSync('tcpdump', args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`tcpdump -r ${file} failed (${r.status}): ${r.stderr}`);
  if (/truncated|cut short|bogus/i.test(r.stderr)) throw new Error(`tcpdump: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

/** tshark fields, one array per packet; throws on any tshark complaint about the file. */
export function tsharkFields(file: string, fields: string[], filter?: string): string[][] {
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=|'];
  for (const f of fields) args.push('-e', f);
  if (filter) args.push('-Y', filter);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  const stderr = r.stderr.replace(/Running as user "root".*\n?/g, '');
  if (r.status !== 0 || /cut short|malformed|corrupt|isn't a capture file/i.test(stderr)) {
    throw new Error(`tshark -r ${file} failed (${r.status}): ${stderr}`);
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

/** capinfos machine-readable summary (-T -r): field -> value. */
export function capinfos(file: string): Record<string, string> {
  const out = execFileSync('capinfos', ['-T', '-m', '-r', '-c', '-E', '-F', file], { encoding: 'utf8' });
  const [header, values] = [out.split('\n')[0] ?? '', out.split('\n')[1] ?? ''];
  const keys = header.split(',');
  const vals = values.split(',');
  return Object.fromEntries(keys.map((k, i) => [k, vals[i] ?? '']));
}

/** Counts packets per UDP destination port (tcpdump's "ip.port > ip.port: UDP" lines). */
export function udpCountsByDstPort(file: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of tcpdumpLines(file, 'udp')) {
    const m = / > [\d.]+\.(\d+): UDP/.exec(line);
    if (!m) continue;
    const port = Number(m[1]);
    counts.set(port, (counts.get(port) ?? 0) + 1);
  }
  return counts;
}

export const FOREIGN_MAC = '02:00:00:00:00:02';

/** UDP frames from A towards B, one per destination port; a foreign destination MAC keeps B's stack out. */
export function flowFrames(pair: VethPair, ports: number[], frameLength = 64, dstMac = FOREIGN_MAC): Buffer[] {
  return ports.map((p) =>
    udpFrame({
      srcMac: pair.macA,
      dstMac,
      srcIp: pair.ipA,
      dstIp: pair.ipB,
      srcPort: 40000,
      dstPort: p,
      frameLength,
    }),
  );
}

/** Threads and open fds of this process, for leak checks around close(). */
export function countThreads(): number {
  return readdirSync('/proc/self/task').length;
}
export function countFds(): number {
  return readdirSync('/proc/self/fd').length;
}
