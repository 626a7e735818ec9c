// Turns the kind definitions into apiextensions.k8s.io/v1 CustomResourceDefinitions.
import type { KindDefinition, PrinterColumn } from './definition.js';
import { ipaMonitorDefinition } from './ipamonitor.js';
import { CATEGORY, GROUP, VERSION, type Kind } from './meta.js';
import { nodeTaskDefinition } from './nodetask.js';
import { packetCaptureDefinition } from './packetcapture.js';
import { portMirrorDefinition } from './portmirror.js';
import { pppBridgeDefinition } from './pppbridge.js';
import type { JSONSchemaProps } from './schema.js';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced' | 'Cluster';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      selectableFields?: { jsonPath: string }[];
    }[];
  };
}

/** Every kind, in the order the generated files and `kubectl get ringtap` show them. */
export const KIND_DEFINITIONS: readonly KindDefinition[] = [
  packetCaptureDefinition,
  portMirrorDefinition,
  pppBridgeDefinition,
  ipaMonitorDefinition,
  nodeTaskDefinition,
];

export function definitionFor(kind: Kind): KindDefinition {
  const def = KIND_DEFINITIONS.find((d) => d.kind === kind);
  if (!def) throw new Error(`unknown ringtap kind ${kind}`);
  return def;
}

export function crdName(def: Pick<KindDefinition, 'plural'>): string {
  return `${def.plural}.${GROUP}`;
}

export function buildCRD(def: KindDefinition): CustomResourceDefinition {
  const root: JSONSchemaProps = {
    type: 'object',
    description: def.description,
    properties: {
      apiVersion: { type: 'string', description: `APIVersion defines the versioned schema of this object: ${GROUP}/${VERSION}.` },
      kind: { type: 'string', description: `Kind is the type of this object: ${def.kind}.` },
      metadata: { type: 'object' },
      spec: def.spec,
      status: def.status,
    },
    required: ['spec'],
    ...(def.rootRules ? { 'x-kubernetes-validations': def.rootRules } : {}),
  };
  const version: CustomResourceDefinition['spec']['versions'][number] = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: root },
    subresources: { status: {} },
    additionalPrinterColumns: def.printerColumns,
  };
  if (def.selectableFields) version.selectableFields = def.selectableFields;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(def), labels: { 'app.kubernetes.io/part-of': 'ringtap' } },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: [CATEGORY],
      },
      scope: def.scope,
      versions: [version],
    },
  };
}

export function crdFor(kind: Kind): CustomResourceDefinition {
  return buildCRD(definitionFor(kind));
}

export function allCRDs(): CustomResourceDefinition[] {
  return KIND_DEFINITIONS.map(buildCRD);
}
