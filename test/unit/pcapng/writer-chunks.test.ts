// PcapngWriter's download options: flushWhenIdle false writes only whole chunks; reuseChunks
// reuses a chunk only after the output has called back for every write of it.
import { describe, expect, test } from '@jest/globals';
import { Writable } from 'node:stream';
import { readCapture } from '../../../lib/pcapng/read.js';
import { PcapngWriter, type PcapngWriterOptions } from '../../../lib/pcapng/write.js';

/** Keeps each chunk it is given until it calls back (a turn of the event loop later), and copies it only then. */
class LateSink extends Writable {
  copies: Buffer[] = [];
  sizes: number[] = [];
  buffers = new Set<ArrayBufferLike>();
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.sizes.push(chunk.length);
    this.buffers.add(chunk.buffer);
    setImmediate(() => {
      this.copies.push(Buffer.from(chunk));
      cb();
    });
  }
}

async function write(opts: PcapngWriterOptions, packets: number): Promise<LateSink> {
  const sink = new LateSink({ highWaterMark: 512 * 1024 });
  const w = new PcapngWriter(sink, { userAppl: 'test', ...opts });
  const id = w.addInterface({ linkType: 1, snapLen: 65535, name: 'eth0' });
  for (let i = 0; i < packets; i++) {
    const data = Buffer.alloc(1000 + (i % 7), i & 0xff);
    data.writeUInt32BE(i, 0);
    await w.writePacket(id, BigInt(i) * 1000n, data.length, data, i % 3 === 0 ? 1 : undefined);
  }
  await w.end();
  return sink;
}

describe('PcapngWriter download options', () => {
  test('reused chunks give the same bytes as fresh ones, with an output that holds each chunk until it calls back', async () => {
    const plain = Buffer.concat((await write({}, 5000)).copies);
    const sink = await write({ flushWhenIdle: false, reuseChunks: true }, 5000);
    const reused = Buffer.concat(sink.copies);
    expect(reused.equals(plain)).toBe(true);
    // About 20 chunks were written from far fewer buffers.
    expect(sink.sizes.length).toBeGreaterThan(15);
    expect(sink.buffers.size).toBeLessThan(10);
    let n = 0;
    for await (const e of readCapture((async function* () { yield reused; })())) {
      if (e.type === 'packet') expect(e.packet.data.readUInt32BE(0)).toBe(n++);
    }
    expect(n).toBe(5000);
  });

  test('flushWhenIdle false: every write but the last is a whole chunk', async () => {
    const sink = await write({ flushWhenIdle: false }, 3000);
    expect(sink.sizes.slice(0, -1).every((s) => s > 250 * 1024)).toBe(true);
  });
});
