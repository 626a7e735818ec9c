// orderSource: a node's packets in time order, holding only what is out of order.
import { describe, expect, it } from '@jest/globals';
import type { ReadEvent } from '../../../lib/pcapng/read.js';
import { orderSource } from '../../../lib/pcapng/stream-merge.js';

const pkt = (iface: string, ts: number): ReadEvent => ({ type: 'packet', packet: { interfaceKey: iface, tsNs: BigInt(ts), caplen: 1, origLen: 1, data: Buffer.from([ts & 0xff]) } });
const idb = (key: string): ReadEvent => ({ type: 'interface', iface: { key, linkType: 1, snapLen: 65535, tsNum: 1n, tsDen: 1n, tsOffsetSec: 0n } });

async function* source(events: ReadEvent[], seen?: { pulled: number }): AsyncGenerator<ReadEvent> {
  for (const e of events) {
    if (seen) seen.pulled++;
    yield e;
  }
}

/** What comes out, and for each packet how many input events had been read when it came. */
async function run(events: ReadEvent[], windowNs: number): Promise<{ out: string[]; lag: number[] }> {
  const seen = { pulled: 0 };
  const out: string[] = [];
  const lag: number[] = [];
  for await (const e of orderSource(source(events, seen), BigInt(windowNs))) {
    if (e.type === 'packet') {
      out.push(`${e.packet.interfaceKey}@${e.packet.tsNs}`);
      const inPackets = events.slice(0, seen.pulled).filter((x) => x.type === 'packet').length;
      lag.push(inPackets - out.filter((o) => o.includes('@')).length);
    } else out.push(e.type);
  }
  return { out, lag };
}

describe('orderSource', () => {
  it('sorts blocks of two interfaces that interleave out of order, each interface itself in order', async () => {
    // Ring blocks: a's 10..40, then b's 5..35, then a's 50.., b's 45..
    const ev = [idb('a'), idb('b'), pkt('a', 10), pkt('a', 20), pkt('a', 40), pkt('b', 5), pkt('b', 25), pkt('b', 35), pkt('a', 50), pkt('b', 45), pkt('a', 60), pkt('b', 70)];
    const { out } = await run(ev, 1000);
    expect(out).toEqual(['interface', 'interface', 'b@5', 'a@10', 'a@20', 'b@25', 'b@35', 'a@40', 'b@45', 'a@50', 'a@60', 'b@70']);
  });

  it('holds only what is out of order: interleaved sorted interfaces pass at once whatever the window', async () => {
    const ev = [idb('a'), idb('b')];
    for (let t = 0; t < 1000; t += 2) ev.push(pkt('a', t), pkt('b', t + 1));
    const { out, lag } = await run(ev, 1e12);
    expect(out.filter((o) => o !== 'interface')).toEqual(ev.filter((e) => e.type === 'packet').map((e) => `${(e as { packet: { interfaceKey: string } }).packet.interfaceKey}@${(e as { packet: { tsNs: bigint } }).packet.tsNs}`));
    expect(Math.max(...lag)).toBeLessThanOrEqual(1);
  });

  it('an interface that goes quiet stops holding the others back after the window', async () => {
    const ev = [idb('a'), idb('b'), pkt('b', 0)];
    for (let t = 1; t <= 100; t++) ev.push(pkt('a', t));
    const { lag } = await run(ev, 10);
    // Without the window a quiet b would hold every packet of a until the end.
    expect(Math.max(...lag)).toBeLessThanOrEqual(11);
  });

  it('a new section (the next file) is not held back by the interfaces of the one before', async () => {
    // Two files of a node, as concatCaptures gives them: the first file's interfaces send
    // nothing once the second has begun, so its packets pass at once, not a window later.
    const ev: ReadEvent[] = [idb('0:0/0'), idb('0:0/1')];
    for (let t = 1; t <= 20; t++) ev.push(pkt(`0:0/${t % 2}`, t));
    ev.push(idb('1:0/0'), idb('1:0/1'));
    for (let t = 21; t <= 40; t++) ev.push(pkt(`1:0/${t % 2}`, t));
    const { out, lag } = await run(ev, 1_000_000);
    expect(out.filter((o) => o.includes('@')).map((o) => Number(o.split('@')[1]))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(Math.max(...lag)).toBeLessThanOrEqual(2);
  });

  it('an interface of the same section declared later still holds back what it could precede', async () => {
    const ev = [idb('0/0'), pkt('0/0', 10), pkt('0/0', 20), idb('0/1'), pkt('0/0', 30), pkt('0/1', 25), pkt('0/0', 40)];
    const { out } = await run(ev, 1000);
    expect(out).toEqual(['interface', '0/0@10', '0/0@20', 'interface', '0/1@25', '0/0@30', '0/0@40']);
  });

  it('keeps a statistics block after the packets read before it', async () => {
    const stats: ReadEvent = { type: 'statistics', statistics: { interfaceKey: 'a' } as never };
    const { out } = await run([idb('a'), pkt('a', 5), pkt('a', 7), stats, pkt('a', 9)], 1000);
    expect(out).toEqual(['interface', 'a@5', 'a@7', 'statistics', 'a@9']);
  });
});
