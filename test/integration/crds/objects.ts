// Typed access to ringtap objects for the CRD tests: load the examples, and create, read,
// replace and delete any kind regardless of scope, with strict field validation so an
// unknown field fails instead of being pruned silently.
import * as k8s from '@kubernetes/client-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { definitionFor, GROUP, PLURALS, VERSION, type Kind } from '../../../crds/src/index.js';
import { repoRoot } from '../../support/cluster.js';

export type Obj = {
  apiVersion: string;
  kind: Kind;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
};

export const examplesDir = join(repoRoot, 'crds/examples');

export function exampleFiles(): string[] {
  return readdirSync(examplesDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

export function loadExample(file: string): Obj {
  return parse(readFileSync(join(examplesDir, file), 'utf8')) as Obj;
}

export function isNamespaced(kind: Kind): boolean {
  return definitionFor(kind).scope === 'Namespaced';
}

export class Objects {
  private readonly api: k8s.CustomObjectsApi;

  constructor(
    kc: k8s.KubeConfig,
    private readonly namespace: string,
  ) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  private target(kind: Kind) {
    return { group: GROUP, version: VERSION, plural: PLURALS[kind] };
  }

  async create(o: Obj): Promise<Obj> {
    const t = { ...this.target(o.kind), body: o, fieldValidation: 'Strict' };
    if (isNamespaced(o.kind)) return (await this.api.createNamespacedCustomObject({ ...t, namespace: this.namespace })) as Obj;
    return (await this.api.createClusterCustomObject(t)) as Obj;
  }

  async get(kind: Kind, name: string): Promise<Obj> {
    const t = { ...this.target(kind), name };
    if (isNamespaced(kind)) return (await this.api.getNamespacedCustomObject({ ...t, namespace: this.namespace })) as Obj;
    return (await this.api.getClusterCustomObject(t)) as Obj;
  }

  async replace(o: Obj): Promise<Obj> {
    const t = { ...this.target(o.kind), name: o.metadata.name, body: o, fieldValidation: 'Strict' };
    if (isNamespaced(o.kind)) return (await this.api.replaceNamespacedCustomObject({ ...t, namespace: this.namespace })) as Obj;
    return (await this.api.replaceClusterCustomObject(t)) as Obj;
  }

  async replaceStatus(o: Obj): Promise<Obj> {
    const t = { ...this.target(o.kind), name: o.metadata.name, body: o, fieldValidation: 'Strict' };
    if (isNamespaced(o.kind)) return (await this.api.replaceNamespacedCustomObjectStatus({ ...t, namespace: this.namespace })) as Obj;
    return (await this.api.replaceClusterCustomObjectStatus(t)) as Obj;
  }

  /** Deletes; NotFound is success. */
  async delete(kind: Kind, name: string): Promise<void> {
    const t = { ...this.target(kind), name };
    try {
      if (isNamespaced(kind)) await this.api.deleteNamespacedCustomObject({ ...t, namespace: this.namespace });
      else await this.api.deleteClusterCustomObject(t);
    } catch (err) {
      if (!(err instanceof k8s.ApiException && err.code === 404)) throw err;
    }
  }
}
