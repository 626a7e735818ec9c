// The operator's and agents' credentials for the API server: their ServiceAccount inside the
// cluster (the pods of the chart), or the file KUBECONFIG names when it carries a bearer token or a
// client certificate (hack/cluster's operator and agents). @kubernetes/client-node's KubeConfig
// does the same, but importing it loads the package's whole generated client (the request
// builders and models of every API group): ~20 MiB of module source on the V8 heap and ~30 MiB of
// RSS, a fifth of what an agent with 200 captures may use and a sixth of the operator's budget with
// 10,000 pods (issue 21). A kubeconfig that needs more (exec or auth-provider plugins, basic auth,
// a proxy, impersonation, several files) still gets client-node's KubeConfig, loaded only then.
//
// As client-node does, every applySecurityAuthentication re-reads the token and certificate
// files (a projected ServiceAccount token rotates) and hands out a new connection pool; the
// KubeClient keeps one pool per credential refresh and closes the old one.
import type { Cluster } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Agent } from 'undici';
import { parse } from 'yaml';
import type { KubeAuth } from './kube.js';

/** Where a pod finds its ServiceAccount (client-go's rest.InClusterConfig). */
export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Bytes given inline (base64 in a kubeconfig) or read from a file at each use. */
type Source = { data: Buffer } | { file: string };

export interface Credentials {
  cluster: Cluster;
  ca?: Source;
  token?: Source;
  cert?: Source;
  key?: Source;
}

const read = (s: Source | undefined): Buffer | undefined => (s === undefined ? undefined : 'data' in s ? s.data : readFileSync(s.file));

/** A kubeconfig of a token or a client certificate, without client-node's generated client. */
export class LightKubeConfig implements KubeAuth {
  constructor(readonly credentials: Credentials) {}

  getCurrentCluster(): Cluster {
    return this.credentials.cluster;
  }

  async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
    const c = this.credentials;
    const token = read(c.token)?.toString('utf8').trim();
    if (token) ctx.setHeaderParam('Authorization', `Bearer ${token}`);
    const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string } = {};
    const ca = read(c.ca), cert = read(c.cert), key = read(c.key);
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    if (c.cluster.skipTLSVerify) tls.rejectUnauthorized = false;
    if (c.cluster.tlsServerName) tls.servername = c.cluster.tlsServerName;
    // client-node's keep-alive: 30 s, as client-go, under cloud load balancers' 60 s idle timeouts.
    if (Object.keys(tls).length > 0) ctx.setDispatcher(new Agent({ connect: { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 } }));
  }
}

/** The in-cluster credentials: the API server's Service from the environment, the pod's ServiceAccount. Pure but for env. */
export function inClusterCredentials(env: NodeJS.ProcessEnv, dir = SERVICEACCOUNT_DIR): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST, port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error('no KUBECONFIG and not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set');
  return {
    cluster: { name: 'inCluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, skipTLSVerify: false },
    ca: { file: `${dir}/ca.crt` },
    token: { file: `${dir}/token` },
  };
}

const CLUSTER_KEYS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name']);
const USER_KEYS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data']);

interface Named<T> { name?: unknown; cluster?: T; user?: T; context?: T }

/**
 * The credentials of a kubeconfig's current context, or undefined when it needs what only
 * client-node's KubeConfig does (see the top of this file). Errors name the file and the field.
 */
export function kubeconfigCredentials(text: string, path: string): Credentials | undefined {
  const doc = parse(text) as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${path}: not a kubeconfig (no YAML mapping)`);
  const pick = <T>(list: unknown, key: 'cluster' | 'user' | 'context', name: unknown): T | undefined =>
    (Array.isArray(list) ? (list as Named<T>[]).find((e) => e?.name === name)?.[key] : undefined);
  const current = doc['current-context'];
  const ctx = pick<Record<string, unknown>>(doc.contexts, 'context', current);
  if (!ctx) throw new Error(`${path}: current-context ${JSON.stringify(current)} is not in contexts`);
  const cluster = pick<Record<string, unknown>>(doc.clusters, 'cluster', ctx.cluster);
  if (!cluster) throw new Error(`${path}: cluster ${JSON.stringify(ctx.cluster)} of context ${JSON.stringify(current)} is not in clusters`);
  const user = pick<Record<string, unknown>>(doc.users, 'user', ctx.user) ?? {};
  if (Object.keys(cluster).some((k) => !CLUSTER_KEYS.has(k)) || Object.keys(user).some((k) => !USER_KEYS.has(k))) return undefined;
  const server = cluster.server;
  if (typeof server !== 'string' || !server.startsWith('https://')) return undefined;
  const base = dirname(path);
  const source = (data: unknown, file: unknown, field: string): Source | undefined => {
    if (typeof data === 'string' && data) return { data: Buffer.from(data, 'base64') };
    if (typeof file === 'string' && file) return { file: resolve(base, file) };
    if (data !== undefined || file !== undefined) throw new Error(`${path}: ${field} must be a non-empty string`);
    return undefined;
  };
  const creds: Credentials = {
    cluster: {
      name: String(ctx.cluster), server, skipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
      ...(typeof cluster['tls-server-name'] === 'string' ? { tlsServerName: cluster['tls-server-name'] } : {}),
    },
  };
  const ca = source(cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate-authority');
  if (ca) creds.ca = ca;
  const token = typeof user.token === 'string' && user.token ? { data: Buffer.from(user.token, 'utf8') } : source(undefined, user.tokenFile, 'tokenFile');
  if (token) creds.token = token;
  const cert = source(user['client-certificate-data'], user['client-certificate'], 'client-certificate');
  const key = source(user['client-key-data'], user['client-key'], 'client-key');
  if (cert) creds.cert = cert;
  if (key) creds.key = key;
  return creds;
}

/** The kubeconfig at `file` (the operator's --kubeconfig, else KUBECONFIG) if set, else in-cluster. */
export async function loadKubeConfig(env: NodeJS.ProcessEnv, file = env.KUBECONFIG): Promise<KubeAuth> {
  if (!file) return new LightKubeConfig(inClusterCredentials(env));
  // Several files (a PATH-style list) are merged by client-node's rules: its KubeConfig.
  const creds = file.includes(':') ? undefined : kubeconfigCredentials(readFileSync(file, 'utf8'), file);
  if (creds) return new LightKubeConfig(creds);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (file === env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromFile(file);
  return kc;
}
