// API-wide constants and the Kubernetes shapes every kind shares: object metadata,
// label selectors, kstatus conditions.
import {
  arr,
  dateTime,
  enumStr,
  int,
  LABEL_VALUE_PATTERN,
  mapList,
  obj,
  str,
  withRules,
  type JSONSchemaProps,
} from './schema.js';

export const GROUP = 'ringtap.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** `kubectl get ringtap` lists every kind in this category. */
export const CATEGORY = 'ringtap';

export type Kind = 'PacketCapture' | 'PortMirror' | 'PPPBridge' | 'IPAMonitor' | 'NodeTask';
/** The user-facing kinds that a NodeTask can belong to. */
export type ParentKind = Exclude<Kind, 'NodeTask'>;
export const PARENT_KINDS: readonly ParentKind[] = ['PacketCapture', 'PortMirror', 'PPPBridge', 'IPAMonitor'];

export const PLURALS = {
  PacketCapture: 'packetcaptures',
  PortMirror: 'portmirrors',
  PPPBridge: 'pppbridges',
  IPAMonitor: 'ipamonitors',
  NodeTask: 'nodetasks',
} as const satisfies Record<Kind, string>;

// ---- metadata ---------------------------------------------------------------------------

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

/** The envelope every ringtap object has. */
export interface Resource<K extends Kind, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

// ---- label selectors --------------------------------------------------------------------

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  values?: string[];
}

/** metav1.LabelSelector: the requirements are ANDed. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const labelKey = (description: string) => str(description, { maxLength: 317, minLength: 1 });

export function labelSelectorSchema(description: string): JSONSchemaProps {
  const requirement = withRules(
    obj(
      'A label requirement: a key, an operator and (for In and NotIn) values.',
      {
        key: labelKey('The label key the requirement applies to, e.g. app or app.kubernetes.io/name.'),
        operator: enumStr('How the key relates to the values: In, NotIn, Exists or DoesNotExist.', [
          'In',
          'NotIn',
          'Exists',
          'DoesNotExist',
        ]),
        values: arr(
          'The values for In and NotIn (at least one); must be empty for Exists and DoesNotExist.',
          str('A label value.', { maxLength: 63, pattern: LABEL_VALUE_PATTERN }),
          { maxItems: 64, 'x-kubernetes-list-type': 'atomic' },
        ),
      },
      ['key', 'operator'],
    ),
    {
      rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
      message: 'values must be non-empty when operator is In or NotIn, and empty when operator is Exists or DoesNotExist',
    },
  );
  return obj(`${description} matchLabels and matchExpressions are ANDed.`, {
    matchLabels: {
      type: 'object',
      description: 'Labels that must all be present with exactly these values.',
      maxProperties: 32,
      additionalProperties: str('A label value.', { maxLength: 63, pattern: LABEL_VALUE_PATTERN }),
    },
    matchExpressions: arr('Label requirements that must all hold.', requirement, { maxItems: 16 }),
  });
}

/** A CEL expression (on a field holding a label selector) true when it selects something less than everything. */
export function nonEmptySelector(path: string): string {
  return (
    `(has(${path}.matchLabels) && size(${path}.matchLabels) > 0) || ` +
    `(has(${path}.matchExpressions) && size(${path}.matchExpressions) > 0)`
  );
}

// ---- kstatus conditions -----------------------------------------------------------------

/** Condition types every ringtap kind reports (kstatus). */
export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled' | (string & {});

/** metav1.Condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export function conditionsSchema(subject: string): JSONSchemaProps {
  return mapList(
    `The latest observations of the ${subject}'s state, in kstatus form: Ready (the work is in place and healthy), ` +
      'Reconciling (the controller is making changes), Stalled (progress is blocked; the message says why). ' +
      'A list keyed by type, so the operator and agents can each server-side-apply their own entries.',
    obj(
      'One condition: a type, its status, a machine-readable reason and a human-readable message.',
      {
        type: str('The condition type: Ready, Reconciling, Stalled, or a kind-specific type.', {
          maxLength: 316,
          pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
        }),
        status: enumStr('Whether the condition holds: True, False or Unknown.', ['True', 'False', 'Unknown']),
        reason: str('A CamelCase word saying why the condition has this status, e.g. CaptureRunning or NodeNotFound.', {
          maxLength: 1024,
          minLength: 1,
          pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
        }),
        message: str('A human-readable explanation, naming the field or node at fault where there is one.', { maxLength: 32768 }),
        lastTransitionTime: dateTime('When the status last changed.'),
        observedGeneration: int('The metadata.generation the condition was computed from.', { minimum: 0 }),
      },
      ['type', 'status', 'reason', 'lastTransitionTime'],
    ),
    ['type'],
    16,
  );
}

export function observedGenerationSchema(): JSONSchemaProps {
  return int('The metadata.generation of the spec this status describes; lags behind while the controller catches up.', {
    minimum: 0,
  });
}

// ---- per-node status of the parent kinds --------------------------------------------------

export type NodePhase = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Stopped';
export const NODE_PHASES: readonly NodePhase[] = ['Pending', 'Running', 'Completed', 'Failed', 'Stopped'];
/** A node's work in one of these phases is over: it is not started again. */
export const TERMINAL_NODE_PHASES: readonly NodePhase[] = ['Completed', 'Failed', 'Stopped'];

export function nodePhaseSchema(description: string): JSONSchemaProps {
  return enumStr(description, NODE_PHASES);
}

export function counter(description: string): JSONSchemaProps {
  return int(description, { minimum: 0 });
}
