// The chart installed with helm into the real control plane: every object is accepted, and its
// RBAC and admission policy hold for tokens of the chart's own ServiceAccounts.
//
// The release has a unique name and fullnameOverride, so its cluster-scoped objects
// (ClusterRoles, bindings, the admission policy) never meet those of other tests;
// helm uninstall removes them in afterAll. The Deployment and DaemonSet get no pods here
// (no scheduler, no kubelet): the agents' pods are made by hand, bound to simulated nodes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { adminConfig, apiMessage, createNamespace, deleteNamespace, tokenConfig, uniqueName, waitFor } from '../../support/kube.js';
import { chartDir, helm, parseObjects, repoRoot, type K8sObject } from '../../unit/chart/helm.js';

const kc = adminConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const objectsApi = k8s.KubernetesObjectApi.makeApiClient(kc);
const group = 'ringtap.dev', version = 'v1alpha1';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

const release = uniqueName('rtchart');
const nodeA = `${release}-node-a`, nodeB = `${release}-node-b`;
let ns: string;
let manifest: K8sObject[] = [];
let installOutput = '';

/** 'allowed', or the HTTP status of the refusal. */
const outcome = (p: Promise<unknown>): Promise<number | 'allowed'> =>
  p.then(() => 'allowed' as const, (e: unknown) => {
    if (e instanceof k8s.ApiException) return e.code;
    throw e;
  });

async function saToken(name: string, boundPod?: { name: string; uid: string }): Promise<string> {
  const tr = await core.createNamespacedServiceAccountToken({
    namespace: ns, name,
    body: { spec: { audiences: [], expirationSeconds: 600, ...(boundPod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', ...boundPod } } : {}) } },
  });
  return tr.status?.token ?? '';
}

function example(file: string): Record<string, unknown> & { metadata: Record<string, unknown>; spec: Record<string, unknown> } {
  return parse(readFileSync(join(repoRoot, 'crds/examples', file), 'utf8'));
}

function nodeTask(node: string): object {
  const t = example('nodetask-packetcapture.yaml');
  const spec = structuredClone(t.spec) as { node: string; parent: Record<string, unknown>; packetCapture: { pods: { namespace: string }[] } };
  spec.node = node;
  spec.parent.namespace = ns;
  for (const p of spec.packetCapture.pods) p.namespace = ns;
  return { ...t, metadata: { name: `task-${node}`, namespace: ns, labels: { 'ringtap.dev/node': node } }, spec };
}

async function agentPod(name: string, node: string): Promise<{ name: string; uid: string }> {
  const pod = await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name, labels: { 'app.kubernetes.io/name': 'ringtap-agent' } },
      spec: { nodeName: node, serviceAccountName: `${release}-agent`, automountServiceAccountToken: false, containers: [{ name: 'agent', image: 'ringtap:dev' }] },
    },
  });
  return { name, uid: pod.metadata!.uid! };
}

beforeAll(async () => {
  ns = await createNamespace('chart');
  const r = await helm(['install', release, chartDir, '--namespace', ns, '--set', `fullnameOverride=${release}`, '--wait=false', '--timeout', '60s']);
  if (r.code !== 0) throw new Error(`helm install failed: ${r.stderr}`);
  installOutput = r.stdout;
  const m = await helm(['get', 'manifest', release, '--namespace', ns]);
  manifest = parseObjects(m.stdout);
  for (const name of [nodeA, nodeB]) await core.createNode({ body: { metadata: { name, labels: { 'ringtap.dev/test': 'true' } } } });
}, 90_000);

afterAll(async () => {
  await helm(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '60s']);
  for (const name of [nodeA, nodeB]) await core.deleteNode({ name }).catch(() => undefined);
  if (ns) await deleteNamespace(ns);
}, 90_000);

describe('helm install', () => {
  test('every object of the release exists in the API server as rendered', async () => {
    const kinds = new Set(manifest.map((o) => o.kind));
    for (const k of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'DaemonSet', 'Service', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
      // The local cluster (1.37) serves MutatingAdmissionPolicy v1: the parents' finalizer policy.
      'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding']) {
      expect(kinds).toContain(k);
    }
    for (const o of manifest) {
      const live = await objectsApi.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } });
      expect(`${live.kind}/${live.metadata?.name}`).toBe(`${o.kind}/${o.metadata.name}`);
      expect(live.metadata?.labels?.['app.kubernetes.io/managed-by'] ?? 'Helm').toBe('Helm');
    }
  });

  test('NOTES name the release namespace and the objects it made', () => {
    expect(installOutput).toContain(`ringtap 0.1.0 is installed in namespace ${ns}.`);
    expect(installOutput).toContain(`kubectl -n ${ns} rollout status deployment/${release}-operator`);
    expect(installOutput).toContain(`--clusterrole=${release}-edit`);
    expect(installOutput).toContain(`--agent-namespace ${ns}`);
  });

  test('helm upgrade with changed values is accepted and applied', async () => {
    const r = await helm(['upgrade', release, chartDir, '--namespace', ns, '--reuse-values', '--set', 'operator.replicas=3', '--set', 'agent.logLevel=debug', '--wait=false']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    expect((await apps.readNamespacedDeployment({ namespace: ns, name: `${release}-operator` })).spec?.replicas).toBe(3);
    const ds = await apps.readNamespacedDaemonSet({ namespace: ns, name: `${release}-agent` });
    expect(ds.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'RINGTAP_LOG_LEVEL')?.value).toBe('debug');
  }, 60_000);

  // (The policy's expressions are type-checked by kube-controller-manager's
  // validatingadmissionpolicy-status controller, which the local cluster does not run; the
  // tests below exercise every expression instead.)
  test('the CRDs are established', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    for (const plural of ['packetcaptures', 'portmirrors', 'pppbridges', 'ipamonitors', 'nodetasks']) {
      await waitFor(`crd ${plural} established`, async () => {
        const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
      });
    }
  }, 30_000);
});

describe('RBAC with the chart\'s ServiceAccounts', () => {
  test('the operator can do its job and nothing more', async () => {
    const op = tokenConfig(await saToken(`${release}-operator`));
    const opCore = op.makeApiClient(k8s.CoreV1Api);
    const opCustom = op.makeApiClient(k8s.CustomObjectsApi);
    const opLeases = op.makeApiClient(k8s.CoordinationV1Api);

    // Placement reads pods and nodes cluster-wide.
    expect(await outcome(opCore.listPodForAllNamespaces())).toBe('allowed');
    expect(await outcome(opCore.listNode())).toBe('allowed');
    // NodeTasks: create, patch, delete.
    const task = nodeTask(nodeA) as { metadata: { name: string } };
    await waitFor('the NodeTask resource to be served', () => opCustom.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', body: task }));
    expect(await outcome(opCustom.patchNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: task.metadata.name, body: { metadata: { labels: { touched: 'yes' } } } }, mergePatch))).toBe('allowed');
    expect(await outcome(opCustom.deleteNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: task.metadata.name }))).toBe('allowed');
    // ... in its own namespace only, where every NodeTask lives (ADR 0012).
    expect(await outcome(opCustom.listNamespacedCustomObject({ group, version, namespace: 'default', plural: 'nodetasks' }))).toBe(403);
    expect(await outcome(opCustom.createNamespacedCustomObject({ group, version, namespace: 'default', plural: 'nodetasks', body: { ...task, metadata: { ...task.metadata, namespace: 'default' } } }))).toBe(403);
    // A capture made by a user: the operator patches its status, but may not create captures.
    const pc = { ...example('packetcapture-dns-debug.yaml'), metadata: { name: 'dns-debug', namespace: ns } };
    await waitFor('the PacketCapture resource to be served', () => custom.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', body: pc }));
    expect(await outcome(opCustom.patchNamespacedCustomObjectStatus({ group, version, namespace: ns, plural: 'packetcaptures', name: 'dns-debug', body: { status: { observedGeneration: 1 } } }, mergePatch))).toBe('allowed');
    const readBack = await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', name: 'dns-debug' }) as { status?: { observedGeneration?: number } };
    expect(readBack.status?.observedGeneration).toBe(1);
    expect(await outcome(opCustom.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', body: { ...pc, metadata: { name: 'by-operator', namespace: ns } } }))).toBe(403);
    // Its leader-election Lease in its own namespace, and nowhere else.
    const lease = { metadata: { name: `${release}-operator` }, spec: { holderIdentity: 'test' } };
    expect(await outcome(opLeases.createNamespacedLease({ namespace: ns, body: lease }))).toBe('allowed');
    expect(await outcome(opLeases.createNamespacedLease({ namespace: 'default', body: lease }))).toBe(403);
    // Events about what it did.
    const ev = op.makeApiClient(k8s.EventsV1Api);
    expect(await outcome(ev.createNamespacedEvent({ namespace: ns, body: {
      metadata: { name: 'dns-debug.1' }, eventTime: new k8s.V1MicroTime(), reportingController: 'ringtap.dev/operator', reportingInstance: 'test',
      action: 'Reconcile', reason: 'Test', type: 'Normal', regarding: { kind: 'PacketCapture', namespace: ns, name: 'dns-debug' },
    } }))).toBe('allowed');
    // Nothing more.
    expect(await outcome(opCore.listNamespacedSecret({ namespace: ns }))).toBe(403);
    expect(await outcome(opCore.listSecretForAllNamespaces())).toBe(403);
    expect(await outcome(opCore.deleteNode({ name: nodeB }))).toBe(403);
    expect(await outcome(opCore.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } } }))).toBe(403);
    expect(await outcome(opCore.deleteNamespacedPod({ namespace: ns, name: 'anything' }))).toBe(403);
  }, 60_000);

  test('a user bound to ringtap-view reads captures, may download them, and cannot create them', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'viewer' } } });
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'viewer-ringtap-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${release}-view` },
        subjects: [{ kind: 'ServiceAccount', name: 'viewer', namespace: ns }],
      },
    });
    const viewer = tokenConfig(await saToken('viewer'));
    const vCustom = viewer.makeApiClient(k8s.CustomObjectsApi);
    const pc = { ...example('packetcapture-dns-debug.yaml'), metadata: { name: 'seen', namespace: ns } };
    await waitFor('the PacketCapture resource to be served', () => custom.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', body: pc }));

    await waitFor('the RoleBinding to take effect', async () => (await outcome(vCustom.listNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures' }))) === 'allowed' || undefined);
    expect(await outcome(vCustom.getNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', name: 'seen' }))).toBe('allowed');
    expect(await outcome(vCustom.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', body: { ...pc, metadata: { name: 'mine', namespace: ns } } }))).toBe(403);
    expect(await outcome(vCustom.deleteNamespacedCustomObject({ group, version, namespace: ns, plural: 'packetcaptures', name: 'seen' }))).toBe(403);
    // Only in the namespace of the binding.
    expect(await outcome(vCustom.listNamespacedCustomObject({ group, version, namespace: 'default', plural: 'packetcaptures' }))).toBe(403);
    // NodeTasks are the operator's, in its namespace, mixing every namespace's: not for viewers.
    expect(await outcome(vCustom.listNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks' }))).toBe(403);
    // The agents ask exactly this before a download or a stream.
    const ssar = await viewer.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { group, resource: 'packetcaptures', subresource: 'download', verb: 'get', namespace: ns, name: 'seen' } } },
    });
    expect(ssar.status?.allowed).toBe(true);
  }, 60_000);

  describe('an agent writes only its own node\'s objects (admission policy)', () => {
    let agentA: k8s.KubeConfig;
    beforeAll(async () => {
      const custom2 = kc.makeApiClient(k8s.CustomObjectsApi);
      for (const node of [nodeA, nodeB]) {
        await waitFor('the NodeTask resource to be served', () => custom2.createNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', body: nodeTask(node) }));
      }
      agentA = tokenConfig(await saToken(`${release}-agent`, await agentPod('agent-a', nodeA)));
    });

    test('the token of a pod on node A carries the node name', async () => {
      const review = await agentA.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
      expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:${release}-agent`);
      expect(review.status?.userInfo?.extra?.['authentication.kubernetes.io/node-name']).toEqual([nodeA]);
    });

    const patchStatus = (cfg: k8s.KubeConfig, node: string) => cfg.makeApiClient(k8s.CustomObjectsApi).patchNamespacedCustomObjectStatus(
      { group, version, namespace: ns, plural: 'nodetasks', name: `task-${node}`, body: { status: { phase: 'Running', observedGeneration: 1 } } }, mergePatch);

    test('node A\'s agent writes node A\'s NodeTask status', async () => {
      expect(await outcome(patchStatus(agentA, nodeA))).toBe('allowed');
      const t = await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: `task-${nodeA}` }) as { status?: { phase?: string } };
      expect(t.status?.phase).toBe('Running');
    });

    test('node A\'s agent may not write node B\'s NodeTask status', async () => {
      const err = await patchStatus(agentA, nodeB).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(k8s.ApiException);
      expect((err as k8s.ApiException<unknown>).code).toBe(403);
      expect(apiMessage(err)).toContain(`ValidatingAdmissionPolicy '${release}-agent-own-node'`);
      expect(apiMessage(err)).toContain(`the ringtap agent of node ${nodeA} may write only its own node's objects, not those of node ${nodeB}`);
      const t = await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: `task-${nodeB}` }) as { status?: unknown };
      expect(t.status).toBeUndefined();
    });

    test('node A\'s agent labels its own Node only', async () => {
      const aCore = agentA.makeApiClient(k8s.CoreV1Api);
      const label = (name: string) => aCore.patchNode({ name, body: { metadata: { labels: { 'ringtap.dev/tpacket-v3': 'true' } } } }, mergePatch);
      expect(await outcome(label(nodeA))).toBe('allowed');
      expect(await outcome(label(nodeB))).toBe(403);
    });

    test('an agent token not bound to a pod on a node may write nothing', async () => {
      const unbound = tokenConfig(await saToken(`${release}-agent`));
      const err = await patchStatus(unbound, nodeA).then(() => undefined, (e: unknown) => e);
      expect((err as k8s.ApiException<unknown>).code).toBe(403);
      expect(apiMessage(err)).toContain('carries no node name');
    });

    test('RBAC still bounds the agent: no spec writes, no deletes, no secrets', async () => {
      const aCustom = agentA.makeApiClient(k8s.CustomObjectsApi);
      expect(await outcome(aCustom.patchNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: `task-${nodeA}`, body: { metadata: { labels: { x: 'y' } } } }, mergePatch))).toBe(403);
      expect(await outcome(aCustom.deleteNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', name: `task-${nodeA}` }))).toBe(403);
      expect(await outcome(agentA.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: ns }))).toBe(403);
      // It sees NodeTasks in the release's namespace only: one written anywhere else reaches no agent.
      expect(await outcome(aCustom.listNamespacedCustomObject({ group, version, namespace: ns, plural: 'nodetasks', fieldSelector: `spec.node=${nodeA}` }))).toBe('allowed');
      expect(await outcome(aCustom.listNamespacedCustomObject({ group, version, namespace: 'default', plural: 'nodetasks' }))).toBe(403);
      expect(await outcome(aCustom.listClusterCustomObject({ group, version, plural: 'nodetasks' }))).toBe(403);
    });
  });
});

describe('helm uninstall', () => {
  test('leaves no cluster-scoped object of the release behind', async () => {
    const clusterScoped = manifest.filter((o) => !o.metadata.namespace);
    expect(clusterScoped.length).toBeGreaterThan(0);
    const r = await helm(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '60s']);
    expect(r.code).toBe(0);
    for (const o of clusterScoped) {
      const err = await objectsApi.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name } }).then(() => undefined, (e: unknown) => e);
      expect(`${o.kind}/${o.metadata.name}: ${(err as k8s.ApiException<unknown> | undefined)?.code}`).toBe(`${o.kind}/${o.metadata.name}: 404`);
    }
  }, 90_000);
});
