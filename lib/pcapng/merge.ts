// The time-ordered merge of many captures (one source per node) into one pcapng: the heart of
// the CLI's `fetch` and `stream` and of the agent's multi-file download.
import type { Writable } from 'node:stream';
import type { CaptureEvent, InterfaceInfo, InterfaceStatistics, Packet, ReadEvent } from './read.js';
import { PcapngWriter, type OutputInterface, type PcapngWriterOptions } from './write.js';

/** A source of the merge: the captures of one node (its files in order, or its live stream). */
export interface MergeSource {
  /** Prefixes the interface descriptions, e.g. "node=n1". */
  label: string;
  /** Statistics events pass through only with MergeOptions.statistics. */
  events: AsyncIterable<ReadEvent>;
}

export interface MergedInterface extends OutputInterface {
  id: number;
  source: string;
}

export type MergeEvent =
  | { type: 'interface'; iface: MergedInterface }
  | { type: 'packet'; interfaceId: number; source: string; packet: Packet };

/** An Interface Statistics Block of a source, on its output interface; in time order with the packets. */
export type MergeStatisticsEvent = { type: 'statistics'; interfaceId: number; source: string; statistics: InterfaceStatistics };

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
  /** Pass the sources' Interface Statistics Blocks through (remapped to the output interfaces). */
  statistics?: boolean;
}

type Timed = (MergeEvent & { type: 'packet' }) | MergeStatisticsEvent;
interface HeapItem { tsNs: bigint; src: number; seq: number; ev: Timed; arrived: number }

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

/**
 * Output interfaces. Every IDB of a section is an interface of its own, however alike two of
 * them look; a later section (the node's next rotated file) that describes the same interfaces
 * again, the n-th alike IDB to the n-th, continues them.
 */
class InterfaceTable {
  private byKey = new Map<string, MergedInterface>();
  private list: MergedInterface[] = [];
  /** Per source: reader interface key -> output interface. */
  readonly map: Map<string, MergedInterface>[] = [];
  /** Per source and section: how many IDBs with each description it had so far. */
  private seen = new Map<string, number>();

  constructor(private sources: MergeSource[]) {
    for (let i = 0; i < sources.length; i++) this.map.push(new Map());
  }

  /** Returns the new output interface when this one was not seen before. */
  add(src: number, i: InterfaceInfo): MergedInterface | undefined {
    const label = this.sources[src]!.label;
    const description = labelled(label, i.description);
    const alike = JSON.stringify([label, i.linkType, i.snapLen, i.name ?? '', description, i.fcsLenBits ?? -1]);
    // The reader's key is "<section>/<interface id>" (concatCaptures prefixes the part).
    const section = JSON.stringify([src, i.key.slice(0, i.key.lastIndexOf('/')), alike]);
    const n = this.seen.get(section) ?? 0;
    this.seen.set(section, n + 1);
    const key = `${alike}#${n}`;
    let out = this.byKey.get(key);
    let created: MergedInterface | undefined;
    if (!out) {
      out = {
        id: this.list.length, source: label, linkType: i.linkType, snapLen: i.snapLen, ...(i.name ? { name: i.name } : {}), description,
        ...(i.fcsLenBits !== undefined ? { fcsLenBits: i.fcsLenBits } : {}),
      };
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

/** A source's event on the output: a new interface, a packet or statistics for the heap, or nothing. */
function admit(table: InterfaceTable, sources: MergeSource[], s: number, ev: ReadEvent, statistics: boolean): { iface?: MergedInterface; timed?: Timed } {
  if (ev.type === 'interface') {
    const created = table.add(s, ev.iface);
    return created ? { iface: created } : {};
  }
  const key = ev.type === 'packet' ? ev.packet.interfaceKey : ev.statistics.interfaceKey;
  const out = table.map[s]!.get(key);
  if (!out) throw new Error(`merge: source ${sources[s]!.label}: ${ev.type} on an unknown interface ${key}`);
  if (ev.type === 'packet') return { timed: { type: 'packet', interfaceId: out.id, source: out.source, packet: ev.packet } };
  return statistics ? { timed: { type: 'statistics', interfaceId: out.id, source: out.source, statistics: ev.statistics } } : {};
}

function timeOf(ev: Timed): bigint {
  return ev.type === 'packet' ? ev.packet.tsNs : ev.statistics.tsNs;
}

/**
 * K-way merge of captures by timestamp. Each source is read ahead only until it has produced
 * a packet later than the earliest one waiting (minus slackNs), so memory stays bounded by
 * the sources' disorder, not by their size.
 */
export function mergeCaptures(sources: MergeSource[], opts?: MergeOptions & { statistics?: false }): AsyncGenerator<MergeEvent>;
export function mergeCaptures(sources: MergeSource[], opts: MergeOptions): AsyncGenerator<MergeEvent | MergeStatisticsEvent>;
export async function* mergeCaptures(sources: MergeSource[], opts: MergeOptions = {}): AsyncGenerator<MergeEvent | MergeStatisticsEvent> {
  if (opts.holdMs !== undefined) {
    yield* mergeLive(sources, opts);
    return;
  }
  const slack = opts.slackNs ?? 0n;
  const statistics = opts.statistics === true;
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
        const { iface, timed } = admit(table, sources, s, r.value, statistics);
        if (iface) yield { type: 'interface', iface };
        if (!timed) continue;
        const tsNs = timeOf(timed);
        if (timed.type === 'packet' && (mark[s] === undefined || tsNs - slack > mark[s]!)) mark[s] = tsNs - slack;
        heap.push({ tsNs, src: s, seq: seq++, arrived: 0, ev: timed });
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

async function* mergeLive(sources: MergeSource[], opts: MergeOptions): AsyncGenerator<MergeEvent | MergeStatisticsEvent> {
  const holdMs = opts.holdMs ?? 250;
  const slack = opts.slackNs ?? 0n;
  const statistics = opts.statistics === true;
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
        const { iface, timed } = admit(table, sources, s, ev, statistics);
        if (iface) ready.push({ type: 'interface', iface });
        if (timed) {
          const tsNs = timeOf(timed);
          if (timed.type === 'packet' && (mark[s] === undefined || tsNs - slack > mark[s]!)) mark[s] = tsNs - slack;
          buffered[s]!++;
          heap.push({ tsNs, src: s, seq: seq++, arrived: Date.now(), ev: timed });
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
export function concatCaptures(parts: Iterable<AsyncIterable<CaptureEvent>> | AsyncIterable<AsyncIterable<CaptureEvent>>, prefixKeys?: boolean): AsyncGenerator<CaptureEvent>;
export function concatCaptures(parts: Iterable<AsyncIterable<ReadEvent>> | AsyncIterable<AsyncIterable<ReadEvent>>, prefixKeys?: boolean): AsyncGenerator<ReadEvent>;
export async function* concatCaptures(parts: Iterable<AsyncIterable<ReadEvent>> | AsyncIterable<AsyncIterable<ReadEvent>>, prefixKeys = true): AsyncGenerator<ReadEvent> {
  let n = 0;
  for await (const part of parts) {
    const p = n++;
    for await (const ev of part) {
      if (!prefixKeys) yield ev;
      else if (ev.type === 'interface') yield { type: 'interface', iface: { ...ev.iface, key: `${p}:${ev.iface.key}` } };
      else if (ev.type === 'statistics') yield { type: 'statistics', statistics: { ...ev.statistics, interfaceKey: `${p}:${ev.statistics.interfaceKey}` } };
      else yield { type: 'packet', packet: { ...ev.packet, interfaceKey: `${p}:${ev.packet.interfaceKey}` } };
    }
  }
}

/** The comment a packet gets when its source recorded no time for it (see Packet.noTimestamp). */
export const NO_TIMESTAMP_COMMENT = 'ringtap: the source recorded no time for this packet (a Simple Packet Block); it carries the time of its neighbour in the source file';

export interface WriteSummary {
  packets: number;
  interfaces: number;
  /** Packets per source label. */
  perSource: Map<string, number>;
}

/** Writes merged events as one pcapng to out. */
export async function writeMerged(
  events: AsyncIterable<MergeEvent | MergeStatisticsEvent>, out: Writable,
  opts: {
    endStream?: boolean;
    /** Written as notices (encodeNotice) after the last packet, e.g. the damaged sources. */
    notices?: () => string[];
    /** How the output is written (whole chunks only, reused chunks). */
    writer?: PcapngWriterOptions;
  } = {},
): Promise<WriteSummary> {
  const w = new PcapngWriter(out, opts.writer);
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
    if (id === undefined) throw new Error(`merge produced a ${ev.type} before its interface ${ev.interfaceId}`);
    if (ev.type === 'statistics') {
      w.writeStatistics(id, ev.statistics);
      continue;
    }
    const p = ev.packet;
    const comments = p.noTimestamp ? [...(p.comments ?? []), NO_TIMESTAMP_COMMENT] : p.comments;
    await w.writePacket(id, p.tsNs, p.origLen, p.data, p.flags, { ...(comments ? { comments } : {}), ...(p.custom ? { custom: p.custom } : {}) });
    summary.packets++;
    summary.perSource.set(ev.source, (summary.perSource.get(ev.source) ?? 0) + 1);
  }
  for (const text of opts.notices?.() ?? []) w.writeNotice(text);
  await w.end(opts);
  return summary;
}
