// The operator's side of the agents' server: files and live streams are read under the
// operator's own identity, never a user's. Each request carries a short-lived token of the
// operator's ServiceAccount made by TokenRequest for one node's audience
// (agent.ringtap.dev/<node>): the agent accepts it only with a TokenReview for that audience and
// only for the operator's ServiceAccount, so a token one agent sees is worthless to any other.
// The agent's serving certificate is pinned to the SHA-256 fingerprint it publishes on its Node.
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { HttpMethod } from '@kubernetes/client-node';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import type { INode } from 'kubernetes-models/v1/Node';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { Logger } from '../../../lib/observe/log.js';
import { KubeClient, NodeType, PodType, type KubeObject } from '../../../lib/kube/kube.js';
import { AGENT_CERT_ANNOTATION } from '../../../crds/src/labels.js';
import { AGENT_POD_LABEL, AGENT_SERVER_PORT, agentAudience } from '../../../crds/src/dataapi.js';

/** A token is renewed when less than this much of its life is left. */
const TOKEN_RENEW_MS = 120_000;
const TOKEN_SECONDS = 600;
/** How long to wait for an agent's response headers (its body may then take any time). */
const HEADERS_TIMEOUT_MS = 30_000;
/**
 * Bytes buffered per agent response before the socket is paused. Every hop of a download is a
 * process of its own (agent, operator, API server, client), and on a busy machine each handoff
 * waits for the next one to be scheduled: large buffers make fewer handoffs. Memory stays
 * bounded by backpressure all the same.
 */
export const STREAM_BUFFER_BYTES = 1 << 20;

export class AgentUnavailable extends Error {
  constructor(readonly node: string, message: string, readonly status = 503) {
    super(`node ${node}: ${message}`);
    this.name = 'AgentUnavailable';
  }
}

type PodLike = KubeObject & Pick<IPod, 'spec' | 'status'>;
type NodeLike = KubeObject & Pick<INode, 'status'>;

export interface AgentResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export class AgentClient {
  private self?: Promise<{ namespace: string; name: string }>;
  private tokens = new Map<string, { token: string; expires: number }>();
  private dispatchers = new Map<string, Dispatcher>();

  constructor(private client: KubeClient, private namespace: string, private log: Logger) {}

  /** The operator's own ServiceAccount, from a SelfSubjectReview (works in and out of a cluster). */
  private serviceAccount(): Promise<{ namespace: string; name: string }> {
    this.self ??= (async () => {
      const r = await this.client.request<{ status?: { userInfo?: { username?: string } } }>(HttpMethod.POST, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(r.status?.userInfo?.username ?? '');
      if (!m) throw new Error(`the operator runs as "${r.status?.userInfo?.username ?? '?'}", not a ServiceAccount: agents accept only the operator's ServiceAccount tokens`);
      return { namespace: m[1]!, name: m[2]! };
    })();
    this.self.catch(() => (this.self = undefined));
    return this.self;
  }

  private async token(node: string): Promise<string> {
    const hit = this.tokens.get(node);
    if (hit && hit.expires - Date.now() > TOKEN_RENEW_MS) return hit.token;
    const sa = await this.serviceAccount();
    const r = await this.client.request<{ status?: { token?: string; expirationTimestamp?: string } }>(
      HttpMethod.POST, `/api/v1/namespaces/${encodeURIComponent(sa.namespace)}/serviceaccounts/${encodeURIComponent(sa.name)}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [agentAudience(node)], expirationSeconds: TOKEN_SECONDS } } },
    );
    if (!r.status?.token) throw new Error('TokenRequest returned no token');
    const expires = r.status.expirationTimestamp ? Date.parse(r.status.expirationTimestamp) : Date.now() + TOKEN_SECONDS * 1000;
    this.tokens.set(node, { token: r.status.token, expires });
    return r.status.token;
  }

  /** Where the node's agent listens, and the fingerprint its certificate must have. */
  private async endpoint(node: string): Promise<{ origin: string; fingerprint: string }> {
    const [pods, nodeObj] = await Promise.all([
      this.client.list<PodLike>(PodType, this.namespace, { labelSelector: AGENT_POD_LABEL, fieldSelector: `spec.nodeName=${node}` }),
      this.client.get<NodeLike>(NodeType, undefined, node).catch(() => undefined),
    ]);
    const ready = (p: PodLike) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    const pod = pods.items.find(ready);
    const ip = pod?.status?.podIP ?? nodeObj?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (!pod || !ip) throw new AgentUnavailable(node, `no ready ringtap agent pod (label ${AGENT_POD_LABEL}) in namespace ${this.namespace}`);
    const fingerprint = nodeObj?.metadata.annotations?.[AGENT_CERT_ANNOTATION];
    if (!fingerprint) throw new AgentUnavailable(node, `the agent has not published its certificate fingerprint (annotation ${AGENT_CERT_ANNOTATION} on the Node)`);
    const host = ip.includes(':') ? `[${ip}]` : ip;
    // The pod's port named https (the chart's agent.serverPort), else the default.
    const port = pod.spec?.containers?.flatMap((c) => c.ports ?? []).find((p) => p.name === 'https')?.containerPort ?? AGENT_SERVER_PORT;
    return { origin: `https://${host}:${port}`, fingerprint };
  }

  /** One connection pool per node and certificate; a pool refuses a peer with another certificate. */
  private dispatcher(node: string, fingerprint: string): Dispatcher {
    const key = `${node}\0${fingerprint}`;
    let d = this.dispatchers.get(key);
    if (d) return d;
    // No TLS session resumption: a resumed session shows no peer certificate to check.
    const base = buildConnector({ rejectUnauthorized: false, timeout: 10_000, maxCachedSessions: 0 });
    d = new Agent({
      headersTimeout: HEADERS_TIMEOUT_MS,
      bodyTimeout: 0, // a live stream is quiet between packets
      connect: (opts, cb) => base(opts, (err, socket) => {
        if (err || !socket) return cb(err ?? new Error('no socket'), null);
        const got = (socket as TLSSocket).getPeerCertificate?.().fingerprint256;
        if (got !== fingerprint) {
          socket.destroy();
          return cb(new AgentUnavailable(node, `the agent's certificate (${got ?? 'none'}) is not the one its Node publishes (${fingerprint})`), null);
        }
        cb(null, socket);
      }),
    });
    for (const [k, old] of this.dispatchers) if (k.startsWith(`${node}\0`)) void old.close().catch(() => undefined);
    this.dispatchers.set(key, d);
    return d;
  }

  /** GET a path of the node's agent; the body streams (the caller must consume or destroy it). */
  async get(node: string, path: string, opts: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<AgentResponse> {
    const [ep, token] = await Promise.all([this.endpoint(node), this.token(node)]);
    let res;
    try {
      res = await request(`${ep.origin}${path}`, {
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, ...opts.headers },
        dispatcher: this.dispatcher(node, ep.fingerprint),
        highWaterMark: STREAM_BUFFER_BYTES,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (err instanceof AgentUnavailable) throw err;
      throw new AgentUnavailable(node, `the agent at ${ep.origin} did not answer: ${(err as Error).message}`);
    }
    // A body destroyed unread (a 404 skipped, a client gone) emits 'error' (UND_ERR_ABORTED);
    // without a listener that would end the operator. Readers still get errors by iterating.
    res.body.on('error', () => undefined);
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  /** GET and parse JSON; a non-2xx answer throws AgentUnavailable with the agent's message and status. */
  async getJSON<T>(node: string, path: string, signal?: AbortSignal): Promise<T> {
    const r = await this.get(node, path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
    const text = await readText(r.body);
    if (r.status < 200 || r.status >= 300) throw new AgentUnavailable(node, agentMessage(text, r.status), r.status);
    return JSON.parse(text) as T;
  }

  close(): void {
    for (const d of this.dispatchers.values()) void d.close().catch(() => undefined);
    this.dispatchers.clear();
  }
}

/**
 * A body's chunks one by one, as they arrived, with at most `limit` bytes queued before the body
 * is paused (backpressure to the agent). A Readable's own iterator instead hands out everything
 * buffered joined into one new buffer: a copy of every byte, and large short-lived allocations.
 */
export async function* chunksOf(body: Readable, limit = STREAM_BUFFER_BYTES): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (c: Buffer) => {
    queue.push(c);
    queued += c.length;
    if (queued >= limit) body.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: Error) => {
    failure ??= err;
    notify();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error('the agent\'s response closed before its end');
    notify();
  };
  body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const c = queue.shift();
      if (c) {
        queued -= c.length;
        if (queued < limit && body.isPaused()) body.resume();
        yield c;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('data', onData).off('end', onEnd).off('close', onClose);
    if (!ended) body.destroy();
  }
}

export async function readText(body: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export function agentMessage(text: string, status: number): string {
  try {
    const j = JSON.parse(text) as { message?: string };
    if (j.message) return j.message;
  } catch {
    /* not JSON */
  }
  return text.trim() || `HTTP ${status}`;
}
