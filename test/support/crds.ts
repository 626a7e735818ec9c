// Installs ringtap's CRDs into the test control plane: server-side apply of the generated
// CRDs (the same objects as crds/*.yaml), then waits until each is Established and API
// discovery lists every resource, so kubectl and informers see them. Idempotent: applying
// unchanged CRDs is a no-op on the server, and a process installs at most once per config.
import * as k8s from '@kubernetes/client-node';
import { allCRDs, GROUP, VERSION } from '../../crds/src/index.js';
import { waitFor } from './kube.js';

export const CRD_FIELD_MANAGER = 'ringtap-tests';

const installed = new Map<string, Promise<void>>();

/** Applies every ringtap CRD and resolves when the API serves and discovery lists them all. */
export function installCRDs(kc: k8s.KubeConfig, timeoutMs = 30_000): Promise<void> {
  const key = `${kc.getCurrentCluster()?.server ?? ''}|${kc.getCurrentUser()?.name ?? ''}`;
  let p = installed.get(key);
  if (!p) {
    p = applyCRDs(kc, timeoutMs);
    installed.set(key, p);
    p.catch(() => installed.delete(key));
  }
  return p;
}

/** One uncached install: apply, then wait for Established and discovery. */
export async function applyCRDs(kc: k8s.KubeConfig, timeoutMs = 30_000): Promise<void> {
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const crds = allCRDs();
  await Promise.all(
    crds.map((crd) =>
      ext.patchCustomResourceDefinition(
        { name: crd.metadata.name, body: crd, fieldManager: CRD_FIELD_MANAGER, force: true },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
      ),
    ),
  );
  await waitFor(
    'ringtap CRDs to be Established',
    async () => {
      for (const crd of crds) {
        const got = await ext.readCustomResourceDefinitionStatus({ name: crd.metadata.name });
        const established = got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
        if (!established) return undefined;
      }
      return true;
    },
    timeoutMs,
    50,
  );
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const plurals = crds.map((c) => c.spec.names.plural);
  await waitFor(
    `discovery of ${GROUP}/${VERSION} to list ${plurals.join(', ')}`,
    async () => {
      const list = await custom.getAPIResources({ group: GROUP, version: VERSION });
      const served = new Set(list.resources.map((r) => r.name));
      return plurals.every((p) => served.has(p) && served.has(`${p}/status`)) ? true : undefined;
    },
    timeoutMs,
    50,
  );
}
