// What a kind file declares; crd.ts turns it into a CustomResourceDefinition.
import type { Kind } from './meta.js';
import type { JSONSchemaProps, ValidationRule } from './schema.js';

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
  /** CEL rules on the whole object (they may read metadata.name). */
  rootRules?: ValidationRule[];
}

/**
 * The longest name of a kind whose files are named after it (<name>-<sequence>.pcapng): the
 * file name must fit the 255-byte limit of Linux file systems with a sequence of up to 16 digits.
 */
export const MAX_FILE_PREFIX_NAME_LENGTH = 230;

/** A root rule that keeps a kind's name short enough to name its files. */
export const fileNameLengthRule: ValidationRule = {
  rule: `size(self.metadata.name) <= ${MAX_FILE_PREFIX_NAME_LENGTH}`,
  message: `metadata.name: at most ${MAX_FILE_PREFIX_NAME_LENGTH} characters, so that the files named after it (<name>-<sequence>.pcapng) fit the 255-byte file-name limit`,
};

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
