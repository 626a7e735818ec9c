// Talking to the ringtap agents through the API server's pod proxy with the user's own
// credentials. The API server authenticates the user for the proxy (pods/proxy) and then
// drops the Authorization header, so the user's bearer token goes along again in
// X-Ringtap-Token: the agent runs a TokenReview on it and a SubjectAccessReview for
// `get packetcaptures/download` in the capture's namespace.
//
// Bodies are streamed, never buffered: capture files can be large and live streams endless.
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { Agent, fetch, type Dispatcher } from 'undici';

export const AGENT_PORT = 9443;
export const AGENT_LABEL = 'app.kubernetes.io/name=ringtap-agent';

export class AgentError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'AgentError';
  }
}

export class CredentialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialError';
  }
}

export interface StreamResponse {
  status: number;
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
}

interface Auth { server: string; headers: Record<string, string>; token: string; dispatcher: Dispatcher }

/** The pod-proxy path of an agent pod's HTTPS endpoint. */
export function agentProxyPath(agentNamespace: string, agentPod: string, path: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(agentNamespace)}/pods/https:${encodeURIComponent(agentPod)}:${AGENT_PORT}/proxy${path}`;
}

export function captureFilesPath(namespace: string, name: string, file?: string): string {
  const base = `/v1/captures/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/files`;
  return file === undefined ? base : `${base}/${encodeURIComponent(file)}`;
}

export function captureStreamPath(namespace: string, name: string, fromStart = false): string {
  return `/v1/captures/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/stream${fromStart ? '?from=start' : ''}`;
}

/**
 * Streams HTTP responses from the API server with the kubeconfig's credentials, the user's
 * bearer token repeated in X-Ringtap-Token. No body timeout: a live stream may be quiet for
 * a long time.
 */
export class ProxyClient {
  private authP?: Promise<Auth>;

  constructor(readonly config: KubeConfig) {}

  private auth(): Promise<Auth> {
    this.authP ??= (async () => {
      const cluster = this.config.getCurrentCluster();
      if (!cluster) throw new CredentialError('the kubeconfig has no current cluster (set a current context, or pass --kubeconfig)');
      const ctx = new RequestContext(cluster.server, HttpMethod.GET);
      await this.config.applySecurityAuthentication(ctx);
      const headers = ctx.getHeaders();
      const authz = headers.Authorization ?? headers.authorization;
      const token = /^Bearer\s+(.+)$/i.exec(authz ?? '')?.[1];
      if (!token) throw new CredentialError(noTokenMessage(this.config));
      const inner = (ctx.getDispatcher() as Dispatcher | undefined) ?? new Agent();
      // Per request: no body timeout (live streams are quiet between packets).
      const dispatcher = inner.compose((dispatch) => (opts, handler) => dispatch({ ...opts, bodyTimeout: 0, headersTimeout: 60_000 }, handler));
      return { server: cluster.server.replace(/\/+$/, ''), headers, token, dispatcher };
    })();
    return this.authP;
  }

  /** The user's bearer token (throws CredentialError for certificate-only users). */
  async token(): Promise<string> {
    return (await this.auth()).token;
  }

  /** GET path on the API server; non-2xx answers throw AgentError with the body's message. */
  async get(path: string, opts: { headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<StreamResponse> {
    const a = await this.auth();
    const res = await fetch(a.server + path, {
      method: 'GET',
      headers: { ...a.headers, 'x-ringtap-token': a.token, ...opts.headers },
      dispatcher: a.dispatcher,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.status < 200 || res.status >= 300) {
      const text = await res.text().catch(() => '');
      throw new AgentError(res.status, errorMessage(res.status, text));
    }
    if (!res.body) throw new AgentError(res.status, `GET ${path}: empty response`);
    return { status: res.status, headers: res.headers as unknown as Headers, body: res.body as AsyncIterable<Uint8Array> };
  }

  async getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
    const r = await this.get(path, { headers: { accept: 'application/json' }, ...(signal ? { signal } : {}) });
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(Buffer.from(c));
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }
}

/** The message of an error answer: the agent's or API server's JSON message, else the text. */
export function errorMessage(status: number, text: string): string {
  let msg = text.trim();
  try {
    const j = JSON.parse(text) as { message?: string };
    if (j.message) msg = j.message;
  } catch {
    /* plain text */
  }
  const what = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not found' : `HTTP ${status}`;
  return msg ? `${what}: ${msg}` : what;
}

export function noTokenMessage(kc: KubeConfig): string {
  const user = kc.getCurrentUser();
  const how = user?.certData || user?.certFile ? 'authenticates with a client certificate only' : 'has no bearer token';
  return (
    `your kubeconfig user "${user?.name ?? '?'}" ${how}. Downloads and streams go through the API server's pod proxy, which ` +
    'does not forward client certificates to the agent, so they need a bearer-token credential. Use a context whose user has ' +
    'a token, a token file or an exec plugin (e.g. an OIDC login or cloud provider plugin), or create a short-lived token for ' +
    'a ServiceAccount that has the packetcaptures/download permission: `kubectl create token NAME -n NS` and ' +
    '`kubectl config set-credentials ringtap-user --token=...`.'
  );
}
