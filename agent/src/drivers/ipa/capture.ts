// IPA capture files: the pcapng of one IPAMonitor on one node, cut into segments
// <dir>/<prefix>-<seq>.pcapng (the names PacketCapture uses, agent/src/node/files.ts) by size or age,
// with the same retention (oldest first, never the file being written). Writes are synchronous
// and batched per read (one write per chunk of the stream), so a segment on disk always ends at
// a whole block once a chunk is done.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedRetention, ResolvedRotation } from '../../../../crds/src/index.js';
import { listCaptureFiles, nextSequence, retentionVictims, type CaptureFile } from '../../node/files.js';
import { IPAPcapngWriter, type IPAPcapngOptions } from './pcapng.js';
import type { IPAEntry } from './walker.js';

export interface IPACaptureOptions extends IPAPcapngOptions {
  dir: string;
  prefix: string;
  /** Packet counts of files an earlier agent wrote (the task's status.files), kept in files(). */
  knownFiles?: { name: string; packets?: number }[];
  rotation?: ResolvedRotation;
  retention?: ResolvedRetention;
}

interface Segment { path: string; name: string; fd: number; bytes: number; packets: number; openedAt: number }

export class IPACaptureFiles {
  readonly writer: IPAPcapngWriter;
  /** Segments opened so far (a rotation opens one). */
  segments = 0;
  /** Packets per file name, for the files this task wrote (the status lists them). */
  private readonly packetsByFile = new Map<string, number>();
  private seg?: Segment;
  private seq: number;
  private pending: Buffer[] = [];
  private pendingLen = 0;

  constructor(private readonly opts: IPACaptureOptions) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
    this.writer = new IPAPcapngWriter(opts);
    const existing = listCaptureFiles(opts.dir, opts.prefix);
    // An agent killed mid-write may have left a torn last block: cut it, so every reader opens the file.
    const newest = existing[existing.length - 1];
    if (newest) repairPcapngTail(newest.path);
    for (const f of opts.knownFiles ?? []) if (f.packets !== undefined) this.packetsByFile.set(f.name, f.packets);
    this.seq = nextSequence(existing);
  }

  /** Adds one entry's blocks (if it is a packet); they reach the file at flush(). */
  add(e: IPAEntry, tsNs: bigint): boolean {
    if (!e.packet) return false;
    if (!this.seg) this.open();
    // Rotate once a segment reached its size (a segment ends at most one packet over it).
    const limit = this.opts.rotation?.fileSizeBytes;
    if (limit !== undefined && this.seg!.packets > 0 && this.seg!.bytes + this.pendingLen >= limit) this.rotate();
    const blocks = this.writer.packet(e, tsNs);
    if (!blocks) return false;
    const s = this.seg!;
    this.pending.push(blocks);
    this.pendingLen += blocks.length;
    s.packets++;
    this.packetsByFile.set(s.name, s.packets);
    return true;
  }

  /** Writes what add() collected. */
  flush(): void {
    if (!this.seg || this.pendingLen === 0) return;
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    let off = 0;
    while (off < b.length) off += writeSync(this.seg.fd, b, off);
    this.seg.bytes += b.length;
  }

  /** Rotation by age: call now and then. */
  tick(now = Date.now()): void {
    const d = this.opts.rotation?.fileDurationSeconds;
    if (d !== undefined && this.seg && this.seg.packets > 0 && now - this.seg.openedAt >= d * 1000) this.rotate();
  }

  /** Files kept, oldest first, with packet counts for those this task wrote. */
  files(max = 64): { name: string; size: number; packets?: number }[] {
    return listCaptureFiles(this.opts.dir, this.opts.prefix).slice(-max).map((f) => {
      const n = this.packetsByFile.get(f.name);
      return { name: f.name, size: f.name === this.seg?.name ? this.seg.bytes : f.size, ...(n !== undefined ? { packets: n } : {}) };
    });
  }

  close(): void {
    if (!this.seg) return;
    this.flush();
    closeSync(this.seg.fd);
    this.seg = undefined;
  }

  private open(): void {
    const name = `${this.opts.prefix}-${String(this.seq++).padStart(6, '0')}.pcapng`;
    const path = join(this.opts.dir, name);
    const fd = openSync(path, 'wx', 0o640);
    const shb = this.writer.startFile();
    writeSync(fd, shb);
    this.seg = { path, name, fd, bytes: shb.length, packets: 0, openedAt: Date.now() };
    this.segments++;
    this.packetsByFile.set(name, 0);
    this.applyRetention();
  }

  private rotate(): void {
    this.close();
    this.open();
  }

  private applyRetention(): void {
    const r = this.opts.retention;
    if (!r) return;
    const files: CaptureFile[] = listCaptureFiles(this.opts.dir, this.opts.prefix);
    const victims = retentionVictims(files, {
      ...(r.maxFiles !== undefined ? { maxFiles: r.maxFiles } : {}),
      ...(r.maxTotalBytes !== undefined ? { maxTotalBytes: r.maxTotalBytes } : {}),
      ...(r.maxAgeSeconds !== undefined ? { maxAgeMs: r.maxAgeSeconds * 1000 } : {}),
    }, Date.now(), this.seg?.path);
    for (const f of victims) {
      rmSync(f.path, { force: true });
      this.packetsByFile.delete(f.name);
    }
  }
}

/**
 * Truncates a little-endian pcapng (what IPAPcapngWriter writes) to its last whole block: a
 * block whose total length is plausible and repeated at its end. Returns the bytes removed.
 */
export function repairPcapngTail(path: string): number {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return 0;
  }
  let off = 0;
  while (off + 12 <= b.length) {
    const len = b.readUInt32LE(off + 4);
    if (len < 12 || len % 4 !== 0 || off + len > b.length || b.readUInt32LE(off + len - 4) !== len) break;
    off += len;
  }
  if (off === b.length) return 0;
  truncateSync(path, off);
  return b.length - off;
}
