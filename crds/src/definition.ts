// What a kind file declares; crd.ts turns it into a CustomResourceDefinition.
import type { Kind } from './meta.js';
import type { JSONSchemaProps } from './schema.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
  format?: string;
}

export interface KindDefinition {
  kind: Kind;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  /** The top-level description `kubectl explain <kind>` prints. */
  description: string;
  spec: JSONSchemaProps;
  status: JSONSchemaProps;
  printerColumns: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

export const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Whether the Ready condition is True.',
};

export const phaseColumn: PrinterColumn = {
  name: 'Phase',
  type: 'string',
  jsonPath: '.status.phase',
  description: 'The lifecycle phase.',
};

export const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};
