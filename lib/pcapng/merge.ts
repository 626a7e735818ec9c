// The time-ordered merge of many captures (one source per node) into one pcapng: the heart of
// the CLI's `fetch` and `stream` and of the agent's multi-file download.
import type { Writable } from 'node:stream';
import type { CaptureEvent, InterfaceInfo, Packet } from './read.js';
import { PcapngWriter, type OutputInterface } from './write.js';

/** A source of the merge: the captures of one node (its files in order, or its live stream). */
export interface MergeSource {
  /** Prefixes the interface descriptions, e.g. "node=n1". */
  label: string;
  events: AsyncIterable<CaptureEvent>;
}

export interface MergedInterface extends OutputInterface {
  id: number;
  source: string;
}

export type MergeEvent =
  | { type: 'interface'; iface: MergedInterface }
  | { type: 'packet'; interfaceId: number; source: string; packet: Packet };

export interface MergeOptions {
  /**
   * How far back in capture time a source may still go after a later packet (ns). 0 for
   * sources sorted by time. The agent's files are sorted per ring, and blocks of different
   * rings interleave, so fetch uses a small window.
   */
  slackNs?: bigint;
  /** Live mode: a packet is emitted at the latest this long (wall time) after it arrived. */
  holdMs?: number;
  /** Live mode: a source stops reading while this many of its packets wait (backpressure). */
  maxBuffered?: number;
}

interface HeapItem { tsNs: bigint; src: number; seq: number; ev: MergeEvent & { type: 'packet' }; arrived: number }

function before(a: HeapItem, b: HeapItem): boolean {
  if (a.tsNs !== b.tsNs) return a.tsNs < b.tsNs;
  if (a.src !== b.src) return a.src < b.src;
  return a.seq < b.seq;
}

/** A binary min-heap of packets ordered by (timestamp, source, arrival). */
export class PacketHeap {
  private a: HeapItem[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): HeapItem | undefined {
    return this.a[0];
  }
  push(x: HeapItem): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): HeapItem | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Output interfaces, one per distinct (source, link type, snap length, name, description). */
class InterfaceTable {
  private byKey = new Map<string, MergedInterface>();
  private list: MergedInterface[] = [];
  /** Per source: reader interface key -> output interface. */
  readonly map: Map<string, MergedInterface>[] = [];

  constructor(private sources: MergeSource[]) {
    for (let i = 0; i < sources.length; i++) this.map.push(new Map());
  }

  /** Returns the new output interface when this one was not seen before. */
  add(src: number, i: InterfaceInfo): MergedInterface | undefined {
    const label = this.sources[src]!.label;
    const description = labelled(label, i.description);
    const key = JSON.stringify([label, i.linkType, i.snapLen, i.name ?? '', description]);
    let out = this.byKey.get(key);
    let created: MergedInterface | undefined;
    if (!out) {
      out = { id: this.list.length, source: label, linkType: i.linkType, snapLen: i.snapLen, ...(i.name ? { name: i.name } : {}), description };
      this.byKey.set(key, out);
      this.list.push(out);
      created = out;
    }
    this.map[src]!.set(i.key, out);
    return created;
  }
}

function labelled(label: string, description: string | undefined): string {
  if (!description) return label;
  if (!label || description.split(/\s+/).includes(label)) return description;
  return `${label} ${description}`;
}

/**
 * K-way merge of captures by timestamp. Each source is read ahead only until it has produced
 * a packet later than the earliest one waiting (minus slackNs), so memory stays bounded by
 * the sources' disorder, not by their size.
 */
export async function* mergeCaptures(sources: MergeSource[], opts: MergeOptions = {}): AsyncGenerator<MergeEvent> {
  if (opts.holdMs !== undefined) {
    yield* mergeLive(sources, opts);
    return;
  }
  const slack = opts.slackNs ?? 0n;
  const table = new InterfaceTable(sources);
  const heap = new PacketHeap();
  const its = sources.map((s) => s.events[Symbol.asyncIterator]());
  const open = sources.map(() => true);
  // The earliest time a source can still produce: its latest packet minus the slack.
  const mark: (bigint | undefined)[] = sources.map(() => undefined);
  let seq = 0;
  try {
    for (;;) {
      // Pull from every open source that could still produce something earlier than the heap's top.
      let pulled = false;
      for (let s = 0; s < its.length; s++) {
        const top = heap.peek();
        if (!open[s] || (top && mark[s] !== undefined && mark[s]! >= top.tsNs)) continue;
        const r = await its[s]!.next();
        pulled = true;
        if (r.done) {
          open[s] = false;
          continue;
        }
        const ev = r.value;
        if (ev.type === 'interface') {
          const created = table.add(s, ev.iface);
          if (created) yield { type: 'interface', iface: created };
          continue;
        }
        const out = table.map[s]!.get(ev.packet.interfaceKey);
        if (!out) throw new Error(`merge: source ${sources[s]!.label}: packet on an unknown interface ${ev.packet.interfaceKey}`);
        const t = ev.packet.tsNs - slack;
        if (mark[s] === undefined || t > mark[s]!) mark[s] = t;
        heap.push({ tsNs: ev.packet.tsNs, src: s, seq: seq++, arrived: 0, ev: { type: 'packet', interfaceId: out.id, source: out.source, packet: ev.packet } });
      }
      if (pulled) continue;
      const top = heap.pop();
      if (!top) return; // every source ended and nothing waits
      yield top.ev;
    }
  } finally {
    await Promise.all(its.map((it) => it.return?.()));
  }
}

async function* mergeLive(sources: MergeSource[], opts: MergeOptions): AsyncGenerator<MergeEvent> {
  const holdMs = opts.holdMs ?? 250;
  const slack = opts.slackNs ?? 0n;
  const maxBuffered = opts.maxBuffered ?? 100_000;
  const table = new InterfaceTable(sources);
  const heap = new PacketHeap();
  const ready: MergeEvent[] = []; // interfaces, emitted as soon as they are seen
  const open = sources.map(() => true);
  const mark: (bigint | undefined)[] = sources.map(() => undefined);
  const buffered = sources.map(() => 0);
  let seq = 0;
  let failure: unknown;
  let stopped = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let room: (() => void)[] = [];

  const pump = async (s: number): Promise<void> => {
    try {
      for await (const ev of sources[s]!.events) {
        if (stopped) break;
        if (ev.type === 'interface') {
          const created = table.add(s, ev.iface);
          if (created) ready.push({ type: 'interface', iface: created });
        } else {
          const out = table.map[s]!.get(ev.packet.interfaceKey);
          if (!out) throw new Error(`merge: source ${sources[s]!.label}: packet on an unknown interface ${ev.packet.interfaceKey}`);
          const t = ev.packet.tsNs - slack;
          if (mark[s] === undefined || t > mark[s]!) mark[s] = t;
          buffered[s]!++;
          heap.push({ tsNs: ev.packet.tsNs, src: s, seq: seq++, arrived: Date.now(), ev: { type: 'packet', interfaceId: out.id, source: out.source, packet: ev.packet } });
        }
        notify();
        while (buffered[s]! >= maxBuffered && !stopped) await new Promise<void>((r) => room.push(r));
      }
    } catch (err) {
      failure ??= err;
    } finally {
      open[s] = false;
      notify();
    }
  };
  const pumps = sources.map((_, s) => pump(s));

  try {
    for (;;) {
      if (failure) throw failure;
      while (ready.length) yield ready.shift()!;
      const top = heap.peek();
      if (top) {
        // Safe to emit when no open source can still produce an earlier packet, or when it waited long enough.
        const safe = sources.every((_, s) => !open[s] || (mark[s] !== undefined && mark[s]! >= top.tsNs));
        const waited = Date.now() - top.arrived;
        if (safe || waited >= holdMs) {
          heap.pop();
          buffered[top.src]!--;
          const r = room;
          room = [];
          r.forEach((f) => f());
          yield top.ev;
          continue;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, holdMs - waited);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        continue;
      }
      if (open.every((o) => !o)) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure) throw failure;
    while (ready.length) yield ready.shift()!;
  } finally {
    stopped = true;
    room.forEach((f) => f());
    notify();
    // A live source may block in a read until its request is aborted (the caller's signal):
    // do not wait for it here.
    void Promise.allSettled(pumps);
  }
}

/** Concatenates the events of several captures (one node's rotated files) into one source. */
export async function* concatCaptures(parts: Iterable<AsyncIterable<CaptureEvent>> | AsyncIterable<AsyncIterable<CaptureEvent>>, prefixKeys = true): AsyncGenerator<CaptureEvent> {
  let n = 0;
  for await (const part of parts) {
    const p = n++;
    for await (const ev of part) {
      if (!prefixKeys) yield ev;
      else if (ev.type === 'interface') yield { type: 'interface', iface: { ...ev.iface, key: `${p}:${ev.iface.key}` } };
      else yield { type: 'packet', packet: { ...ev.packet, interfaceKey: `${p}:${ev.packet.interfaceKey}` } };
    }
  }
}

export interface WriteSummary {
  packets: number;
  interfaces: number;
  /** Packets per source label. */
  perSource: Map<string, number>;
}

/** Writes merged events as one pcapng to out. */
export async function writeMerged(events: AsyncIterable<MergeEvent>, out: Writable, opts: { endStream?: boolean } = {}): Promise<WriteSummary> {
  const w = new PcapngWriter(out);
  const summary: WriteSummary = { packets: 0, interfaces: 0, perSource: new Map() };
  const ids = new Map<number, number>();
  for await (const ev of events) {
    if (ev.type === 'interface') {
      ids.set(ev.iface.id, w.addInterface(ev.iface));
      summary.interfaces++;
      summary.perSource.set(ev.iface.source, summary.perSource.get(ev.iface.source) ?? 0);
      continue;
    }
    const id = ids.get(ev.interfaceId);
    if (id === undefined) throw new Error(`merge produced a packet before its interface ${ev.interfaceId}`);
    await w.writePacket(id, ev.packet.tsNs, ev.packet.origLen, ev.packet.data, ev.packet.flags);
    summary.packets++;
    summary.perSource.set(ev.source, (summary.perSource.get(ev.source) ?? 0) + 1);
  }
  await w.end(opts);
  return summary;
}
