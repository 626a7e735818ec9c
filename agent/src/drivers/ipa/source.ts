// The read loop of an IPA monitor stream: bytes from a character device, a FIFO or a recorded
// file, handed to a consumer one read at a time. It runs in the task's worker thread
// (./worker.ts), so everything here must let that thread stop at once: no read may stay
// blocked on a descriptor that stop() cannot close.
//
//   FIFO        opened O_RDONLY|O_NONBLOCK (so opening never blocks a libuv thread waiting for a
//               writer) and read through a pipe handle (epoll). When the writer closes, the
//               stream ends (the consumer ends its walker: a cut record is a truncated tail) and
//               the FIFO is opened again for the next writer. A reader opened before any writer
//               sees no hang-up until a writer came and went, so an idle FIFO costs nothing.
//   char device opened O_RDONLY|O_NONBLOCK|O_NOCTTY and read without blocking: a character
//               device has no pipe handle in Node (libuv takes it for a file), and a blocking
//               read on the thread pool cannot be cancelled: it would keep the device open (the
//               monitor device has a single opener: the next open gets EBUSY) and keep the
//               worker from exiting until the device delivers bytes. Reads follow each other
//               while bytes come; on EAGAIN the loop pauses 1 ms, doubling to 10 ms while idle.
//               An end (read returns 0) or a read error reopens it after a pause.
//   file        a replay: read to its end once.
//   netdev      frames on a network device through the ring engine (netdev.ts): each frame's
//               elements are one chunk. If the device goes away the stream ends and the ring is
//               opened again after a pause (it fails, and is retried, until the device is back).
// Backpressure: the next read waits for the consumer's promise, so a slow consumer slows the
// reader and, through the pipe or the device's own queue, the writer; nothing piles up here.
// A failing open or read is counted and retried with a doubling pause (capped); it never
// throws out of the loop.
import { closeSync, constants, createReadStream, openSync, read, type ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { openNetdev, type NetdevOptions, type NetdevSource } from './netdev.js';
import type { CaptureStats } from '../../native.js';

export type IPASourceKind = 'fifo' | 'device' | 'file' | 'netdev';

export interface IPASourceHandlers {
  /** One read's bytes. The next read waits for the returned promise. */
  chunk(b: Buffer): void | Promise<void>;
  /** The writer went away (FIFO), the device ended, or the file was read to its end. */
  end(kind: IPASourceKind): void;
  /** Opening or reading failed; the loop retries. */
  error(err: Error): void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
const DEVICE_IDLE_MIN_MS = 1;
const DEVICE_IDLE_MAX_MS = 10;

/** An open source: its chunks, and how to let go of it. */
interface OpenSource {
  chunks: AsyncIterable<Buffer>;
  close(): void;
}

export class IPAStreamReader {
  /** Times the source was opened after the first time. */
  reopens = 0;
  /** Times the source was opened. */
  opens = 0;
  kind?: IPASourceKind;
  private stopped = false;
  private current?: OpenSource;
  private done: Promise<void> = Promise.resolve();
  private wake?: () => void;

  private ring?: NetdevSource;

  /** `path` names the source (the device, FIFO or file; for a network device, its name); `netdev` selects the ring. */
  constructor(readonly path: string, private readonly handlers: IPASourceHandlers, private readonly highWaterMark = 64 << 10, private readonly netdev?: NetdevOptions) {}

  private ringClosed = { frames: 0, drops: 0 };
  private ringOpened = false;

  /** A network device once its ring was open: frames its rings saw and lost (kernel ring full, engine queues full), over every open; else undefined. */
  ringStats(): { frames: number; drops: number } | undefined {
    if (!this.netdev || !this.ringOpened) return undefined;
    const live = this.ring ? ringCounts(this.ring.stats()) : { frames: 0, drops: 0 };
    return { frames: this.ringClosed.frames + live.frames, drops: this.ringClosed.drops + live.drops };
  }

  start(): void {
    this.done = this.loop();
  }

  /** Stops reading and resolves once the loop has left and the source is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.close();
    this.wake?.();
    await this.done;
  }

  /** The thread is going away (an uncaught exception): let go of the source now, synchronously. */
  abandon(): void {
    this.stopped = true;
    this.current?.close();
  }

  private async loop(): Promise<void> {
    let retry = RETRY_MIN_MS;
    let opened = 0;
    while (!this.stopped) {
      let ok = false;
      try {
        if (this.netdev) this.kind = 'netdev';
        else {
          const st = await stat(this.path);
          this.kind = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'device' : 'file';
        }
        const src = await this.openSource(this.kind);
        this.opens++;
        if (opened++ > 0) this.reopens++;
        this.current = src;
        if (this.stopped) {
          // stop() came while the source was opening: it had nothing to close yet.
          src.close();
          this.current = undefined;
          break;
        }
        for await (const chunk of src.chunks) {
          if (this.stopped) break;
          await this.handlers.chunk(chunk);
          ok = true;
        }
        src.close();
        this.current = undefined;
        if (this.stopped) break;
        this.handlers.end(this.kind);
        if (this.kind === 'file') return; // a replay is read once
        if (ok) retry = RETRY_MIN_MS;
        // A FIFO is reopened at once (the next open waits for the next writer without a
        // hang-up); a device or network device that ended is given a pause.
        if (this.kind === 'device' || this.kind === 'netdev') await this.pause(retry);
      } catch (err) {
        this.current?.close();
        this.current = undefined;
        if (this.stopped) break;
        this.handlers.error(err as Error);
        await this.pause(retry);
        retry = Math.min(retry * 2, RETRY_MAX_MS);
      }
    }
  }

  private async openSource(kind: IPASourceKind): Promise<OpenSource> {
    if (kind === 'netdev') {
      const ring = openNetdev(this.netdev!);
      this.ring = ring;
      this.ringOpened = true;
      return {
        chunks: ring.chunks,
        close: () => {
          if (this.ring !== ring) return;
          const c = ringCounts(ring.stats());
          this.ringClosed = { frames: this.ringClosed.frames + c.frames, drops: this.ringClosed.drops + c.drops };
          this.ring = undefined;
          ring.close();
        },
      };
    }
    if (kind === 'fifo') {
      // Non-blocking: returns at once, writer or not. The pipe handle owns the descriptor (closed on destroy).
      const fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
      return readableSource(new Socket({ fd, readable: true, writable: false }));
    }
    if (kind === 'device') {
      // O_NOCTTY: a terminal device (a test's pty) must never become the agent's controlling terminal.
      const fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      return new DeviceSource(fd, this.highWaterMark);
    }
    const s: ReadStream = createReadStream(this.path, { highWaterMark: this.highWaterMark });
    await new Promise<void>((resolve, reject) => {
      s.once('open', () => resolve());
      s.once('error', reject);
    });
    return readableSource(s);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }
}

/**
 * Non-blocking reads of a character device. close() closes the descriptor at once, unless a
 * read is in flight on the thread pool: then the loop closes it as that read returns.
 */
class DeviceSource implements OpenSource {
  readonly chunks: AsyncIterable<Buffer>;
  private closed = false;
  private reading = false;
  private fdOpen = true;
  private wake?: () => void;

  constructor(private readonly fd: number, size: number) {
    const buf = Buffer.allocUnsafe(size); // reused: the consumer copies what it keeps before the next read
    this.chunks = { [Symbol.asyncIterator]: () => this.read(buf) };
  }

  close(): void {
    this.closed = true;
    this.wake?.();
    if (!this.reading) this.closeFd();
  }

  private async *read(buf: Buffer): AsyncGenerator<Buffer> {
    try {
      let idle = DEVICE_IDLE_MIN_MS;
      while (!this.closed) {
        let n: number;
        this.reading = true;
        try {
          n = await readOnce(this.fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          if (this.closed) break;
          this.reading = false;
          await this.idle(idle);
          idle = Math.min(idle * 2, DEVICE_IDLE_MAX_MS);
          continue;
        } finally {
          this.reading = false;
        }
        if (n === 0 || this.closed) return; // the device ended, or we were told to stop
        idle = DEVICE_IDLE_MIN_MS;
        yield buf.subarray(0, n);
      }
    } finally {
      this.closeFd();
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  private closeFd(): void {
    if (!this.fdOpen) return;
    this.fdOpen = false;
    closeSync(this.fd);
  }
}

function ringCounts(s: CaptureStats): { frames: number; drops: number } {
  return { frames: s.packets, drops: s.kernelDrops + s.spillDrops + s.streamDrops };
}

function readableSource(r: Readable): OpenSource {
  return { chunks: r as AsyncIterable<Buffer>, close: () => r.destroy() };
}

function readOnce(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}
