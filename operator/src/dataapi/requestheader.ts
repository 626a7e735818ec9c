// Request-header authentication, as every Kubernetes extension API server does it: the API
// server authenticates the user by whatever method the cluster uses, then calls us over TLS with
// its front-proxy client certificate and the user's identity in X-Remote-User, X-Remote-Group
// and X-Remote-Extra-*. We believe those headers only from a client whose certificate chains to
// the request-header CA and carries an allowed common name; both come from the ConfigMap
// kube-system/extension-apiserver-authentication, which we follow (it changes when the cluster's
// front-proxy CA is rotated). Everything else is unauthenticated, whatever headers it sends.
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../../lib/observe/log.js';
import { Informer } from '../../../lib/kube/informer.js';
import type { KubeClient, KubeObject, ResourceType } from '../../../lib/kube/kube.js';

export const AUTH_CONFIGMAP_NAMESPACE = 'kube-system';
export const AUTH_CONFIGMAP_NAME = 'extension-apiserver-authentication';
const ConfigMapType: ResourceType = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

interface ConfigMap extends KubeObject { data?: Record<string, string> }

/** Who the API server says is asking. */
export interface UserInfo { username: string; uid?: string; groups: string[]; extra: Record<string, string[]> }

/** The request-header settings the API server publishes. */
export interface RequestHeaderConfig {
  /** PEM bundle of the CAs a front proxy's certificate must chain to. */
  caPem: string;
  cas: X509Certificate[];
  /** Common names allowed to send identity headers; empty: any certificate of those CAs. */
  allowedNames: string[];
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraPrefixes: string[];
}

export type AuthResult = { ok: true; user: UserInfo } | { ok: false; message: string };

function jsonList(v: string | undefined, fallback: string[]): string[] {
  if (v === undefined || v === '') return fallback;
  try {
    const j = JSON.parse(v) as unknown;
    return Array.isArray(j) ? j.filter((x): x is string => typeof x === 'string') : fallback;
  } catch {
    return fallback;
  }
}

/** The settings in the ConfigMap's data; undefined when it names no request-header CA. */
export function parseRequestHeaderConfig(data: Record<string, string> | undefined): RequestHeaderConfig | undefined {
  const caPem = data?.['requestheader-client-ca-file'];
  if (!caPem) return undefined;
  const cas = (caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  if (cas.length === 0) return undefined;
  return {
    caPem,
    cas,
    allowedNames: jsonList(data['requestheader-allowed-names'], []),
    usernameHeaders: jsonList(data['requestheader-username-headers'], ['X-Remote-User']).map((h) => h.toLowerCase()),
    uidHeaders: jsonList(data['requestheader-uid-headers'], []).map((h) => h.toLowerCase()),
    groupHeaders: jsonList(data['requestheader-group-headers'], ['X-Remote-Group']).map((h) => h.toLowerCase()),
    extraPrefixes: jsonList(data['requestheader-extra-headers-prefix'], ['X-Remote-Extra-']).map((h) => h.toLowerCase()),
  };
}

/**
 * The identity of a request, or why it has none. `peer` is the client's certificate as the
 * TLS layer verified it (`authorized`) against the CAs of the moment the connection was made;
 * the issuer is checked again against the current CAs, so a connection opened before a CA was
 * withdrawn does not outlive it.
 */
export function authenticateRequest(cfg: RequestHeaderConfig | undefined, peer: { authorized: boolean; cert?: X509Certificate }, headers: IncomingMessage['headersDistinct']): AuthResult {
  if (!cfg) return { ok: false, message: 'no request-header CA is configured (ConfigMap kube-system/extension-apiserver-authentication): this server accepts requests only from the Kubernetes API server' };
  if (!peer.cert) return { ok: false, message: 'no client certificate: this server accepts requests only through the Kubernetes API server (aggregation layer)' };
  if (!peer.authorized || !cfg.cas.some((ca) => peer.cert!.checkIssued(ca) && peer.cert!.verify(ca.publicKey))) {
    return { ok: false, message: 'the client certificate is not signed by the request-header CA' };
  }
  const now = Date.now();
  if (Date.parse(peer.cert.validFrom) > now || Date.parse(peer.cert.validTo) < now) return { ok: false, message: 'the client certificate is expired or not yet valid' };
  const eku = peer.cert.keyUsage;
  if (eku && !eku.includes(CLIENT_AUTH_EKU)) return { ok: false, message: 'the client certificate is not for client authentication' };
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(peer.cert.subject)?.[1] ?? '';
  if (cfg.allowedNames.length > 0 && !cfg.allowedNames.includes(cn)) return { ok: false, message: `the client certificate's common name "${cn}" is not an allowed request-header client` };

  const first = (names: string[]) => {
    for (const n of names) for (const v of headers[n] ?? []) if (v.trim()) return v.trim();
    return undefined;
  };
  const username = first(cfg.usernameHeaders);
  if (!username) return { ok: false, message: 'the API server sent no user name' };
  const groups = cfg.groupHeaders.flatMap((n) => headers[n] ?? []);
  const extra: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(headers)) {
    const prefix = cfg.extraPrefixes.find((p) => name.startsWith(p));
    if (!prefix || !values) continue;
    // Keys are percent-encoded on the wire (header names cannot carry every character).
    let key = name.slice(prefix.length);
    try {
      key = decodeURIComponent(key);
    } catch {
      /* keep it as it came */
    }
    (extra[key] ??= []).push(...values);
  }
  const uid = first(cfg.uidHeaders);
  return { ok: true, user: { username, ...(uid ? { uid } : {}), groups, extra } };
}

/** Follows the ConfigMap and hands every change of the CA bundle to onCAChange. */
export class RequestHeaderAuthenticator {
  private cfg?: RequestHeaderConfig;
  private informer: Informer<ConfigMap>;

  constructor(client: KubeClient, private log: Logger, private onCAChange: (caPem: string | undefined) => void) {
    this.informer = new Informer<ConfigMap>(client, ConfigMapType, log, {
      namespace: AUTH_CONFIGMAP_NAMESPACE,
      fieldSelector: `metadata.name=${AUTH_CONFIGMAP_NAME}`,
    });
    this.informer.onChange(() => this.reload());
  }

  get config(): RequestHeaderConfig | undefined {
    return this.cfg;
  }

  async start(): Promise<void> {
    await this.informer.start();
    this.reload();
  }

  stop(): void {
    this.informer.stop();
  }

  private reload(): void {
    const cm = this.informer.get(AUTH_CONFIGMAP_NAMESPACE, AUTH_CONFIGMAP_NAME);
    let next: RequestHeaderConfig | undefined;
    try {
      next = parseRequestHeaderConfig(cm?.data);
    } catch (err) {
      this.log.error({ err }, 'the request-header CA in kube-system/extension-apiserver-authentication does not parse; refusing every request');
    }
    const changed = next?.caPem !== this.cfg?.caPem;
    this.cfg = next;
    if (!next) this.log.warn('no request-header CA in kube-system/extension-apiserver-authentication: every data API request is refused (start kube-apiserver with --requestheader-client-ca-file)');
    else this.log.info({ allowedNames: next.allowedNames, cas: next.cas.map((c) => c.subject.replaceAll('\n', ',')) }, 'request-header authentication configured');
    if (changed) this.onCAChange(next?.caPem);
  }

  authenticate(req: IncomingMessage): AuthResult {
    const socket = req.socket as TLSSocket;
    const raw = socket.getPeerX509Certificate?.();
    return authenticateRequest(this.cfg, { authorized: socket.authorized === true, ...(raw ? { cert: raw } : {}) }, req.headersDistinct);
  }
}
