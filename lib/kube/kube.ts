// A thin typed seam over the Kubernetes REST API. The generated client stays out of our
// code: every call here names its path, its verb and, for patches, the right content type.
// The request and watch parts only: the package's index (and its KubeConfig) loads the whole
// generated client, ~30 MiB of RSS that the operator and agent do without (lib/kube/kubeconfig.ts).
import type { KubeConfig } from '@kubernetes/client-node';
import { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { Watch } from '@kubernetes/client-node/dist/watch.js';
import { fetch } from 'undici';
import type { ObjectMeta as ApiObjectMeta, OwnerReference } from '../../crds/src/meta.js';
import type { ResourceType } from '../../crds/src/resources.js';

/** Object metadata as the API returns it for an existing object: it always has a name. */
export interface ObjectMeta extends Omit<ApiObjectMeta, 'name'> { name: string }
export type { OwnerReference, ResourceType };
export interface KubeObject { apiVersion?: string; kind?: string; metadata: ObjectMeta }
export interface KubeList<T> { metadata: { resourceVersion: string; continue?: string }; items: T[] }

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export function resourcePath(t: ResourceType, namespace?: string, name?: string, subresource?: string): string {
  let p = t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`;
  if (t.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${t.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** An error answered by the API server, with its HTTP code and Status reason. */
export class KubeError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: unknown) {
    super(message);
    this.name = 'KubeError';
  }
}
export const isNotFound = (e: unknown): boolean => e instanceof KubeError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeError && e.code === 409;
export const isAlreadyExists = (e: unknown): boolean => e instanceof KubeError && e.code === 409 && e.reason === 'AlreadyExists';
export const isGone = (e: unknown): boolean => e instanceof KubeError && e.code === 410;

type Query = Record<string, string | number | boolean | undefined>;

const REQUEST_TIMEOUT_MS = 30_000;

/** What a KubeClient needs of a kubeconfig: client-node's KubeConfig, or our own (kubeconfig.ts). */
export type KubeAuth = Pick<KubeConfig, 'getCurrentCluster' | 'applySecurityAuthentication'>;

export class KubeClient {
  readonly watcher: Watch;
  constructor(readonly config: KubeAuth, readonly fieldManager: string) {
    // Watch uses these two methods only.
    this.watcher = new Watch(config as KubeConfig);
  }

  private authCache?: { at: number; headers: Record<string, string>; dispatcher: unknown };
  private authRefresh?: Promise<{ headers: Record<string, string>; dispatcher: unknown }>;

  /**
   * Credentials and one connection pool, reused across requests: client-node builds a new
   * agent (and so a new TLS connection) for every request context. Refreshed every minute so
   * that rotated tokens (projected ServiceAccount tokens) are picked up.
   */
  private auth(): Promise<{ headers: Record<string, string>; dispatcher: unknown }> {
    if (this.authCache && Date.now() - this.authCache.at < 60_000) return Promise.resolve(this.authCache);
    // One refresh at a time: two concurrent ones would each close the pool the other installed.
    this.authRefresh ??= this.refreshAuth().finally(() => { this.authRefresh = undefined; });
    return this.authRefresh;
  }

  private async refreshAuth(): Promise<{ headers: Record<string, string>; dispatcher: unknown }> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const ctx = new RequestContext(cluster.server, HttpMethod.GET);
    await this.config.applySecurityAuthentication(ctx);
    const old = this.authCache?.dispatcher as { close?: () => Promise<void> } | undefined;
    this.authCache = { at: Date.now(), headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() };
    // A request that took the old pool may not have dispatched on it yet: close it only once
    // any such request would have timed out anyway.
    if (old?.close) setTimeout(() => void old.close!().catch(() => undefined), REQUEST_TIMEOUT_MS + 5_000).unref();
    return this.authCache;
  }

  async request<T>(method: HttpMethod, path: string, opts: { query?: Query; body?: unknown; contentType?: string } = {}): Promise<T> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = new URL(cluster.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const auth = await this.auth();
    const headers: Record<string, string> = { ...auth.headers, accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await fetch(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      dispatcher: auth.dispatcher as never,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) {
      let status: { reason?: string; message?: string; details?: unknown } = {};
      try { status = JSON.parse(text); } catch { /* not a Status */ }
      throw new KubeError(res.status, status.reason ?? res.statusText, status.message ?? `${method} ${path}: HTTP ${res.status}`, status.details);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T extends KubeObject>(t: ResourceType, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>(HttpMethod.GET, resourcePath(t, namespace, name));
  }

  list<T extends KubeObject>(t: ResourceType, namespace?: string, query: Query = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>(HttpMethod.GET, resourcePath(t, namespace), { query });
  }

  create<T extends KubeObject>(t: ResourceType, obj: T): Promise<T> {
    return this.request<T>(HttpMethod.POST, resourcePath(t, obj.metadata.namespace), { body: { apiVersion: apiVersionOf(t), kind: t.kind, ...obj }, query: { fieldManager: this.fieldManager } });
  }

  /** Server-side apply of the fields in obj, owned by this client's field manager. */
  apply<T extends KubeObject>(t: ResourceType, obj: T, opts: { subresource?: 'status'; force?: boolean } = {}): Promise<T> {
    return this.request<T>(HttpMethod.PATCH, resourcePath(t, obj.metadata.namespace, obj.metadata.name, opts.subresource), {
      body: { apiVersion: apiVersionOf(t), kind: t.kind, ...obj },
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: this.fieldManager, force: opts.force ?? true },
    });
  }

  /** PUT of a whole object carrying the resourceVersion it was read at: 409 if it changed since. */
  replace<T extends KubeObject>(t: ResourceType, obj: T, subresource?: string): Promise<T> {
    return this.request<T>(HttpMethod.PUT, resourcePath(t, obj.metadata.namespace, obj.metadata.name, subresource), {
      body: { apiVersion: apiVersionOf(t), kind: t.kind, ...obj }, query: { fieldManager: this.fieldManager },
    });
  }

  mergePatch<T extends KubeObject>(t: ResourceType, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    return this.request<T>(HttpMethod.PATCH, resourcePath(t, namespace, name, subresource), {
      body: patch, contentType: 'application/merge-patch+json', query: { fieldManager: this.fieldManager },
    });
  }

  jsonPatch<T extends KubeObject>(t: ResourceType, namespace: string | undefined, name: string, ops: unknown[], subresource?: string): Promise<T> {
    return this.request<T>(HttpMethod.PATCH, resourcePath(t, namespace, name, subresource), {
      body: ops, contentType: 'application/json-patch+json', query: { fieldManager: this.fieldManager },
    });
  }

  async delete(t: ResourceType, namespace: string | undefined, name: string, opts: { uid?: string; propagationPolicy?: string } = {}): Promise<void> {
    try {
      await this.request(HttpMethod.DELETE, resourcePath(t, namespace, name), {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}), propagationPolicy: opts.propagationPolicy ?? 'Background' },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

// Core types used by ringtap's controllers.
export const PodType: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const NodeType: ResourceType = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
export const NamespaceType: ResourceType = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
export const EventType: ResourceType = { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };
export const LeaseType: ResourceType = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true };
