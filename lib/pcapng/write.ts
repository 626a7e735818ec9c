// pcapng writing: block encoders and a streaming section writer.
import type { Writable } from 'node:stream';
import { BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC, EPB_FLAGS, IF_DESCRIPTION, IF_NAME, IF_TSRESOL, MAX_SNAPLEN } from './format.js';

export interface OutputInterface {
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function optionBytes(opts: [number, Buffer][]): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const size = opts.reduce((a, [, v]) => a + 4 + pad4(v.length), 0) + 4;
  const b = Buffer.alloc(size);
  let o = 0;
  for (const [code, v] of opts) {
    b.writeUInt16LE(code, o);
    b.writeUInt16LE(v.length, o + 2);
    v.copy(b, o + 4);
    o += 4 + pad4(v.length);
  }
  return b; // ends with opt_endofopt (zeros)
}

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

export function encodeSHB(): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4);
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8); // section length unknown: we stream
  return block(BT_SHB, body);
}

export function encodeIDB(i: OutputInterface): Buffer {
  const opts: [number, Buffer][] = [];
  if (i.name) opts.push([IF_NAME, Buffer.from(i.name, 'utf8')]);
  if (i.description) opts.push([IF_DESCRIPTION, Buffer.from(i.description, 'utf8')]);
  opts.push([IF_TSRESOL, Buffer.from([9])]);
  const o = optionBytes(opts);
  const body = Buffer.alloc(8 + o.length);
  body.writeUInt16LE(i.linkType, 0);
  body.writeUInt32LE(i.snapLen, 4);
  o.copy(body, 8);
  return block(BT_IDB, body);
}

export function encodeEPB(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number): Buffer {
  const o = flags === undefined ? Buffer.alloc(0) : optionBytes([[EPB_FLAGS, u32le(flags)]]);
  const body = Buffer.alloc(20 + pad4(data.length) + o.length);
  body.writeUInt32LE(interfaceId, 0);
  const ts = BigInt.asUintN(64, tsNs);
  body.writeUInt32LE(Number(ts >> 32n), 4);
  body.writeUInt32LE(Number(ts & 0xffffffffn), 8);
  body.writeUInt32LE(data.length, 12);
  body.writeUInt32LE(origLen, 16);
  data.copy(body, 20);
  o.copy(body, 20 + pad4(data.length));
  return block(BT_EPB, body);
}

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

/**
 * Writes a pcapng section to a Writable: SHB first, IDBs as interfaces are added, EPBs.
 * Every write() carries whole blocks, so a reader that sees a prefix sees whole blocks
 * plus at most one torn one. Blocks are batched up to 64 KiB and flushed on the next turn
 * of the event loop, so a live stream is not held back.
 */
export class PcapngWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private interfaces = 0;
  packets = 0;

  /**
   * libpcap (tcpdump) refuses a section whose interfaces differ in snap length, so every IDB
   * gets the same one (default 262144, the largest libpcap takes); packets keep their own
   * caplen, and the sources' snap lengths stay visible as caplen < original length.
   */
  constructor(private out: Writable, private opts: { snapLen?: number } = {}) {
    this.push(encodeSHB());
  }

  /** Adds an IDB; returns its interface id. */
  addInterface(i: OutputInterface): number {
    this.push(encodeIDB({ ...i, snapLen: this.opts.snapLen ?? MAX_SNAPLEN }));
    return this.interfaces++;
  }

  /** Queues an EPB; resolves once the output can take more (backpressure). */
  async writePacket(interfaceId: number, tsNs: bigint, origLen: number, data: Buffer, flags?: number): Promise<void> {
    if (interfaceId >= this.interfaces) throw new Error(`pcapng writer: no interface ${interfaceId}`);
    this.packets++;
    this.push(encodeEPB(interfaceId, tsNs, origLen, data, flags));
    if (this.pendingBytes >= 65536) await this.flush();
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.pendingBytes > 0 && !this.out.destroyed) this.out.write(this.take());
      });
    }
  }

  private take(): Buffer {
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return b;
  }

  /** Writes what is queued and waits for 'drain' if the output is full. */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    if (this.out.destroyed) throw new Error('output closed');
    if (!this.out.write(this.take())) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          this.out.off('drain', onDrain);
          this.out.off('error', done);
          this.out.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error('output closed'));
        this.out.once('drain', onDrain);
        this.out.once('error', done);
        this.out.once('close', onClose);
      });
    }
  }

  /** Flushes and ends the output (waits for it to finish). */
  async end(opts: { endStream?: boolean } = {}): Promise<void> {
    await this.flush();
    if (opts.endStream === false) return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
