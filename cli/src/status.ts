// `kubectl ringtap status`: per-node progress of a PacketCapture, with rates computed between
// polls; progress bars on a terminal, plain lines otherwise. Rendering is pure (tested).
import type { PacketCapture } from '../../crds/src/packetcapture.js';
import { parseDuration } from './args.js';

export interface NodeRow { node: string; phase: string; packets: number; bytes: number; drops: number; rate?: number; message?: string }

export interface StatusView {
  name: string;
  namespace: string;
  phase: string;
  stopReason?: string;
  rows: NodeRow[];
  totals: { packets: number; bytes: number; drops: number; rate?: number };
  /** 0..1 progress towards the first limit, when one is known. */
  progress?: number;
  /** Per node progress (packets relative to maxPackets). */
  nodeProgress: Map<string, number>;
  limitText?: string;
}

export interface Sample { at: number; packets: Map<string, number> }

/** Builds the view; `prev` (the previous poll) gives packet rates. */
export function statusView(c: PacketCapture, now: number, prev?: Sample): { view: StatusView; sample: Sample } {
  const rows: NodeRow[] = [];
  const sample: Sample = { at: now, packets: new Map() };
  const dt = prev ? (now - prev.at) / 1000 : 0;
  for (const n of c.status?.nodes ?? []) {
    const row: NodeRow = { node: n.node, phase: n.phase, packets: n.packets ?? 0, bytes: n.bytes ?? 0, drops: n.drops ?? 0, ...(n.message ? { message: n.message } : {}) };
    const before = prev?.packets.get(n.node);
    if (before !== undefined && dt > 0) row.rate = Math.max(0, (row.packets - before) / dt);
    sample.packets.set(n.node, row.packets);
    rows.push(row);
  }
  const sum = (f: (r: NodeRow) => number) => rows.reduce((a, r) => a + f(r), 0);
  const t = c.status?.totals;
  const totals: StatusView['totals'] = {
    packets: t?.packets ?? sum((r) => r.packets),
    bytes: t?.bytes ?? sum((r) => r.bytes),
    drops: t?.drops ?? sum((r) => r.drops),
  };
  if (rows.some((r) => r.rate !== undefined)) totals.rate = sum((r) => r.rate ?? 0);

  const view: StatusView = {
    name: c.metadata.name ?? '',
    namespace: c.metadata.namespace ?? '',
    phase: c.status?.phase ?? 'Pending',
    ...(c.status?.stopReason ? { stopReason: c.status.stopReason } : {}),
    rows,
    totals,
    nodeProgress: new Map(),
  };
  const maxPackets = c.spec.limits?.maxPackets;
  const fractions: number[] = [];
  const limits: string[] = [];
  if (maxPackets) {
    fractions.push(totals.packets / maxPackets);
    limits.push(`${maxPackets} packets`);
    for (const r of rows) view.nodeProgress.set(r.node, r.packets / maxPackets);
  }
  if (c.spec.limits?.duration) {
    limits.push(c.spec.limits.duration);
    const start = c.status?.startTime ? Date.parse(c.status.startTime) : NaN;
    try {
      const d = parseDuration(c.spec.limits.duration);
      if (!Number.isNaN(start)) {
        const f = (now - start) / d;
        fractions.push(f);
        if (!maxPackets) for (const r of rows) view.nodeProgress.set(r.node, f);
      }
    } catch {
      /* the API server validated it; ignore what we cannot parse */
    }
  }
  if (fractions.length) view.progress = Math.min(1, Math.max(0, ...fractions));
  if (view.phase === 'Completed') view.progress = 1;
  if (limits.length) view.limitText = `stops after ${limits.join(' or ')}`;
  return { view, sample };
}

export function human(n: number): string {
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? String(Math.round(n)) : `${n.toFixed(n < 10 ? 1 : 0)}${units[i]}`;
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function bar(f: number, width = 20): string {
  const full = Math.round(Math.min(1, Math.max(0, f)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.round(Math.min(1, Math.max(0, f)) * 100)).padStart(3)}%`;
}

const rate = (r?: number) => (r === undefined ? '-' : `${human(r)}/s`);

/** Plain lines (no terminal): one per node and a total, easy to grep. */
export function renderPlain(v: StatusView): string {
  const lines = [`${v.namespace}/${v.name} phase=${v.phase}${v.stopReason ? ` stopReason=${v.stopReason}` : ''}${v.progress !== undefined ? ` progress=${Math.round(v.progress * 100)}%` : ''}`];
  for (const r of v.rows) {
    lines.push(`node=${r.node} phase=${r.phase} packets=${r.packets} bytes=${r.bytes} drops=${r.drops} rate=${r.rate === undefined ? '-' : r.rate.toFixed(1)}${r.message ? ` message=${JSON.stringify(r.message)}` : ''}`);
  }
  lines.push(`total packets=${v.totals.packets} bytes=${v.totals.bytes} drops=${v.totals.drops} rate=${v.totals.rate === undefined ? '-' : v.totals.rate.toFixed(1)}`);
  return lines.join('\n');
}

/** A table with progress bars for a terminal. */
export function renderTTY(v: StatusView): string {
  const w = Math.max(4, ...v.rows.map((r) => r.node.length));
  const head = `${v.namespace}/${v.name}  ${v.phase}${v.stopReason ? ` (${v.stopReason})` : ''}${v.limitText ? `  ${v.limitText}` : ''}`;
  const cols = (node: string, phase: string, packets: string, bytes: string, drops: string, r: string, b: string) =>
    `${node.padEnd(w)}  ${phase.padEnd(9)}  ${packets.padStart(8)}  ${bytes.padStart(10)}  ${drops.padStart(6)}  ${r.padStart(9)}  ${b}`;
  const lines = [head, cols('NODE', 'PHASE', 'PACKETS', 'BYTES', 'DROPS', 'RATE', '')];
  for (const r of v.rows) {
    const p = v.nodeProgress.get(r.node);
    lines.push(cols(r.node, r.phase, human(r.packets), humanBytes(r.bytes), human(r.drops), rate(r.rate), p === undefined ? '' : bar(p)));
    if (r.message) lines.push(`${' '.repeat(w)}  ${r.message}`);
  }
  lines.push(cols('TOTAL', v.phase, human(v.totals.packets), humanBytes(v.totals.bytes), human(v.totals.drops), rate(v.totals.rate), v.progress === undefined ? '' : bar(v.progress)));
  return lines.join('\n');
}
