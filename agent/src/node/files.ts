// Capture files live under one agent-owned directory, never a user-chosen host path:
//   <dataDir>/<namespace>/<capture>/<node>/<capture>-<seq>.pcapng
// Names come from validated Kubernetes names (DNS labels), so they are safe path parts.
import { readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const SAFE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function captureDir(dataDir: string, namespace: string, capture: string, node: string): string {
  for (const [what, v] of [['namespace', namespace], ['capture', capture], ['node', node]] as const) {
    if (!SAFE.test(v)) throw new Error(`refusing ${what} "${v}" as a path component`);
  }
  return join(dataDir, namespace, capture, node);
}

export interface CaptureFile { name: string; path: string; seq: number; size: number; mtimeMs: number }

/**
 * The capture files of a directory in sequence order. Three parties touch the directory at
 * once (the engine's writer and its own retention, this agent's retention, downloads), so a
 * file or the directory itself may vanish between readdir and stat: such a file is simply not
 * listed.
 */
export function listCaptureFiles(dir: string, prefix: string): CaptureFile[] {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{6,})\\.(pcapng|pcap)$`);
  const out: CaptureFile[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (gone(err)) return [];
    throw err;
  }
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!st) continue;
    out.push({ name, path: join(dir, name), seq: Number(m[1]), size: st.size, mtimeMs: st.mtimeMs });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The sequence number a new segment starts at: after every file already there. */
export function nextSequence(files: CaptureFile[]): number {
  return files.length ? files[files.length - 1]!.seq + 1 : 0;
}

/** Files to delete so that at most maxFiles, maxTotalBytes and maxAgeMs hold (oldest first). */
export function retentionVictims(files: CaptureFile[], r: { maxFiles?: number; maxTotalBytes?: number; maxAgeMs?: number }, now: number, keep?: string): CaptureFile[] {
  const victims = new Set<CaptureFile>();
  const live = () => files.filter((f) => !victims.has(f));
  if (r.maxAgeMs !== undefined) for (const f of files) if (now - f.mtimeMs > r.maxAgeMs && f.path !== keep) victims.add(f);
  if (r.maxFiles !== undefined) for (const f of live().slice(0, Math.max(0, live().length - r.maxFiles))) if (f.path !== keep) victims.add(f);
  if (r.maxTotalBytes !== undefined) {
    let total = live().reduce((a, f) => a + f.size, 0);
    for (const f of live()) {
      if (total <= r.maxTotalBytes) break;
      if (f.path === keep) continue;
      victims.add(f);
      total -= f.size;
    }
  }
  return files.filter((f) => victims.has(f));
}

/** Removes a capture's directory, then its parents up to (not including) root while they are empty. */
export function removeCaptureDir(dir: string, root: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (let d = dirname(dir); d.startsWith(`${root}/`) && d !== root; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty (another capture, node or namespace), or already gone
    }
  }
}
