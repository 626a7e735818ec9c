// Kubernetes access for tests: the admin KubeConfig of the test run's control plane, a
// namespace per test file, and condition waits with deadlines.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';

/** The operator's namespace in the local cluster (hack/cluster's default): every NodeTask lives there. */
export const OPERATOR_NS = 'ringtap-system';

/** The label selector of one parent's NodeTasks (in OPERATOR_NS); no namespace for cluster-scoped kinds. */
export function parentSelector(kind: string, namespace: string | undefined, name: string): string {
  return `ringtap.dev/parent-kind=${kind},${namespace ? `ringtap.dev/parent-namespace=${namespace},` : ''}ringtap.dev/parent-name=${name}`;
}

export function adminConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const path = process.env.KUBECONFIG;
  if (!path) throw new Error('KUBECONFIG is not set: run under the integration or e2e jest project');
  kc.loadFromFile(path);
  return kc;
}

/** A KubeConfig that talks to the same API server with a bearer token (e.g. from TokenRequest). */
export function tokenConfig(token: string): k8s.KubeConfig {
  const admin = adminConfig();
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no cluster');
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'token-user', token }],
    contexts: [{ name: 'ctx', cluster: cluster.name, user: 'token-user' }],
    currentContext: 'ctx',
  });
  return kc;
}

/**
 * A token of the agent ServiceAccount bound to Node `node`, as hack/cluster gives each process
 * agent: it carries the node's name, which the agent-own-node admission policy requires.
 */
export async function agentNodeToken(node: string, kc = adminConfig()): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'ringtap-agent', namespace: OPERATOR_NS,
    body: { spec: { audiences: [], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Node', name: node } } },
  });
  return tr.status!.token!;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** Creates a namespace for one test file; delete it in afterAll with deleteNamespace. */
export async function createNamespace(prefix: string, kc = adminConfig()): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({ body: { metadata: { name, labels: { 'ringtap.dev/test': 'true' } } } });
  return name;
}

export async function deleteNamespace(name: string, kc = adminConfig()): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
  }
}

/** Polls fn until it returns a non-undefined value or the deadline passes; the last error is reported. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The message of an ApiException (the server's Status.message), or the error's own message. */
export function apiMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      return String(body?.message ?? err.message);
    } catch {
      return String(err.body);
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Deletes a test namespace whose PacketCaptures may still carry ringtap's finalizer while no
 * operator runs any more: the finalizers are dropped first, so the namespace can go. The
 * NodeTasks of its parents, which live in the operator's namespace, go too (an operator would
 * sweep them as orphans, but none may run again on this cluster).
 */
export async function deleteCaptureNamespace(name: string, kc = adminConfig()): Promise<void> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const group = 'ringtap.dev', version = 'v1alpha1', plural = 'packetcaptures';
  const list = await custom.listNamespacedCustomObject({ group, version, namespace: name, plural }).catch(() => ({ items: [] }));
  for (const c of (list as { items: { metadata: { name: string } }[] }).items) {
    await custom.patchNamespacedCustomObject(
      { group, version, namespace: name, plural, name: c.metadata.name, body: { metadata: { finalizers: null } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    ).catch(() => undefined);
  }
  await custom.deleteCollectionNamespacedCustomObject({ group, version, namespace: OPERATOR_NS, plural: 'nodetasks', labelSelector: `ringtap.dev/parent-namespace=${name}` }).catch(() => undefined);
  await deleteNamespace(name, kc);
}
