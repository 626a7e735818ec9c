// The local control plane is real: CRDs register and validate, the garbage collector runs,
// and ServiceAccount tokens are authorized by RBAC.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { adminConfig, apiMessage, createNamespace, deleteNamespace, tokenConfig, waitFor } from '../support/kube.js';

const kc = adminConfig();
let ns: string;

beforeAll(async () => {
  ns = await createNamespace('cp');
});
afterAll(async () => {
  await deleteNamespace(ns);
});

describe('CustomResourceDefinitions', () => {
  const group = 'foundation.test.ringtap.dev';
  const crdName = `widgets.${group}`;
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);

  afterAll(async () => {
    await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
  });

  test('a CRD registers and an object that breaks its schema is rejected naming the field', async () => {
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: crdName },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
          versions: [{
            name: 'v1', served: true, storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: {
              size: { type: 'integer', minimum: 1, maximum: 10 },
            } } } } },
          }],
        },
      },
    });
    await waitFor('the CRD to be established', async () => {
      const crd = await ext.readCustomResourceDefinition({ name: crdName });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') || undefined;
    });
    const body = (size: unknown) => ({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: `w${String(size).length}` }, spec: { size } });
    // Discovery lags Established by a moment: retry the valid create until the resource is served.
    await waitFor('a valid Widget to be created', () =>
      custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: body(5) }));

    const err = await custom
      .createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: body(50) })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
    expect(apiMessage(err)).toContain('spec.size');
    expect(apiMessage(err)).toContain('should be less than or equal to 10');
  });
});

describe('garbage collector', () => {
  test('deleting an owner deletes its dependent', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await waitFor('the dependent ConfigMap to be garbage-collected', async () => {
      try {
        await core.readNamespacedConfigMap({ namespace: ns, name: 'dependent' });
        return undefined;
      } catch (err) {
        return err instanceof k8s.ApiException && err.code === 404 ? true : undefined;
      }
    }, 30_000);
  });
});

describe('ServiceAccount tokens and RBAC', () => {
  test('a TokenRequest token is allowed what its Role grants and denied the rest', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'cm-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader-cm-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
      },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      namespace: ns, name: 'reader', body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const asReader = tokenConfig(tr.status?.token ?? "").makeApiClient(k8s.CoreV1Api);

    const list = await asReader.listNamespacedConfigMap({ namespace: ns });
    expect(Array.isArray(list.items)).toBe(true);

    const denied = async (p: Promise<unknown>) => p.then(() => 'allowed', (e: unknown) => (e instanceof k8s.ApiException ? e.code : String(e)));
    expect(await denied(asReader.listNamespacedSecret({ namespace: ns }))).toBe(403);
    expect(await denied(asReader.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'x' } } }))).toBe(403);
    expect(await denied(asReader.listNamespacedConfigMap({ namespace: 'default' }))).toBe(403);
    // A garbage token is not a user at all.
    const bogus = tokenConfig('not-a-token').makeApiClient(k8s.CoreV1Api);
    expect(await denied(bogus.listNamespacedConfigMap({ namespace: ns }))).toBe(401);
  });
});
