// The kubectl plugin's operations as importable functions: create a PacketCapture, read its
// progress, fetch every node's files merged into one pcapng, and stream it live.
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import type { PacketCapture, PacketCaptureNodeStatus } from '../../crds/src/packetcapture.js';
import { API_VERSION, GROUP, PacketCaptureType } from '../../crds/src/index.js';
import { KubeClient, PodType, type KubeObject } from '../../lib/kube/kube.js';
import { AGENT_LABEL, AgentError, ProxyClient, agentProxyPath, captureFilesPath, captureStreamPath } from './agentclient.js';
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_DURATION } from './args.js';
import { concatCaptures, mergeCaptures, readCapture, writeMerged, type CaptureEvent, type MergeSource, type WriteSummary } from '../../lib/pcapng/index.js';

export const FIELD_MANAGER = 'kubectl-ringtap';
export const TERMINAL_PHASES = new Set(['Completed', 'Failed']);

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
export function buildCapture(o: Omit<CreateCaptureOptions, 'kubeConfig'>): { capture: PacketCapture; defaultedDuration: boolean } {
  const pods: NonNullable<PacketCapture['spec']['targets']['pods']> = {};
  if (o.selector && Object.keys(o.selector).length) pods.selector = { matchLabels: o.selector };
  if (o.pods?.length) pods.names = o.pods;
  const defaultedDuration = o.duration === undefined && o.maxPackets === undefined;
  const limits: NonNullable<PacketCapture['spec']['limits']> = {};
  if (o.duration !== undefined || defaultedDuration) limits.duration = o.duration ?? DEFAULT_DURATION;
  if (o.maxPackets !== undefined) limits.maxPackets = o.maxPackets;
  const capture: PacketCapture = {
    apiVersion: API_VERSION,
    kind: 'PacketCapture',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      targets: { pods },
      ...(o.filter ? { filter: o.filter } : {}),
      ...(o.snapLength !== undefined ? { snapLength: o.snapLength } : {}),
      limits,
    },
  };
  return { capture, defaultedDuration };
}

/** Creates the PacketCapture; API server rejections surface as KubeError with the server's message. */
export async function createCapture(opts: CreateCaptureOptions): Promise<{ capture: PacketCapture; defaultedDuration: boolean }> {
  const { capture, defaultedDuration } = buildCapture(opts);
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  const created = await client.create(PacketCaptureType, capture as unknown as KubeObject);
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

// ---- agents -----------------------------------------------------------------------------------------

export interface AgentOptions extends TargetOptions {
  agentNamespace?: string;
  /** Progress and warnings (stderr in the CLI). */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

interface PodLike extends KubeObject { status?: { phase?: string; conditions?: { type: string; status: string }[] } }

/** The agent pod on a node: Running and Ready first. */
export async function findAgentPod(client: KubeClient, agentNamespace: string, node: string): Promise<string | undefined> {
  const pods = await client.list<PodLike>(PodType, agentNamespace, { labelSelector: AGENT_LABEL, fieldSelector: `spec.nodeName=${node}` });
  const score = (p: PodLike) =>
    (p.status?.phase === 'Running' ? 2 : 0) + (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 1 : 0) - (p.metadata.deletionTimestamp ? 4 : 0);
  return pods.items.sort((a, b) => score(b) - score(a))[0]?.metadata.name;
}

export interface RemoteFile { name: string; size: number; mtime: string }
interface NodeAgent { node: string; pod: string }

async function nodeAgents(opts: AgentOptions, capture: PacketCapture, client: KubeClient, missing: string[]): Promise<NodeAgent[]> {
  const agentNs = opts.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const nodes = (capture.status?.nodes ?? []).map((n: PacketCaptureNodeStatus) => n.node);
  const out: NodeAgent[] = [];
  for (const node of nodes) {
    const pod = await findAgentPod(client, agentNs, node);
    if (!pod) {
      missing.push(node);
      opts.log?.(`warning: no ringtap agent pod (label ${AGENT_LABEL}) on node ${node} in namespace ${agentNs}: its packets are missing`);
      continue;
    }
    out.push({ node, pod });
  }
  return out;
}

function nodeError(node: string, err: unknown): Error {
  if (err instanceof AgentError) return new AgentError(err.status, `node ${node}: ${err.message}`);
  return new Error(`node ${node}: ${(err as Error).message ?? String(err)}`);
}

// ---- fetch ------------------------------------------------------------------------------------------

export interface FetchOptions extends AgentOptions {
  /** A file path ("-" is stdout) or a Writable; default NAME.pcapng. */
  output?: string | Writable;
  /** How far the agent's files may be out of time order (ms); default 1000. */
  reorderWindowMs?: number;
}

export interface FetchSummary {
  output: string;
  nodes: { node: string; pod: string; files: RemoteFile[]; packets: number }[];
  missingNodes: string[];
  packets: number;
  interfaces: number;
}

/** Downloads every node's files through the API server and merges them into one pcapng, in time order. */
export async function fetchCapture(opts: FetchOptions): Promise<FetchSummary> {
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  const proxy = new ProxyClient(opts.kubeConfig);
  await proxy.token(); // fail early, and clearly, for certificate-only users
  const capture = await getCapture(opts);
  const agentNs = opts.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const missingNodes: string[] = [];
  const agents = await nodeAgents(opts, capture, client, missingNodes);

  const nodes: FetchSummary['nodes'] = [];
  for (const a of agents) {
    let files: RemoteFile[];
    try {
      const r = await proxy.getJSON<{ node?: string; files?: RemoteFile[] }>(agentProxyPath(agentNs, a.pod, captureFilesPath(opts.namespace, opts.name)), opts.signal);
      files = (r.files ?? []).slice().sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    } catch (err) {
      if (err instanceof AgentError && err.status === 404) {
        opts.log?.(`node ${a.node}: no files (${err.message})`);
        files = [];
      } else throw nodeError(a.node, err);
    }
    nodes.push({ ...a, files, packets: 0 });
  }

  const sources: MergeSource[] = nodes.map((n) => ({
    label: `node=${n.node}`,
    events: concatCaptures(
      (async function* (): AsyncGenerator<AsyncIterable<CaptureEvent>> {
        for (const f of n.files) {
          let body: AsyncIterable<Uint8Array>;
          try {
            body = (await proxy.get(agentProxyPath(agentNs, n.pod, captureFilesPath(opts.namespace, opts.name, f.name)), opts.signal ? { signal: opts.signal } : {})).body;
          } catch (err) {
            throw nodeError(n.node, err);
          }
          yield readCapture(body);
        }
      })(),
    ),
  }));

  const { stream, path, commit, abort } = openOutput(opts.output ?? `${opts.name}.pcapng`);
  let summary: WriteSummary;
  try {
    summary = await writeMerged(mergeCaptures(sources, { slackNs: BigInt(opts.reorderWindowMs ?? 1000) * 1_000_000n }), stream, { endStream: path !== '-' && typeof opts.output !== 'object' });
    commit();
  } catch (err) {
    abort();
    throw err;
  }
  for (const n of nodes) n.packets = summary.perSource.get(`node=${n.node}`) ?? 0;
  return { output: path, nodes, missingNodes, packets: summary.packets, interfaces: summary.interfaces };
}

/** A file is written under a temporary name and renamed when complete. */
function openOutput(out: string | Writable): { stream: Writable; path: string; commit: () => void; abort: () => void } {
  if (typeof out !== 'string') return { stream: out, path: '(stream)', commit: () => undefined, abort: () => undefined };
  if (out === '-') return { stream: process.stdout, path: '-', commit: () => undefined, abort: () => undefined };
  const tmp = `${out}.part`;
  const stream = createWriteStream(tmp);
  return {
    stream,
    path: out,
    commit: () => renameSync(tmp, out),
    abort: () => {
      stream.destroy();
      rmSync(tmp, { force: true });
    },
  };
}

export function formatFetchSummary(s: FetchSummary): string {
  const lines = [`wrote ${s.packets} packets from ${s.nodes.length} node(s), ${s.interfaces} interface(s) to ${s.output === '-' ? 'stdout' : s.output}`];
  for (const n of s.nodes) lines.push(`  ${n.node}: ${n.files.length} file(s), ${n.files.reduce((a, f) => a + f.size, 0)} bytes, ${n.packets} packets (agent ${n.pod})`);
  if (s.missingNodes.length) lines.push(`  INCOMPLETE: no agent found on ${s.missingNodes.join(', ')}`);
  return lines.join('\n');
}

// ---- stream -----------------------------------------------------------------------------------------

export interface StreamOptions extends AgentOptions {
  output?: Writable;
  /** Reorder window in wall time (ms); default 250. */
  holdMs?: number;
  /** Replay each node's files first, then go live. */
  fromStart?: boolean;
}

export interface StreamSummary {
  nodes: { node: string; pod: string; packets: number; state: 'streamed' | 'not running' | 'no capture' }[];
  missingNodes: string[];
  packets: number;
}

/** Opens every node's live stream and writes one merged pcapng until all of them end. */
export async function streamCapture(opts: StreamOptions): Promise<StreamSummary> {
  const client = new KubeClient(opts.kubeConfig, FIELD_MANAGER);
  const proxy = new ProxyClient(opts.kubeConfig);
  await proxy.token();
  const capture = await getCapture(opts);
  const agentNs = opts.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const missingNodes: string[] = [];
  const agents = await nodeAgents(opts, capture, client, missingNodes);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onAbort);

  const nodes: StreamSummary['nodes'] = [];
  const sources: MergeSource[] = [];
  try {
    // Open all streams at once (an agent may answer only with its first bytes), and all before
    // any output, so that an authorization error stops us before tshark sees a header.
    const opened = await Promise.allSettled(agents.map((a) => proxy.get(agentProxyPath(agentNs, a.pod, captureStreamPath(opts.namespace, opts.name, opts.fromStart)), { signal: abort.signal })));
    for (const [i, a] of agents.entries()) {
      const r = opened[i]!;
      if (r.status === 'fulfilled') {
        nodes.push({ ...a, packets: 0, state: 'streamed' });
        sources.push({ label: `node=${a.node}`, events: readCapture(r.value.body) });
        continue;
      }
      const err = r.reason as unknown;
      if (err instanceof AgentError && (err.status === 404 || err.status === 410)) {
        nodes.push({ ...a, packets: 0, state: err.status === 410 ? 'not running' : 'no capture' });
        opts.log?.(`node ${a.node}: ${err.message}`);
        continue;
      }
      throw nodeError(a.node, err);
    }
    if (sources.length === 0) opts.log?.(`no node is capturing ${opts.namespace}/${opts.name} now; use kubectl ringtap fetch for its files`);
    else opts.log?.(`streaming ${opts.namespace}/${opts.name} from ${sources.length} node(s)`);
    const out = opts.output ?? process.stdout;
    const holdMs = opts.holdMs ?? 250;
    const summary = await writeMerged(mergeCaptures(sources, { holdMs, slackNs: BigInt(holdMs) * 1_000_000n }), out, { endStream: out !== process.stdout });
    for (const n of nodes) n.packets = summary.perSource.get(`node=${n.node}`) ?? 0;
    return { nodes, missingNodes, packets: summary.packets };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    abort.abort();
  }
}
