// The ringtap API (ringtap.dev/v1alpha1): types for operator, agent and CLI code, and the
// CRDs generated from the same source. Import types with `import type { ... }`.
export * from './meta.js';
export * from './defaults.js';
export * from './labels.js';
export * from './reasons.js';
export * from './resources.js';
export * from './common.js';
export * from './packetcapture.js';
export * from './portmirror.js';
export * from './pppbridge.js';
export * from './ipamonitor.js';
export * from './nodetask.js';
export { KIND_DEFINITIONS, allCRDs, buildCRD, crdFor, crdName, definitionFor, type CustomResourceDefinition } from './crd.js';
export type { KindDefinition, PrinterColumn } from './definition.js';
export type { JSONSchemaProps, ValidationRule } from './schema.js';
