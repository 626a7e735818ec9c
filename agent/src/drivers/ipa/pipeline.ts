// The per-task pipeline of an IPA monitor: the read loop (source.ts) feeds one walker per writer
// session (walker.ts), every entry is counted (stats.ts) and, with the capture enabled, written
// to rotating pcapng segments (capture.ts). It runs in the task's worker thread (worker.ts); what
// leaves it is snapshot(): bounded counters, the file list and the errors, never a packet.
//
// One writer session of a FIFO is one stream: when its writer closes, the walker ends (a cut
// final record counts as truncatedTail) and a new walker starts on the next writer; the counts
// add up over sessions.
import type { IPAEndpointFilter } from '../../../../crds/src/ipamonitor.js';
import type { ResolvedRetention, ResolvedRotation } from '../../../../crds/src/index.js';
import { IPACaptureFiles, matchesEndpoints } from './capture.js';
import type { IPAFormat } from './decode.js';
import type { NetdevOptions } from './netdev.js';
import { IPAStreamReader, type IPASourceKind } from './source.js';
import { IPAStats, type IPASummary } from './stats.js';
import { emptyErrors, IPAStreamWalker, type IPAEntry, type WalkerCounters } from './walker.js';

/** Everything the pipeline needs, as plain data (it crosses into the worker as workerData). */
export interface IPAPipelineOptions {
  /** The FIFO, character device or recorded file; for a network device, its name. */
  source: string;
  /** Read frames of this network device through the ring engine instead of `source` as a file. */
  netdev?: NetdevOptions;
  format: IPAFormat;
  version: string;
  /** Payload alignment override (spec.source.payloadAlignment); default what the hardware pads to. */
  padAlign?: number;
  endpointNames: Record<number, string>;
  /** Pairs and flows the summary lists (the NodeTask status bounds). */
  topPairs: number;
  topFlows: number;
  capture?: {
    dir: string;
    prefix: string;
    snapLength: number;
    endpoints?: IPAEndpointFilter;
    /** Files an earlier agent of this task wrote, with their packet counts (status.files). */
    knownFiles?: { name: string; packets?: number }[];
    rotation?: ResolvedRotation;
    retention?: ResolvedRetention;
  };
}

export interface IPACaptureFileInfo { name: string; size: number; packets?: number }

/** The bounded state of a running pipeline: what the NodeTask status and the metrics show. */
export interface IPASnapshot {
  summary: IPASummary;
  /** Times the source was opened after the first time. */
  reopens: number;
  /** What the capture wrote (absent without a capture, or once it failed). */
  written?: { packets: number; bytes: number };
  files?: IPACaptureFileInfo[];
  /** The last open/read error while it lasts ("CODE: message"). */
  readError?: string;
  /** Set once writing files failed: counting goes on without them. */
  captureError?: string;
  /** A recorded file was read to its end. */
  replayDone: boolean;
  /** A network device, once its ring was open: frames the ring saw, and frames lost (kernel ring full, engine queues full). */
  ring?: { frames: number; drops: number };
}

export type IPALogLevel = 'info' | 'warn' | 'error';

export interface IPAPipelineEvents {
  /** Something the status should show at once: a session ended, a read error came or went, the capture failed. */
  changed(): void;
  log(level: IPALogLevel, fields: Record<string, unknown>, msg: string): void;
}

function addCounters(a: WalkerCounters, b: WalkerCounters): WalkerCounters {
  const errors = emptyErrors();
  for (const k of Object.keys(errors) as (keyof typeof errors)[]) errors[k] = a.errors[k] + b.errors[k];
  return {
    bytesIn: a.bytesIn + b.bytesIn, walkedBytes: a.walkedBytes + b.walkedBytes, records: a.records + b.records,
    unknownExceptions: a.unknownExceptions + b.unknownExceptions, resyncs: a.resyncs + b.resyncs, skippedBytes: a.skippedBytes + b.skippedBytes,
    errors, bufferedHighWater: Math.max(a.bufferedHighWater, b.bufferedHighWater),
  };
}

const ZERO: WalkerCounters = { bytesIn: 0, walkedBytes: 0, records: 0, unknownExceptions: 0, resyncs: 0, skippedBytes: 0, errors: emptyErrors(), bufferedHighWater: 0 };

export class IPAPipeline {
  private moves = 0;
  private readonly reader: IPAStreamReader;
  private readonly stats: IPAStats;
  private walker: IPAStreamWalker;
  private ended: WalkerCounters = ZERO; // counters of the walkers of finished sessions
  private capture?: IPACaptureFiles;
  private captureError?: string;
  private readError?: string;
  private replayDone = false;
  private lastTs = 0n;

  constructor(private readonly opts: IPAPipelineOptions, private readonly events: IPAPipelineEvents) {
    this.stats = new IPAStats({ format: opts.format, endpointNames: opts.endpointNames, topPairs: opts.topPairs, topFlows: opts.topFlows });
    this.walker = this.newWalker();
    const cap = opts.capture;
    if (cap) {
      this.capture = new IPACaptureFiles({
        dir: cap.dir, prefix: cap.prefix, format: opts.format, version: opts.version, snapLength: cap.snapLength, endpointNames: opts.endpointNames,
        ...(cap.knownFiles ? { knownFiles: cap.knownFiles } : {}),
        ...(cap.rotation ? { rotation: cap.rotation } : {}), ...(cap.retention ? { retention: cap.retention } : {}),
      });
    }
    this.reader = new IPAStreamReader(opts.source, {
      chunk: (b) => this.onChunk(b),
      end: (kind) => this.onEnd(kind),
      error: (err) => this.onError(err),
    }, undefined, opts.netdev);
  }

  start(): void {
    this.reader.start();
  }

  /** Moves on every chunk, end, error, open and rotation: a snapshot is worth sending only when it did. */
  get generation(): number {
    return this.moves + this.reader.opens;
  }

  /**
   * Last resort when the thread dies (an uncaught exception): close the source and the current
   * segment synchronously, so neither the device (single opener) nor a descriptor outlives it.
   * Segments end at a whole block after every read, so the file stays readable.
   */
  abandon(): void {
    this.reader.abandon();
    try {
      this.capture?.close();
    } catch { /* the thread is going away; nothing to report to */ }
  }

  /** Stops reading (the source is closed when this resolves), then writes and closes the current segment. */
  async stop(): Promise<void> {
    await this.reader.stop();
    try {
      this.capture?.close(); // kept: the final snapshot still lists the files and what was written
    } catch (err) {
      this.events.log('error', { err: String(err) }, 'closing the capture file failed');
    }
  }

  /** Rotation by age: call now and then. */
  tick(now = Date.now()): void {
    const cap = this.capture;
    if (!cap) return;
    const before = cap.segments;
    try {
      cap.tick(now);
    } catch (err) {
      this.events.log('warn', { err: String(err) }, 'rotating the capture file failed');
    }
    if (cap.segments !== before) this.moves++;
  }

  snapshot(): IPASnapshot {
    const counters = addCounters(this.ended, this.walker.counters);
    const w = this.capture?.writer;
    const ring = this.reader.ringStats();
    return {
      ...(ring ? { ring } : {}),
      summary: this.stats.summary(counters),
      reopens: this.reader.reopens,
      ...(w ? { written: { packets: w.packets, bytes: w.bytes } } : {}),
      ...(this.capture ? { files: this.capture.files() } : {}),
      ...(this.readError ? { readError: this.readError } : {}),
      ...(this.captureError ? { captureError: this.captureError } : {}),
      replayDone: this.replayDone,
    };
  }

  private newWalker(): IPAStreamWalker {
    return new IPAStreamWalker({ format: this.opts.format, version: this.opts.version, ...(this.opts.padAlign ? { padAlign: this.opts.padAlign } : {}) });
  }

  private onChunk(b: Buffer): void {
    this.moves++;
    if (this.readError) {
      this.readError = undefined;
      this.events.changed();
    }
    this.take(this.walker.push(b));
  }

  private onEnd(kind: IPASourceKind): void {
    // One writer session (or the replayed file) is over: its cut final record is counted now.
    this.moves++;
    const w = this.walker;
    this.take(w.end());
    this.ended = addCounters(this.ended, w.counters);
    this.walker = this.newWalker();
    if (kind === 'file') this.replayDone = true;

    this.events.log('info', { kind, records: this.ended.records }, kind === 'fifo' ? 'the stream writer went away; waiting for the next one' : 'the stream ended');
    this.events.changed();
  }

  private onError(err: Error): void {
    const msg = `${(err as { code?: string }).code ?? 'error'}: ${err.message}`;
    if (msg === this.readError) return;
    this.moves++;
    this.events.log('warn', { source: this.opts.source, err: msg }, 'reading the IPA stream failed; retrying');
    this.readError = msg;
    this.events.changed();
  }

  private take(entries: IPAEntry[]): void {
    if (entries.length === 0) return;
    const now = BigInt(Date.now()) * 1_000_000n;
    const cap = this.capture;
    const filter = this.opts.capture?.endpoints;
    for (const e of entries) {
      this.stats.add(e);
      if (cap && e.packet && matchesEndpoints(e.header, filter)) {
        // Host receive time, kept strictly increasing so packets of one read stay in order.
        this.lastTs = now > this.lastTs ? now : this.lastTs + 1n;
        cap.add(e, this.lastTs);
      }
    }
    if (cap) {
      try {
        cap.flush();
      } catch (err) {
        // A full disk stops the capture, never the counting.
        this.captureError = `writing ${this.opts.capture!.dir} failed: ${(err as Error).message}; counting goes on without files`;
        this.events.log('error', { err: String(err) }, 'capture write failed; capture stopped');
        try { cap.close(); } catch { /* already broken */ }
        this.capture = undefined;
        this.events.changed();
      }
    }
  }
}
