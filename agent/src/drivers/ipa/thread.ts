// The main thread's handle on an IPA monitor's worker thread (worker.ts), and the messages
// between them. The main thread never sees a packet: it receives bounded snapshots (counters,
// pairs, opcodes, exceptions, top flows, the file list, errors) and log lines.
//
//   worker -> main   snapshot  the first says the pipeline is up; then one per tick (1 s) while
//                              anything moved, and at once (urgent) when a session ends, a read
//                              error comes or goes or the capture fails. At most one is in flight:
//                              the next waits for the ack and carries the latest state, so a busy
//                              main thread makes snapshots coarser, never a queue, never a stall.
//                    stopped   the final snapshot, after the source and the capture file are
//                              closed; the worker then exits.
//   main -> worker   ack       the snapshot was taken;
//                    stop      close the source, write and close the capture file, report, exit.
// A worker that exits without being asked to (an exception, out of memory) is reported through
// failed(): the task turns Failed with the message, it does not stall.
import type { Worker } from 'node:worker_threads';
import { newWorker } from '../../runner/workers.js';
import type { IPALogLevel, IPAPipelineOptions, IPASnapshot } from './pipeline.js';

export interface IPALogLine { level: IPALogLevel; fields: Record<string, unknown>; msg: string }

export interface IPAWorkerData {
  pipeline: IPAPipelineOptions;
  /** Rotation by age and snapshots are checked this often. */
  tickMs: number;
}

export type IPAWorkerMessage =
  | { type: 'snapshot'; snapshot: IPASnapshot; urgent: boolean; logs: IPALogLine[]; droppedLogs: number }
  | { type: 'stopped'; snapshot: IPASnapshot; logs: IPALogLine[]; droppedLogs: number };

export type IPAHostMessage = { type: 'ack' } | { type: 'stop' };

export interface IPAPipelineWorkerHandlers {
  snapshot(s: IPASnapshot, urgent: boolean): void;
  log(line: IPALogLine): void;
  /** The worker went away without being asked to. */
  failed(message: string): void;
}

export interface IPAPipelineWorkerOptions {
  /** Thread name (inspector, diagnostics). */
  name: string;
  /** The first snapshot must come within this long. Default 30 s. */
  startTimeoutMs?: number;
  /** The worker entry (tests substitute their own). Default ./worker.js. */
  entry?: URL;
  /** Heap cap of the thread: a leak fails the task, not the agent. Default 256 MiB. */
  maxHeapMb?: number;
}

/** How stop() went: the last snapshot, and whether the worker left on its own within the deadline. */
export interface IPAStopResult { snapshot?: IPASnapshot; clean: boolean }

const WORKER_ENTRY = new URL('./worker.js', import.meta.url);
const TERMINATE_GRACE_MS = 1_000;

export class IPAPipelineWorker {
  private readonly worker: Worker;
  private last?: IPASnapshot;
  private error?: Error;
  private exited = false;
  private stopRequested = false;
  private onExit: (() => void)[] = [];
  private gotStopped = false;
  private ready?: { resolve: () => void; reject: (err: Error) => void };

  private constructor(data: IPAWorkerData, private readonly handlers: IPAPipelineWorkerHandlers, opts: IPAPipelineWorkerOptions) {
    this.worker = newWorker(opts.entry ?? WORKER_ENTRY, {
      workerData: data, name: opts.name, resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 256 },
      // The pipeline closes every descriptor it opens itself. Node's tracking would close the
      // FIFO's descriptor a second time at exit (it is opened with openSync but closed by its
      // pipe handle), possibly one the main thread got with the same number meanwhile.
      trackUnmanagedFds: false,
    });
    this.worker.on('message', (m: IPAWorkerMessage) => this.onMessage(m));
    this.worker.on('messageerror', (err) => {
      this.error = err;
      void this.worker.terminate();
    });
    this.worker.on('error', (err) => {
      this.error = err;
    });
    this.worker.on('exit', (code) => this.onWorkerExit(code));
  }

  /** Starts a worker; resolves once its pipeline runs (its first snapshot came), rejects if it died or stayed silent. */
  static async start(data: IPAWorkerData, handlers: IPAPipelineWorkerHandlers, opts: IPAPipelineWorkerOptions): Promise<IPAPipelineWorker> {
    const w = new IPAPipelineWorker(data, handlers, opts);
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        w.ready = { resolve, reject };
        timer = setTimeout(() => reject(new Error(`the worker did not start within ${opts.startTimeoutMs ?? 30_000} ms`)), opts.startTimeoutMs ?? 30_000);
      });
    } catch (err) {
      w.stopRequested = true;
      await w.kill();
      throw err;
    } finally {
      clearTimeout(timer);
      w.ready = undefined;
    }
    return w;
  }

  /**
   * Asks the worker to close its source and capture file and exit; resolves when it has, or
   * after `deadlineMs` (the worker is then terminated: `clean` is false).
   */
  async stop(deadlineMs = 5_000): Promise<IPAStopResult> {
    if (this.exited) return { ...(this.last ? { snapshot: this.last } : {}), clean: !this.error };
    this.stopRequested = true;
    this.worker.postMessage({ type: 'stop' } satisfies IPAHostMessage);
    const exited = new Promise<'exited'>((resolve) => this.onExit.push(() => resolve('exited')));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), deadlineMs); });
    // The final snapshot comes first; the thread exits once its loop is empty.
    const outcome = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') await this.kill();
    const clean = outcome === 'exited' && this.gotStopped;
    return { ...(this.last ? { snapshot: this.last } : {}), clean: clean && !this.error };
  }

  private onMessage(m: IPAWorkerMessage): void {
    this.last = m.snapshot;
    for (const line of m.logs) this.handlers.log(line);
    if (m.droppedLogs) this.handlers.log({ level: 'warn', fields: { dropped: m.droppedLogs }, msg: 'log lines of the IPA worker were dropped' });
    if (m.type === 'stopped') {
      this.gotStopped = true;
      return;
    }
    this.handlers.snapshot(m.snapshot, m.urgent);
    this.ready?.resolve();
    if (!this.exited) this.worker.postMessage({ type: 'ack' } satisfies IPAHostMessage);
  }

  private onWorkerExit(code: number): void {
    this.exited = true;
    for (const f of this.onExit.splice(0)) f();
    if (this.stopRequested) return;
    const message = this.error ? `the IPA worker failed: ${this.error.message}` : `the IPA worker exited unexpectedly (code ${code})`;
    if (this.ready) this.ready.reject(new Error(message));
    else this.handlers.failed(message);
  }

  /** terminate(), bounded: a thread stuck in a system call cannot be stopped; it is then let go. */
  private async kill(): Promise<void> {
    if (this.exited) return;
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<void>((resolve) => this.onExit.push(resolve));
    void this.worker.terminate().catch(() => undefined);
    await Promise.race([exited, new Promise<void>((resolve) => { timer = setTimeout(resolve, TERMINATE_GRACE_MS); })]);
    clearTimeout(timer);
    if (!this.exited) this.worker.unref();
  }
}
