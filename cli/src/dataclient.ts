// Talking to the data API (data.ringtap.dev) through the API server with the kubeconfig's own
// credentials: client certificates, tokens, token files and exec plugins alike, because the API
// server authenticates the user and forwards only who they are to the operator. client-node's
// KubeConfig builds each request (headers and a TLS dispatcher with the certificates).
//
// Bodies are streamed, never buffered: a capture can be large and a live stream endless.
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { Agent, fetch, type Dispatcher } from 'undici';

/** An error answer of the API server or the data API, with its Status message. */
export class DataApiError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'DataApiError';
  }
}

export interface StreamResponse {
  status: number;
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
}

interface Auth { server: string; headers: Record<string, string>; dispatcher: Dispatcher }

/** No body timeout (a live stream is quiet between packets); headers within a minute. */
const HEADERS_TIMEOUT_MS = 60_000;

export class DataClient {
  private authP?: Promise<Auth>;

  constructor(readonly config: KubeConfig) {}

  private auth(): Promise<Auth> {
    this.authP ??= (async () => {
      const cluster = this.config.getCurrentCluster();
      if (!cluster) throw new DataApiError(0, 'NoCluster', 'the kubeconfig has no current cluster (set a current context, or pass --kubeconfig/--context)');
      const ctx = new RequestContext(cluster.server, HttpMethod.GET);
      await this.config.applySecurityAuthentication(ctx);
      const inner = (ctx.getDispatcher() as Dispatcher | undefined) ?? new Agent();
      const dispatcher = inner.compose((dispatch) => (opts, handler) => dispatch({ ...opts, bodyTimeout: 0, headersTimeout: HEADERS_TIMEOUT_MS }, handler));
      return { server: cluster.server.replace(/\/+$/, ''), headers: ctx.getHeaders(), dispatcher };
    })();
    return this.authP;
  }

  /** GET path on the API server; a non-2xx answer throws DataApiError with the Status message. */
  async get(path: string, opts: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<StreamResponse> {
    const a = await this.auth();
    const res = await fetch(a.server + path, {
      method: 'GET',
      headers: { ...a.headers, ...opts.headers },
      dispatcher: a.dispatcher,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.status < 200 || res.status >= 300) {
      const text = await res.text().catch(() => '');
      throw statusError(res.status, text);
    }
    if (!res.body) throw new DataApiError(res.status, 'EmptyResponse', `GET ${path}: empty response`);
    return { status: res.status, headers: res.headers as unknown as Headers, body: res.body as AsyncIterable<Uint8Array> };
  }

  async getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
    const r = await this.get(path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(Buffer.from(c));
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }
}

/** The error of a non-2xx answer: a Kubernetes Status when the body is one, else its text. */
export function statusError(status: number, text: string): DataApiError {
  let msg = text.trim();
  let reason = `HTTP${status}`;
  try {
    const j = JSON.parse(text) as { message?: string; reason?: string };
    if (j.message) msg = j.message;
    if (j.reason) reason = j.reason;
  } catch {
    /* plain text */
  }
  return new DataApiError(status, reason, msg || `HTTP ${status}`);
}

/**
 * The kubeconfig as kubectl would read it with these flags: --kubeconfig (else $KUBECONFIG, else
 * ~/.kube/config), --context, and --as (the Impersonate-User header on every request).
 */
export function loadKubeConfig(flags: { kubeconfig?: string; context?: string; as?: string } = {}): KubeConfig {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) throw new DataApiError(0, 'NoContext', `--context "${flags.context}": no such context in the kubeconfig (${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(flags.context);
  }
  if (flags.as) {
    const current = kc.getCurrentUser()?.name;
    const out = new KubeConfig();
    out.loadFromOptions({
      clusters: kc.getClusters(),
      users: kc.getUsers().map((u) => (u.name === current ? { ...u, impersonateUser: flags.as } : u)),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    return out;
  }
  return kc;
}
