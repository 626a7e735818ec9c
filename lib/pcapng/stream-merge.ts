// Ordering one source (a node's files or stream) before the k-way merge, holding only the
// packets that really are out of order.
//
// A time window alone (mergeCaptures' slackNs) holds a window's worth of every node's traffic
// whatever the disorder: at 20 MB/s a 200 ms window is 4000 packets per node that live long
// enough for the JavaScript heap to promote them, and the operator's memory grows by hundreds of
// MB while it serves a large download. But the agent's files are sorted per interface (each
// interface's packets come from ring blocks in order); only the interleaving of blocks of
// different interfaces is out of order. So a packet can go out as soon as every interface that
// is sending has sent something at least as late, and the window is only the fallback for an
// interface that has gone quiet (or is new). Sorted this way, sources merge with a zero window.
import type { ReadEvent } from './read.js';

type PacketEvent = Extract<ReadEvent, { type: 'packet' }>;

/** A binary min-heap of packets by (time, arrival). */
class TimeHeap {
  private a: { ts: bigint; seq: number; ev: PacketEvent }[] = [];
  get size(): number {
    return this.a.length;
  }
  peekTs(): bigint | undefined {
    return this.a[0]?.ts;
  }
  push(ts: bigint, seq: number, ev: PacketEvent): void {
    const a = this.a;
    a.push({ ts, seq, ev });
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): PacketEvent {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top.ev;
  }
  private less(i: number, j: number): boolean {
    const x = this.a[i]!, y = this.a[j]!;
    return x.ts !== y.ts ? x.ts < y.ts : x.seq < y.seq;
  }
}

/**
 * The source's events with its packets in time order, assuming each interface's own packets are
 * in order, interfaces interleave at most windowNs apart, and an interface sends nothing once a
 * later section has begun (the events are one capture, or captures one after the other as
 * concatCaptures gives them; interface keys are "<section>/<id>"). Interface events pass at once;
 * any other event (statistics) keeps its place after the packets read before it.
 */
export async function* orderSource(events: AsyncIterable<ReadEvent>, windowNs: bigint): AsyncGenerator<ReadEvent> {
  const heap = new TimeHeap();
  /** Per interface: the time of its latest packet. */
  const last = new Map<string, bigint>();
  /** Interfaces declared but silent so far, with the latest time when they were declared. */
  const silent = new Map<string, bigint | undefined>();
  let latest: bigint | undefined;
  let seq = 0;
  let section: string | undefined;
  for await (const ev of events) {
    if (ev.type === 'interface') {
      // A new section (the node's next file) ends the interfaces of the one before: they send
      // nothing more, so they no longer hold back the packets of the new one. Kept, they would
      // hold a window's worth of the new file's packets at every file boundary.
      const s = sectionOf(ev.iface.key);
      if (s !== section) {
        section = s;
        for (const k of last.keys()) if (sectionOf(k) !== s) last.delete(k);
        for (const k of silent.keys()) if (sectionOf(k) !== s) silent.delete(k);
      }
      silent.set(ev.iface.key, latest);
      yield ev;
      continue;
    }
    if (ev.type !== 'packet') {
      while (heap.size) yield heap.pop();
      yield ev;
      continue;
    }
    const ts = ev.packet.tsNs;
    heap.push(ts, seq++, ev);
    const key = ev.packet.interfaceKey;
    if ((last.get(key) ?? ts) <= ts) last.set(key, ts);
    silent.delete(key);
    if (latest === undefined || ts > latest) latest = ts;
    // Nothing later can be earlier than latest - window; nor, from an interface sending within
    // the window, earlier than its own latest packet. An interface declared within the window
    // that has not sent yet could send anything in it. Interfaces quiet for longer drop out.
    const floor = latest - windowNs;
    let bound: bigint | undefined;
    for (const [k, t] of last) {
      if (t < floor) last.delete(k);
      else if (bound === undefined || t < bound) bound = t;
    }
    for (const [k, since] of silent) {
      if (since === undefined) silent.set(k, ts);
      else if (since < floor) silent.delete(k);
    }
    if (bound === undefined || bound < floor || silent.size > 0) bound = floor;
    while (heap.size && heap.peekTs()! <= bound) yield heap.pop();
  }
  while (heap.size) yield heap.pop();
}

/** The section part of an interface key ("<section>/<id>"). */
function sectionOf(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}
