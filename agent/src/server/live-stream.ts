// A live pcapng (or pcap) byte stream of a running capture, as a Node Readable.
//
// The bytes are produced by the engine's writer thread into a bounded per-stream queue in the
// addon; when this consumer falls behind, whole packets are dropped for this stream only (and
// counted in the capture's stats as streamDrops), so a slow consumer never stalls a ring.
import { Readable } from 'node:stream';

/** The part of the native Capture a stream needs. */
export interface StreamSource {
  /** A chunk, null when nothing is queued (a wake-up follows), or undefined once the stream ended. */
  readStream(id: number): Buffer | null | undefined;
  closeStream(id: number): void;
}

export class LiveStream extends Readable {
  private waiting = false;
  private finished = false;

  constructor(
    private readonly source: StreamSource,
    /** The engine's stream id, as carried by stream-data events. */
    readonly streamId: number,
    private readonly onClose: (id: number) => void,
  ) {
    // No extra buffering here: the native queue is the bound that matters.
    super({ highWaterMark: 0 });
  }

  /** Called by the capture when the engine signals that data (or the end) is available. */
  notify(): void {
    if (this.waiting) {
      this.waiting = false;
      this.pump();
    }
  }

  override _read(): void {
    this.pump();
  }

  private pump(): void {
    while (!this.finished) {
      const chunk = this.source.readStream(this.streamId);
      if (chunk === null) {
        this.waiting = true;
        return;
      }
      if (chunk === undefined) {
        this.end();
        return;
      }
      if (!this.push(chunk)) return;
    }
  }

  private end(): void {
    if (this.finished) return;
    this.finished = true;
    this.push(null);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.finished = true;
    this.source.closeStream(this.streamId);
    this.onClose(this.streamId);
    cb(err);
  }
}
