// Typed builders for the OpenAPI v3 structural schemas of ringtap's CRDs.
//
// Every builder takes the field's description first, so a field without a description
// does not type-check; test/unit/crds/schema.test.ts also walks the generated schemas and
// insists on descriptions, maxLength on strings and maxItems on arrays, because the API
// server's CEL cost estimator needs those bounds to accept the rules.

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

/** One x-kubernetes-validations entry (CEL). */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** A JSONPath relative to the schema node the rule sits on, e.g. `.limits`. */
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that ringtap uses. */
export interface JSONSchemaProps {
  type?: SchemaType;
  description?: string;
  format?: string;
  default?: unknown;
  enum?: (string | number)[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

type Extra = Omit<JSONSchemaProps, 'type' | 'description' | 'properties' | 'items'>;

// ---- patterns shared by several kinds -------------------------------------------------

/** Go's time.ParseDuration syntax, without sign: 300ms, 5m, 1h30m, 1.5h. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';
/** A byte size written as a Kubernetes quantity without sign or exponent: 512Ki, 100Mi, 2G, 1500000. */
export const BYTE_QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$';
/** RFC 1123 subdomain (names of pods and nodes). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** RFC 1123 label (namespaces). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** A Linux interface name: 1-15 bytes, no slash, colon or whitespace (dev_valid_name). */
export const IFNAME_PATTERN = '^[^/:\\s]{1,15}$';
/** A unicast or multicast Ethernet address written as six colon-separated hex octets. */
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$';
/** A Kubernetes label value. */
export const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
/** A Kubernetes UID. */
export const UID_PATTERN = '^[0-9a-fA-F-]{1,64}$';

// ---- scalar builders ------------------------------------------------------------------

export function str(description: string, extra: Extra & { maxLength: number }): JSONSchemaProps {
  return { type: 'string', description, ...extra };
}

export function enumStr<T extends string>(description: string, values: readonly T[], def?: T): JSONSchemaProps {
  // maxLength is redundant for validation but lets the CEL cost estimator bound rules that read the field.
  const maxLength = Math.max(...values.map((v) => v.length));
  const s: JSONSchemaProps = { type: 'string', description, enum: [...values], maxLength };
  if (def !== undefined) s.default = def;
  return s;
}

export function int(description: string, extra: Extra & { minimum: number; maximum?: number } = { minimum: 0 }): JSONSchemaProps {
  const format = extra.maximum !== undefined && extra.maximum <= 2147483647 && extra.minimum >= -2147483648 ? 'int32' : 'int64';
  return { type: 'integer', format, description, ...extra };
}

export function bool(description: string, def?: boolean): JSONSchemaProps {
  const s: JSONSchemaProps = { type: 'boolean', description };
  if (def !== undefined) s.default = def;
  return s;
}

export function duration(description: string, def?: string): JSONSchemaProps {
  const s = str(`${description} Written as a Go duration: digits with a unit of ns, us, ms, s, m or h, e.g. 30s, 5m, 1h30m.`, {
    maxLength: 32,
    pattern: DURATION_PATTERN,
  });
  if (def !== undefined) s.default = def;
  return s;
}

/**
 * A duration that something waits for (a capture's length, a file's age): at least a second.
 * 0s, or less than the agents' one-second resolution, would end (or rotate) at once.
 */
export function positiveDuration(description: string): JSONSchemaProps {
  return withRules(duration(description), { rule: "duration(self) >= duration('1s')", message: 'must be at least 1s' });
}

/** A size in bytes: an integer, or a quantity string such as 100Mi or 2G. */
export function byteSize(description: string): JSONSchemaProps {
  return {
    description: `${description} An integer number of bytes or a quantity such as 512Ki, 100Mi or 2G.`,
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: BYTE_QUANTITY_PATTERN,
    maxLength: 32,
    minimum: 1,
  };
}

export function dateTime(description: string): JSONSchemaProps {
  return { type: 'string', format: 'date-time', maxLength: 64, description };
}

/** An IPv4 or IPv6 address, checked with the Kubernetes CEL `isIP` function. */
export function ipAddress(description: string): JSONSchemaProps {
  return {
    type: 'string',
    description: `${description} An IPv4 or IPv6 address.`,
    maxLength: 45,
    'x-kubernetes-validations': [
      { rule: 'isIP(self)', message: 'must be an IPv4 or IPv6 address, such as 192.0.2.10 or 2001:db8::10' },
    ],
  };
}

export function cidr(description: string): JSONSchemaProps {
  return {
    type: 'string',
    description,
    maxLength: 49,
    'x-kubernetes-validations': [{ rule: 'isCIDR(self)', message: 'must be a CIDR such as 10.0.0.0/8 or fd00::/64' }],
  };
}

export function ifName(description: string): JSONSchemaProps {
  return str(`${description} A Linux interface name: 1 to 15 characters, no '/', ':' or whitespace.`, {
    maxLength: 15,
    minLength: 1,
    pattern: IFNAME_PATTERN,
  });
}

export function mac(description: string): JSONSchemaProps {
  return str(`${description} Six colon-separated hex octets, e.g. 02:42:ac:11:00:02.`, { maxLength: 17, pattern: MAC_PATTERN });
}

export function dnsSubdomain(description: string): JSONSchemaProps {
  return str(description, { maxLength: 253, minLength: 1, pattern: DNS_SUBDOMAIN_PATTERN });
}

export function uid(description: string): JSONSchemaProps {
  return str(description, { maxLength: 64, pattern: UID_PATTERN });
}

// ---- composite builders ---------------------------------------------------------------

export function obj(
  description: string,
  properties: Record<string, JSONSchemaProps>,
  required: string[] = [],
  extra: Extra = {},
): JSONSchemaProps {
  const s: JSONSchemaProps = { type: 'object', description, properties };
  if (required.length > 0) s.required = required;
  return { ...s, ...extra };
}

export function arr(
  description: string,
  items: JSONSchemaProps,
  extra: Extra & { maxItems: number },
): JSONSchemaProps {
  return { type: 'array', description, items, ...extra };
}

/** A list of unique scalars. */
export function set(description: string, items: JSONSchemaProps, maxItems: number, minItems?: number): JSONSchemaProps {
  const s = arr(description, items, { maxItems, 'x-kubernetes-list-type': 'set' });
  if (minItems !== undefined) s.minItems = minItems;
  return s;
}

/** A list of objects keyed by some of their fields, so different writers can own different entries. */
export function mapList(description: string, items: JSONSchemaProps, keys: string[], maxItems: number): JSONSchemaProps {
  return arr(description, items, { maxItems, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': keys });
}

/** Adds CEL rules to a schema node (returns a copy). */
export function withRules(s: JSONSchemaProps, ...rules: ValidationRule[]): JSONSchemaProps {
  return { ...s, 'x-kubernetes-validations': [...(s['x-kubernetes-validations'] ?? []), ...rules] };
}

/** Marks a field immutable once set: a transition rule `self == oldSelf`. */
export function immutable(s: JSONSchemaProps, message: string): JSONSchemaProps {
  return withRules(s, { rule: 'self == oldSelf', message });
}

/** A CEL expression true when exactly one of the named optional fields of `self` is set. */
export function exactlyOne(fields: string[]): string {
  return `[${fields.map((f) => `has(self.${f})`).join(', ')}].filter(x, x).size() == 1`;
}
