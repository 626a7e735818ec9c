// IPA capture files: the pcapng of one IPAMonitor on one node, cut into segments
// <dir>/<prefix>-<seq>.pcapng (the names PacketCapture uses, agent/src/node/files.ts) by size or age,
// with the same retention (oldest first, never the file being written). Writes are synchronous
// and batched per read (one write per chunk of the stream), so a segment on disk always ends at
// a whole block once a chunk is done.
//
// The blocks are encoded by lib/pcapng (the encoder the merge and the data API use); what is
// the IPA's own is what goes in them, in a form every reader opens: tcpdump and everything
// else built on libpcap, tshark/Wireshark (wiretap), capinfos.
// - One interface, link type LINKTYPE_RAW (101): the payload is the IP packet (version nibble 4
//   or 6), so Wireshark dissects it without a DLT User table. One interface, not one per source
//   endpoint: libpcap (1.10) reads a pcapng only while every IDB of a section has the same link
//   type, and compares the first IDB's type as mapped to a DLT (DLT_RAW, 12) with each later
//   IDB's LINKTYPE_RAW (101), so a second raw-IP IDB makes it refuse the whole file.
// - The endpoints travel with each packet (EPB options):
//     opt_comment (1)   the decoded header as one line of text (formatHeader): src=, dst=,
//                       opcode, exception, ... (tcpdump -v does not print it; tshark shows it
//                       as frame.comment, and the Lua dissector turns it into fields);
//     custom 2989       "custom binary, copyable" with Private Enterprise Number 32473 (the
//                       documentation PEN of RFC 5612, until ringtap has its own): a 4-byte
//                       ringtap prefix [option version 1, format 0=status 1=dplv2 2=dplv3,
//                       flags bit0 = IPA v5 layout, 0] followed by the header bytes verbatim
//                       (32 or 16), so a dissector decodes exactly what the hardware wrote.
//   The IDB's description lists the endpoint names the node knows.
// - caplen = bytes written (the payload, cut to the snap length); origlen = IP total length when
//   the IP header is intact (a truncated replica keeps it), else the payload length.
// - Timestamps: nanosecond resolution (if_tsresol 9), the host's receive time passed by the
//   caller: the header's time-of-day counter has undocumented units, it is in the comment.
// Each file (rotation) starts with its SHB and the IDB, so each file is self-contained.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { IPAEndpointFilter } from '../../../../crds/src/ipamonitor.js';
import { MAX_SNAP_LENGTH, type ResolvedRetention, type ResolvedRotation } from '../../../../crds/src/index.js';
import { OPT_CUSTOM_BIN_COPY } from '../../../../lib/pcapng/format.js';
import { encodeEPB, encodeIDB, encodeSHB } from '../../../../lib/pcapng/write.js';
import { listCaptureFiles, nextSequence, retentionVictims, type CaptureFile } from '../../node/files.js';
import { formatHeader, isV5, type IPAFormat, type IPAHeader } from './decode.js';
import type { IPAEntry } from './walker.js';

export const LINKTYPE_RAW = 101;
export const RINGTAP_PEN = 32473;
export const RINGTAP_OPTION_VERSION = 1;
export const FORMAT_IDS: Readonly<Record<IPAFormat, number>> = { status: 0, dplv2: 1, dplv3: 2 };

export interface IPAPcapngOptions {
  format: IPAFormat;
  version: string;
  snapLength?: number;
  endpointNames?: Readonly<Record<number, string>>;
}

/**
 * The capture's endpoint filter (IPAMonitor spec.capture.endpoints): empty lists match all;
 * with both lists a record must match both. A DPL record has no destination, so a
 * destinations list matches no DPL record (the driver should say so in a condition).
 */
export function matchesEndpoints(h: IPAHeader, f: IPAEndpointFilter | undefined): boolean {
  if (f?.sources?.length && !f.sources.includes(h.srcEndpoint)) return false;
  if (f?.destinations?.length && (h.format !== 'status' || !f.destinations.includes(h.dstEndpoint))) return false;
  return true;
}

/** IPA entries as pcapng blocks (see the top of this file), counting what it wrote. */
export class IPAPcapngWriter {
  readonly snapLength: number;
  packets = 0;
  bytes = 0;
  private readonly prefix: Buffer;

  constructor(private readonly opts: IPAPcapngOptions) {
    this.snapLength = Math.max(1, Math.min(opts.snapLength ?? MAX_SNAP_LENGTH, MAX_SNAP_LENGTH));
    this.prefix = Buffer.from([RINGTAP_OPTION_VERSION, FORMAT_IDS[opts.format], opts.format === 'status' && isV5(opts.version) ? 1 : 0, 0]);
  }

  /** The Section Header Block and the one Interface Description Block that start a file. */
  startFile(): Buffer {
    const names = Object.entries(this.opts.endpointNames ?? {}).map(([id, n]) => `${id}=${n}`).join(',');
    return Buffer.concat([
      encodeSHB('ringtap ipa-monitor'),
      encodeIDB({
        linkType: LINKTYPE_RAW,
        snapLen: this.snapLength,
        name: 'ipa',
        description: `IPA ${this.opts.version} ${this.opts.format} stream; the endpoints of each packet are in its comment${names ? `; endpoint names ${names}` : ''}`,
      }),
    ]);
  }

  /** The EPB for one entry (on interface 0), or undefined if it is not a packet. */
  packet(e: IPAEntry, tsNs: bigint): Buffer | undefined {
    if (!e.packet) return undefined;
    const caplen = Math.min(e.payload.length, this.snapLength);
    const comment = formatHeader(e.header) + (e.truncated ? ` truncated=${e.payload.length}/${e.origLen}` : '');
    const b = encodeEPB(0, tsNs, Math.max(e.origLen, caplen), e.payload.subarray(0, caplen), undefined, {
      comments: [comment],
      custom: [{ code: OPT_CUSTOM_BIN_COPY, pen: RINGTAP_PEN, data: [this.prefix, e.headerBytes] }],
    });
    this.packets++;
    this.bytes += caplen;
    return b;
  }
}

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
