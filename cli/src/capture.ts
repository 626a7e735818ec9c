// The kubectl plugin's operations as importable functions: create a PacketCapture, read its
// progress, list captures and their files, fetch every node's files merged into one pcapng, and
// stream it live. Files and streams come from the data API (data.ringtap.dev), which merges them
// on the server; the plugin writes the bytes as they come and counts packets on the way.
import { once } from 'node:events';
import { createWriteStream, renameSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import type { PacketCapture } from '../../crds/src/packetcapture.js';
import { GROUP, IPAMonitorType, PACKET_CAPTURE_TERMINAL_PHASES, PacketCaptureType } from '../../crds/src/index.js';
import { PacketCapture as PacketCaptureModel } from '../../crds/src/models/index.js';
import { dataPath } from '../../crds/src/dataapi.js';
import { KubeClient, type KubeObject } from '../../lib/kube/kube.js';
import { DataClient } from './dataclient.js';
import { DEFAULT_DURATION, type TargetKind } from './args.js';
import { readCapture } from '../../lib/pcapng/index.js';

export const FIELD_MANAGER = 'kubectl-ringtap';
export const TERMINAL_PHASES = new Set<string>(PACKET_CAPTURE_TERMINAL_PHASES);

export interface TargetOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
}

// ---- capture ----------------------------------------------------------------------------------------

export interface CreateCaptureOptions extends TargetOptions {
  selector?: Record<string, string>;
  pods?: string[];
  filter?: string;
  duration?: string;
  maxPackets?: number;
  snapLength?: number;
}

/** The PacketCapture the options describe; a capture without limits gets DEFAULT_DURATION. */
export function buildCapture(o: Omit<CreateCaptureOptions, 'kubeConfig'>): { capture: PacketCaptureModel; defaultedDuration: boolean } {
  const pods: NonNullable<PacketCapture['spec']['targets']['pods']> = {};
  if (o.selector && Object.keys(o.selector).length) pods.selector = { matchLabels: o.selector };
  if (o.pods?.length) pods.names = o.pods;
  const defaultedDuration = o.duration === undefined && o.maxPackets === undefined;
  const limits: NonNullable<PacketCapture['spec']['limits']> = {};
  if (o.duration !== undefined || defaultedDuration) limits.duration = o.duration ?? DEFAULT_DURATION;
  if (o.maxPackets !== undefined) limits.maxPackets = o.maxPackets;
  const capture = new PacketCaptureModel({
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      targets: { pods },
      ...(o.filter ? { filter: o.filter } : {}),
      ...(o.snapLength !== undefined ? { snapLength: o.snapLength } : {}),
      limits,
    },
  });
  return { capture, defaultedDuration };
}

/**
 * Creates the PacketCapture. It is first checked against the CRD's schema here, so a bad value
 * is named by its field without a round trip; the API server's rejections (CEL rules, names)
 * surface as KubeError with the server's message.
 */
export async function createCapture(opts: CreateCaptureOptions): Promise<{ capture: PacketCapture; defaultedDuration: boolean }> {
  const { capture, defaultedDuration } = buildCapture(opts);
  try {
    capture.validate();
  } catch (e) {
    throw new Error(`invalid PacketCapture ${opts.namespace}/${opts.name}: ${(e as Error).message}`, { cause: e });
  }
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  const created = await client.create(PacketCaptureType, capture.toJSON() as KubeObject);
  return { capture: created as unknown as PacketCapture, defaultedDuration };
}

export function describeCapture(c: PacketCapture, defaultedDuration: boolean): string {
  const t = c.spec.targets.pods ?? {};
  const what: string[] = [];
  if (t.selector?.matchLabels) what.push(`pods with labels ${Object.entries(t.selector.matchLabels).map(([k, v]) => `${k}=${v}`).join(',')}`);
  if (t.names?.length) what.push(`pods ${t.names.join(', ')}`);
  const limits: string[] = [];
  if (c.spec.limits?.duration) limits.push(`duration ${c.spec.limits.duration}${defaultedDuration ? ' (the default: no --duration or --max-packets given)' : ''}`);
  if (c.spec.limits?.maxPackets) limits.push(`max ${c.spec.limits.maxPackets} packets`);
  return [
    `packetcapture.${GROUP}/${c.metadata.name} created in namespace ${c.metadata.namespace}`,
    `  targets: ${what.join(' and ')}`,
    ...(c.spec.filter ? [`  filter:  ${c.spec.filter}`] : []),
    ...(c.spec.snapLength ? [`  snap length: ${c.spec.snapLength}`] : []),
    `  stops after: ${limits.join(' or ')}`,
    `Watch it with: kubectl ringtap status ${c.metadata.name} -n ${c.metadata.namespace} --watch`,
  ].join('\n');
}

// ---- status -----------------------------------------------------------------------------------------

export async function getCapture(opts: TargetOptions): Promise<PacketCapture> {
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  return (await client.get(PacketCaptureType, opts.namespace, opts.name)) as unknown as PacketCapture;
}

// ---- data ------------------------------------------------------------------------------------------

export interface DataOptions extends TargetOptions {
  kind: TargetKind;
  /** Only this node's packets. */
  node?: string;
  /** Progress and warnings (stderr in the CLI). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

interface StatusLike extends KubeObject { status?: { phase?: string; totals?: { packets?: number }; nodes?: { node: string; packets?: number }[] } }

async function getParent(opts: DataOptions): Promise<StatusLike> {
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  return opts.kind === 'IPAMonitor'
    ? client.get<StatusLike>(IPAMonitorType, undefined, opts.name)
    : client.get<StatusLike>(PacketCaptureType, opts.namespace, opts.name);
}

/** What the status counts for the packets asked for (one node, or all). */
function statusPackets(p: StatusLike, node?: string): number | undefined {
  if (node !== undefined) return p.status?.nodes?.find((n) => n.node === node)?.packets;
  return p.status?.totals?.packets ?? p.status?.nodes?.reduce((a, n) => a + (n.packets ?? 0), 0);
}

function pcapPath(opts: DataOptions, query: Record<string, string>): string {
  const q = new URLSearchParams(query);
  if (opts.node) q.set('node', opts.node);
  const qs = q.toString();
  // The long-running form: a large download or a live stream outlasts the API server's request timeout.
  return dataPath(opts.kind, opts.namespace, opts.name, 'pcap', { longRunning: true }) + (qs ? `?${qs}` : '');
}

export interface Counted {
  packets: number;
  interfaces: number;
  perNode: Map<string, number>;
  /** The server's notices in the file: damaged files whose packets after the damage are missing. */
  notices?: string[];
}

/**
 * Writes the body to out at the pace out takes it, and counts its packets per node (the node=
 * label of each interface's description) on the way. Returns the counts so far on failure too.
 */
async function writeCounting(body: AsyncIterable<Uint8Array>, out: Writable, counted: Counted): Promise<void> {
  const nodeOf = new Map<string, string>();
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      if (out.errored) throw out.errored; // a failed output never drains
      if (!out.write(chunk)) await once(out, 'drain');
      yield chunk;
    }
  }
  for await (const ev of readCapture(tee(), undefined, { onNotice: (t) => (counted.notices ??= []).push(t) })) {
    if (ev.type === 'interface') {
      counted.interfaces++;
      const node = /(?:^|\s)node=(\S+)/.exec(ev.iface.description ?? '')?.[1] ?? '?';
      nodeOf.set(ev.iface.key, node);
      if (!counted.perNode.has(node)) counted.perNode.set(node, 0);
      continue;
    }
    counted.packets++;
    const node = nodeOf.get(ev.packet.interfaceKey) ?? '?';
    counted.perNode.set(node, (counted.perNode.get(node) ?? 0) + 1);
  }
}

// ---- fetch ------------------------------------------------------------------------------------------

export interface FetchOptions extends DataOptions {
  /** A file path ("-" is stdout) or a Writable; default NAME.pcapng. */
  output?: string | Writable;
}

export interface FetchSummary extends Counted {
  output: string;
  /** What the status counts (undefined: the status has no count). */
  expected?: number;
  /** Why the download stopped early, if it did (the output keeps every packet before it). */
  error?: string;
}

/** Downloads every node's files, merged by the data API in time order, into one pcapng. */
export async function fetchCapture(opts: FetchOptions): Promise<FetchSummary> {
  const parent = await getParent(opts);
  const expected = statusPackets(parent, opts.node);
  const data = new DataClient(opts.kubeConfig);
  const r = await data.get(pcapPath(opts, {}), opts.signal ? { signal: opts.signal } : {});
  const { stream, path, commit } = openOutput(opts.output ?? `${opts.name}.pcapng`);
  const counted: Counted = { packets: 0, interfaces: 0, perNode: new Map() };
  let error: string | undefined;
  try {
    await writeCounting(r.body, stream, counted);
  } catch (err) {
    error = describeCause(err);
  }
  await commit();
  return { output: path, ...counted, ...(expected !== undefined ? { expected } : {}), ...(error ? { error } : {}) };
}

function describeCause(err: unknown): string {
  const m = (err as Error)?.message ?? String(err);
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return cause && !m.includes(cause) ? `${m}: ${cause}` : m;
}

/**
 * A file is written under a temporary name and renamed when the download ends, also when it
 * ended early: the packets before the failure are good, and the command says it is incomplete.
 */
function openOutput(out: string | Writable): { stream: Writable; path: string; commit: () => Promise<void> } {
  if (typeof out !== 'string') return { stream: out, path: '(stream)', commit: async () => undefined };
  if (out === '-') return { stream: process.stdout, path: '-', commit: async () => undefined };
  const tmp = `${out}.part`;
  const stream = createWriteStream(tmp);
  // The first failure (no such directory, a full disk) is the one to report, once, without a stack
  // trace; a listener keeps it from being an uncaught 'error' event, and end() on the destroyed
  // stream would only add ERR_STREAM_DESTROYED.
  let failure: Error | undefined;
  stream.on('error', (err: Error) => (failure ??= err));
  return {
    stream,
    path: out,
    commit: async () => {
      if (!failure) await new Promise<void>((resolve) => stream.end(() => resolve()));
      if (failure) throw new Error(`cannot write ${tmp}: ${failure.message}`);
      renameSync(tmp, out);
    },
  };
}

export function formatFetchSummary(s: FetchSummary): string {
  const lines = [`wrote ${s.packets} packets from ${s.perNode.size} node(s), ${s.interfaces} interface(s) to ${s.output === '-' ? 'stdout' : s.output}`];
  for (const [node, n] of s.perNode) lines.push(`  ${node}: ${n} packets`);
  for (const n of s.notices ?? []) lines.push(`warning: damaged: ${n}`);
  if (s.error) lines.push(`INCOMPLETE: the download stopped early (${s.error}); the output holds the packets before that`);
  else if (s.notices?.length) lines.push('INCOMPLETE: damaged files; the output holds every packet before the damage in each');
  else if (s.expected !== undefined && s.expected !== s.packets) lines.push(`warning: the status counts ${s.expected} packets, the files hold ${s.packets} (retention may have removed files, or the capture is still running)`);
  return lines.join('\n');
}

// ---- stream -----------------------------------------------------------------------------------------

export interface StreamOptions extends DataOptions {
  output?: Writable;
  /** Replay what was captured so far first, then go live. */
  fromStart?: boolean;
}

export interface StreamSummary extends Counted { error?: string }

/** The capture's live packets of every node, merged by the data API, until the capture completes. */
export async function streamCapture(opts: StreamOptions): Promise<StreamSummary> {
  const data = new DataClient(opts.kubeConfig);
  const r = await data.get(pcapPath(opts, { follow: 'true', ...(opts.fromStart ? { fromStart: 'true' } : {}) }), opts.signal ? { signal: opts.signal } : {});
  // The answer comes once the server has opened every node's stream: what follows is all streamed.
  opts.log?.(`streaming ${opts.namespace}/${opts.name}${opts.node ? ` from node ${opts.node}` : ''}`);
  const counted: Counted = { packets: 0, interfaces: 0, perNode: new Map() };
  const out = opts.output ?? process.stdout;
  try {
    await writeCounting(r.body, out, counted);
  } catch (err) {
    if (opts.signal?.aborted) return counted; // the user stopped it
    return { ...counted, error: describeCause(err) };
  }
  if (out !== process.stdout) out.end();
  return counted;
}

export function formatStreamSummary(s: StreamSummary): string {
  const per = [...s.perNode].map(([node, n]) => `; ${node}: ${n} packets`).join('');
  const damaged = (s.notices ?? []).map((n) => `\nwarning: damaged: ${n}`).join('');
  return `stream ended: ${s.packets} packets from ${s.perNode.size} node(s)${per}${damaged}${s.error ? `\nINCOMPLETE: the stream broke off (${s.error})` : ''}`;
}

// ---- list -------------------------------------------------------------------------------------------

interface CaptureRow extends KubeObject { status?: { phase?: string; totals?: { nodes?: number; packets?: number; bytes?: number; files?: number } } }

/** The PacketCaptures of a namespace (or all), one line each: phase, nodes, packets, files. */
export async function listCaptures(opts: { kubeConfig: KubeConfig; namespace?: string }): Promise<string> {
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  const list = await client.list<CaptureRow>(PacketCaptureType, opts.namespace);
  const rows = list.items.map((c) => [
    ...(opts.namespace === undefined ? [c.metadata.namespace ?? ''] : []),
    c.metadata.name, c.status?.phase ?? 'Pending', String(c.status?.totals?.nodes ?? 0), String(c.status?.totals?.packets ?? 0),
    String(c.status?.totals?.files ?? 0), String(c.status?.totals?.bytes ?? 0),
  ]);
  if (rows.length === 0) return `No PacketCaptures found${opts.namespace ? ` in namespace ${opts.namespace}` : ''}.`;
  return table([[...(opts.namespace === undefined ? ['NAMESPACE'] : []), 'NAME', 'PHASE', 'NODES', 'PACKETS', 'FILES', 'BYTES'], ...rows]);
}

interface DataFiles {
  phase?: string;
  nodes: { node: string; phase?: string; packets?: number; size?: number; error?: string; files: { name: string; size: number; mtime: string; path: string }[] }[];
}

/** One capture's (or IPAMonitor's) files per node, from the data API. */
export async function listFiles(opts: DataOptions): Promise<string> {
  const data = new DataClient(opts.kubeConfig);
  const r = await data.getJSON<DataFiles>(dataPath(opts.kind, opts.namespace, opts.name, 'files'), opts.signal);
  const rows: string[][] = [];
  for (const n of r.nodes) {
    if (n.error) rows.push([n.node, '-', '-', '-', `error: ${n.error}`]);
    for (const f of n.files) rows.push([n.node, f.name, String(f.size), f.mtime, f.path]);
    if (!n.error && n.files.length === 0) rows.push([n.node, '-', '0', '-', '(no files)']);
  }
  const head = `${opts.kind === 'IPAMonitor' ? 'ipamonitor' : `packetcapture ${opts.namespace}`}/${opts.name} phase=${r.phase ?? 'Pending'} ` +
    r.nodes.map((n) => `${n.node}: ${n.packets ?? 0} packets`).join(', ');
  return `${head}\n${table([['NODE', 'FILE', 'BYTES', 'MODIFIED', 'PATH (kubectl get --raw)'], ...rows])}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}
