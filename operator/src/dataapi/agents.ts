// The operator's side of the agents' server: files and live streams are read under the
// operator's own identity, never a user's. Each request carries a short-lived token of the
// operator's ServiceAccount made by TokenRequest for one node's audience
// (agent.ringtap.dev/<node>): the agent accepts it only with a TokenReview for that audience and
// only for the operator's ServiceAccount, so a token one agent sees is worthless to any other.
// The agent's serving certificate is pinned to the SHA-256 fingerprint it publishes on its Node.
import type { Readable } from 'node:stream';
import type { OnReadOpts } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
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
 * Bytes the data API's responses buffer before the merge waits for 'drain'. Every hop of a
 * download is a process of its own (agent, operator, API server, client), and on a busy machine
 * each handoff waits for the next one to be scheduled: large buffers make fewer handoffs. The
 * merge's output chunks are reused (DOWNLOAD_WRITER), so these bytes are no garbage.
 */
export const STREAM_BUFFER_BYTES = 1 << 20;
/**
 * Bytes read ahead from one agent's response before its socket is paused (the kernel's socket
 * buffers hold the rest, at no cost to this process). Not more: a chunk that waits in a queue
 * while the JavaScript heap's young generation fills survives into the old generation, where it
 * and its memory outside the heap are freed only by a full collection. With 1 MiB queued per
 * agent (and a new buffer per read, before rawGet) the operator's RSS grew by 120-150 MiB while
 * it served 1 GiB (hack/bench/download). 256 KiB, against 64 KiB: the download ran at 0.48-0.49
 * of the direct merge against 0.43-0.47 (fewer pauses while the merge runs), RSS growth 48-50 MiB;
 * 1 MiB again, with rawGet's slabs: 0.38-0.41 and 56-68 MiB (more operator CPU, in the collector).
 */
export const READ_BUFFER_BYTES = 256 << 10;

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
  private async endpoint(node: string): Promise<{ origin: string; host: string; port: number; fingerprint: string }> {
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
    return { origin: `https://${host}:${port}`, host: ip, port, fingerprint };
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
        highWaterMark: READ_BUFFER_BYTES,
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

  /**
   * GET a path of the node's agent on a connection of its own, reading the body straight from
   * TLS into one reusable buffer and copying it into 256 KiB slabs (rawGet). For bulk bodies
   * (whole files): with undici or node:https every TLS record read is a new buffer made outside
   * the JavaScript heap, which the garbage collector frees only in a full collection; reading
   * 1 GiB from two agents that way cost 2.4-3.4 CPU-s and 150 MiB of RSS, and this way 0.8 CPU-s
   * and none (hack/bench/download).
   */
  async getBody(node: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<RawResponse> {
    const [ep, token] = await Promise.all([this.endpoint(node), this.token(node)]);
    return rawGet(node, ep, path, token, opts.signal);
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

/** An agent's response read by rawGet: the status, the headers (names in lower case), the body. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** The body's bytes in order; ending it early (return/throw) closes the connection. */
  body: AsyncGenerator<Buffer>;
}

/** Bytes the TLS layer decrypts into at a time (one buffer per connection, reused). */
const RAW_READ_BYTES = 64 << 10;
/** The body is copied out of the read buffer into slabs of this size, handed out as views. */
const RAW_SLAB_BYTES = 256 << 10;
const MAX_HEAD_BYTES = 64 << 10;

/**
 * A minimal HTTP/1.1 GET over TLS (one request per connection, `Connection: close`) whose body
 * is read with the socket's `onread` buffer: no allocation per read. Bodies with Content-Length,
 * chunked bodies and bodies delimited by the connection's end are read; the agent's certificate
 * must have the fingerprint its Node publishes. At most READ_BUFFER_BYTES wait unread before
 * the socket is paused.
 */
export function rawGet(node: string, ep: { host: string; port: number; fingerprint: string }, path: string, token: string, signal?: AbortSignal): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    const queue: Buffer[] = [];
    let queued = 0;
    let paused = false;
    let failure: Error | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let head: Buffer | undefined = Buffer.alloc(0);
    let response: RawResponse | undefined;
    /** Body bytes still expected (Content-Length), or -1 until the end of the connection. */
    let remaining = -1;
    let chunked: ChunkedDecoder | undefined;
    let slab = Buffer.allocUnsafeSlow(RAW_SLAB_BYTES);
    let slabUsed = 0;
    const fail = (err: Error) => {
      failure ??= err;
      if (!response) reject(err);
      socket.destroy();
      notify();
    };
    const finish = () => {
      ended = true;
      socket.destroy();
      notify();
    };
    // Copies body bytes out of the read buffer (it is overwritten by the next read).
    const keep = (b: Buffer, start: number, end: number) => {
      while (start < end) {
        if (slabUsed === slab.length) {
          slab = Buffer.allocUnsafeSlow(RAW_SLAB_BYTES);
          slabUsed = 0;
        }
        const n = Math.min(end - start, slab.length - slabUsed);
        b.copy(slab, slabUsed, start, start + n);
        queue.push(slab.subarray(slabUsed, slabUsed + n));
        queued += n;
        slabUsed += n;
        start += n;
      }
    };
    const body = (b: Buffer, start: number, end: number) => {
      if (chunked) {
        chunked.feed(b, start, end, keep);
        if (chunked.done) finish();
      } else if (remaining >= 0) {
        const n = Math.min(end - start, remaining);
        keep(b, start, start + n);
        remaining -= n;
        if (remaining === 0) finish();
      } else {
        keep(b, start, end);
      }
      notify();
    };
    const onHead = (b: Buffer, n: number) => {
      const all: Buffer = Buffer.concat([head!, b.subarray(0, n)]);
      const at = all.indexOf('\r\n\r\n');
      if (at < 0) {
        if (all.length > MAX_HEAD_BYTES) fail(new AgentUnavailable(node, `the agent's response headers exceed ${MAX_HEAD_BYTES} bytes`));
        head = all;
        return;
      }
      head = undefined;
      const [statusLine = '', ...lines] = all.toString('latin1', 0, at).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (!m) return fail(new AgentUnavailable(node, `the agent's response is not HTTP/1.1: ${JSON.stringify(statusLine.slice(0, 80))}`));
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) chunked = new ChunkedDecoder();
      else if (headers['content-length'] !== undefined) {
        remaining = Number(headers['content-length']);
        if (!Number.isSafeInteger(remaining) || remaining < 0) return fail(new AgentUnavailable(node, `the agent's Content-Length ${headers['content-length']} is not a length`));
      }
      socket.setTimeout(0);
      response = { status: Number(m[1]), headers, body: chunks() };
      if (remaining === 0) finish();
      else body(all, at + 4, all.length);
      resolve(response);
    };
    const readBuffer = Buffer.allocUnsafe(RAW_READ_BYTES);
    // tls.connect takes net's onread (Node 15.1+), which its type declarations leave out.
    const options: ConnectionOptions & { onread: OnReadOpts } = {
      host: ep.host, port: ep.port, rejectUnauthorized: false, timeout: HEADERS_TIMEOUT_MS,
      onread: {
        buffer: readBuffer,
        callback: (n: number): boolean => {
          if (failure || ended) return false;
          try {
            if (head) onHead(readBuffer, n);
            else body(readBuffer, 0, n);
          } catch (err) {
            fail(err instanceof Error ? err : new Error(String(err)));
          }
          // Reading stops until the reader has taken enough (chunks below). net's own pause on a
          // false return stops the handle without marking the socket paused, so resume() would
          // not start it again: pause() and resume() both, explicitly.
          if (queued >= READ_BUFFER_BYTES && !paused) {
            paused = true;
            socket.pause();
          }
          return true;
        },
      },
    };
    const socket = tlsConnect(options);
    socket.once('secureConnect', () => {
      const got = socket.getPeerCertificate().fingerprint256;
      if (got !== ep.fingerprint) return fail(new AgentUnavailable(node, `the agent's certificate (${got ?? 'none'}) is not the one its Node publishes (${ep.fingerprint})`));
      const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${ep.port}\r\nAuthorization: Bearer ${token}\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    });
    // Headers must come in time; the body may then take any time (a slow client reads slowly).
    socket.on('timeout', () => {
      if (!response) fail(new AgentUnavailable(node, `no response headers from the agent at ${ep.host}:${ep.port} within ${HEADERS_TIMEOUT_MS / 1000} s`));
    });
    socket.on('error', (err) => fail(response ? err : new AgentUnavailable(node, `the agent at ${ep.host}:${ep.port} did not answer: ${err.message}`)));
    socket.on('close', () => {
      if (ended) return;
      if (head !== undefined) return fail(new AgentUnavailable(node, `the agent at ${ep.host}:${ep.port} closed the connection before its response`));
      if (remaining > 0 || (chunked && !chunked.done)) return fail(new Error('the agent\'s response closed before its end'));
      finish(); // a body delimited by the end of the connection
    });
    const onAbort = () => fail(new Error('aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          const c = queue.shift();
          if (c) {
            queued -= c.length;
            if (paused && queued < READ_BUFFER_BYTES && !ended) {
              paused = false;
              socket.resume();
            }
            yield c;
            continue;
          }
          if (failure) throw failure;
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!ended) {
          failure ??= new Error('the reader stopped');
          socket.destroy();
        }
      }
    }
  });
}

/** Decodes an HTTP/1.1 chunked body as it arrives (chunk extensions and trailers are skipped). */
class ChunkedDecoder {
  /** Bytes left of the current chunk's data, then its CRLF. */
  private left = 0;
  private crlf = 0;
  private line = '';
  private trailers = false;
  done = false;

  feed(b: Buffer, start: number, end: number, out: (b: Buffer, start: number, end: number) => void): void {
    let i = start;
    while (i < end && !this.done) {
      if (this.left > 0) {
        const n = Math.min(this.left, end - i);
        out(b, i, i + n);
        this.left -= n;
        i += n;
        if (this.left === 0) this.crlf = 2;
        continue;
      }
      if (this.crlf > 0) {
        this.crlf--;
        i++;
        continue;
      }
      const c = b[i++]!;
      if (c !== 0x0a) {
        if (c !== 0x0d) this.line += String.fromCharCode(c);
        if (this.line.length > 4096) throw new Error('chunked body: line too long');
        continue;
      }
      const line = this.line;
      this.line = '';
      if (this.trailers) {
        if (line === '') this.done = true;
        continue;
      }
      const size = parseInt(line.split(';')[0]!.trim(), 16);
      if (!Number.isSafeInteger(size) || size < 0) throw new Error(`chunked body: bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
      if (size === 0) this.trailers = true;
      else this.left = size;
    }
  }
}

/**
 * A body's chunks one by one, as they arrived, with at most `limit` bytes queued before the body
 * is paused (backpressure to the agent). A Readable's own iterator instead hands out everything
 * buffered joined into one new buffer: a copy of every byte, and large short-lived allocations.
 */
export async function* chunksOf(body: Readable, limit = READ_BUFFER_BYTES): AsyncGenerator<Buffer> {
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
