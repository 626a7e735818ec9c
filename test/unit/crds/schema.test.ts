// Rules every schema node obeys, so that `kubectl explain` teaches the whole API and the API
// server's CEL cost estimator can bound every rule: descriptions everywhere, maxLength on
// strings, maxItems on arrays, maxProperties on maps, a message on every CEL rule.
// Also checks that examples and fully-typed TS samples use only fields the schema declares.
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  allCRDs,
  crdFor,
  type IPAMonitor,
  type JSONSchemaProps,
  type Kind,
  type NodeTask,
  type PacketCapture,
  type PortMirror,
  type PPPBridge,
} from '../../../crds/src/index.js';
import { repoRoot } from '../../../hack/gen-crds.js';

type Visit = (path: string, s: JSONSchemaProps) => void;

function walk(path: string, s: JSONSchemaProps, visit: Visit): void {
  visit(path, s);
  for (const [k, p] of Object.entries(s.properties ?? {})) walk(`${path}.${k}`, p, visit);
  if (s.items) walk(`${path}[]`, s.items, visit);
  if (s.additionalProperties) walk(`${path}{}`, s.additionalProperties, visit);
}

function specAndStatus(kind: Kind): [string, JSONSchemaProps][] {
  const root = crdFor(kind).spec.versions[0]!.schema.openAPIV3Schema;
  return [
    [`${kind}.spec`, root.properties!.spec!],
    [`${kind}.status`, root.properties!.status!],
  ];
}

const kinds = allCRDs().map((c) => c.spec.names.kind as Kind);

describe.each(kinds)('%s schema', (kind) => {
  const problems: string[] = [];
  for (const [path, s] of specAndStatus(kind)) {
    walk(path, s, (p, n) => {
      if (!n.description) problems.push(`${p}: no description`);
      const isString = n.type === 'string' || n['x-kubernetes-int-or-string'];
      if (isString && n.maxLength === undefined) problems.push(`${p}: string without maxLength`);
      if (n.type === 'array' && n.maxItems === undefined) problems.push(`${p}: array without maxItems`);
      if (n.type === 'array' && !n['x-kubernetes-list-type'] && n.items?.type !== 'object') problems.push(`${p}: scalar list without list type`);
      if (n.additionalProperties && n.maxProperties === undefined) problems.push(`${p}: map without maxProperties`);
      if (n.type === 'integer' && !n.format) problems.push(`${p}: integer without format`);
      for (const r of n['x-kubernetes-validations'] ?? []) {
        if (!r.message && !r.messageExpression) problems.push(`${p}: CEL rule without message: ${r.rule}`);
      }
    });
  }
  test('every field has a description, and every string, list and map is bounded', () => {
    expect(problems).toEqual([]);
  });
});

/** Paths in `value` that the schema does not declare. */
function undeclared(path: string, value: unknown, s: JSONSchemaProps | undefined): string[] {
  if (!s) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => undeclared(`${path}[${i}]`, v, s.items));
  if (value && typeof value === 'object') {
    if (s['x-kubernetes-int-or-string']) return [];
    return Object.entries(value).flatMap(([k, v]) =>
      undeclared(`${path}.${k}`, v, s.properties?.[k] ?? s.additionalProperties),
    );
  }
  return [];
}

function schemaOf(kind: Kind): JSONSchemaProps {
  return crdFor(kind).spec.versions[0]!.schema.openAPIV3Schema;
}

const examplesDir = join(repoRoot(), 'crds/examples');

describe('crds/examples', () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));
  test.each(files)('%s is commented and uses only declared fields', (file) => {
    const text = readFileSync(join(examplesDir, file), 'utf8');
    expect(text.startsWith('# ')).toBe(true);
    const o = parse(text) as { kind: Kind; spec: unknown };
    const s = schemaOf(o.kind);
    expect(undeclared(`${o.kind}.spec`, o.spec, s.properties!.spec)).toEqual([]);
  });
});

// Fully populated samples, type-checked against the exported TS types: together with the
// walk above, a field present in the types but missing from the schema fails here.
const meta = { name: 'x' };
const ts = '2026-11-23T12:00:00Z';
const samples: { kind: Kind; spec: unknown; status?: unknown }[] = [
  ((): PacketCapture => ({
    apiVersion: 'ringtap.dev/v1alpha1',
    kind: 'PacketCapture',
    metadata: meta,
    spec: {
      targets: {
        pods: { selector: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }, names: ['p'], all: false },
        nodes: { selector: { matchLabels: { a: 'b' } }, names: ['n'], all: false, interfaces: ['eth0'] },
      },
      capturePoint: 'pod',
      podInterfaces: ['eth0'],
      filter: 'udp',
      match: { protocol: 'tcp', ports: [{ port: 1, endPort: 2 }], cidrs: ['10.0.0.0/8'], tcpFlags: ['SYN'], bidirectional: true },
      snapLength: 96,
      limits: { duration: '5m', maxPackets: 1, maxBytes: '1Mi' },
      output: { format: 'pcapng' },
      rotation: { fileSize: 1, fileDuration: '1m' },
      retention: { maxFiles: 1, maxAge: '1h', maxTotalBytes: '1Gi' },
      timestamps: 'hardware',
    },
    status: {
      observedGeneration: 1,
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', reason: 'R', message: 'm', lastTransitionTime: ts, observedGeneration: 1 }],
      startTime: ts,
      completionTime: ts,
      stopReason: 'DurationReached',
      totals: { nodes: 1, pods: 1, packets: 1, bytes: 1, drops: 1, freezes: 1, files: 1 },
      nodes: [{ node: 'n', phase: 'Running', packets: 1, bytes: 1, drops: 1, files: 1, pods: 1, message: 'm' }],
    },
  }))(),
  ((): PortMirror => ({
    apiVersion: 'ringtap.dev/v1alpha1',
    kind: 'PortMirror',
    metadata: meta,
    spec: {
      source: { pods: { names: ['p'] }, nodes: { all: true, interfaces: ['eth0'] } },
      direction: 'both',
      filter: 'tcp',
      destination: {
        interface: { name: 'mon0' },
        pod: { name: 'ids', interface: 'eth1' },
        remote: { address: '192.0.2.1', protocol: 'erspan', vni: 1, key: 1, port: 4789, erspan: { version: 2, sessionId: 1 } },
      },
      sampling: 1,
    },
    status: {
      observedGeneration: 1,
      phase: 'Running',
      conditions: [],
      totals: { nodes: 1, sources: 1, packets: 1, bytes: 1, drops: 1 },
      nodes: [{ node: 'n', phase: 'Running', sources: 1 }],
    },
  }))(),
  ((): PPPBridge => ({
    apiVersion: 'ringtap.dev/v1alpha1',
    kind: 'PPPBridge',
    metadata: meta,
    spec: {
      nodeName: 'n',
      mode: 'auto',
      a: { pppoe: { interface: 'eth1', sessionId: 1, peerMAC: '02:00:00:00:00:01', localMAC: '02:00:00:00:00:02' } },
      b: {
        l2tp: {
          version: 2,
          localAddress: '192.0.2.1',
          peerAddress: '192.0.2.2',
          localPort: 1701,
          peerPort: 1701,
          tunnelId: 1,
          peerTunnelId: 2,
          sessionId: 3,
          peerSessionId: 4,
        },
      },
      mtu: 1492,
    },
    status: {
      observedGeneration: 1,
      phase: 'Bridged',
      conditions: [],
      dataPath: 'kernel',
      bridgedSince: ts,
      aToB: { packets: 1, bytes: 1, drops: 1 },
      bToA: { packets: 1, bytes: 1, drops: 1 },
      message: 'm',
    },
  }))(),
  ((): IPAMonitor => ({
    apiVersion: 'ringtap.dev/v1alpha1',
    kind: 'IPAMonitor',
    metadata: meta,
    spec: {
      nodeSelector: { matchLabels: { 'ringtap.dev/ipa': 'true' } },
      device: 'auto',
      ipaVersion: '4.11',
      capture: {
        enabled: true,
        snapLength: 128,
        endpoints: { sources: [1], destinations: [2] },
        output: { format: 'pcapng' },
        rotation: { fileSize: '1Mi' },
        retention: { maxFiles: 2 },
      },
      metricsInterval: '30s',
    },
    status: {
      observedGeneration: 1,
      phase: 'Running',
      conditions: [],
      totals: { nodes: 1, records: 1, packets: 1, bytes: 1, drops: 1, exceptions: 1, files: 1 },
      nodes: [{ node: 'n', phase: 'Running', ipaVersion: '4.11', device: 'ipa_adpl', records: 1, exceptions: 1 }],
    },
  }))(),
  ((): NodeTask => ({
    apiVersion: 'ringtap.dev/v1alpha1',
    kind: 'NodeTask',
    metadata: meta,
    spec: {
      node: 'n',
      parent: { kind: 'PacketCapture', name: 'p', namespace: 'ns', uid: 'u', generation: 1 },
      cleanup: false,
      packetCapture: {
        pods: [{ name: 'p', namespace: 'ns', uid: 'u', ips: ['10.0.0.1'], hostVeth: 'veth1' }],
        interfaces: ['eth0'],
        capturePoint: 'pod',
        podInterfaces: ['eth0'],
        filter: 'udp',
        snapLength: 1,
        limits: { durationSeconds: 1, stopAt: ts, maxPackets: 1, maxBytes: 1 },
        output: { format: 'pcap' },
        rotation: { fileSizeBytes: 1, fileDurationSeconds: 1 },
        retention: { maxFiles: 1, maxAgeSeconds: 1, maxTotalBytes: 1 },
        timestamps: 'software',
      },
      portMirror: {
        sources: [{ pod: { name: 'p', namespace: 'ns', uid: 'u' } }, { interface: 'eth0' }],
        direction: 'both',
        filter: 'udp',
        sampling: 1,
        destination: {
          interface: { name: 'mon0' },
          pod: { name: 'c', namespace: 'ns', uid: 'u', node: 'n', interface: 'eth1' },
          remote: { address: '192.0.2.1', protocol: 'vxlan', vni: 1 },
        },
      },
      pppBridge: { mode: 'kernel', a: { pppoe: { interface: 'eth1', sessionId: 1, peerMAC: '02:00:00:00:00:01' } }, b: {}, mtu: 1500 },
      ipaMonitor: {
        device: 'auto',
        ipaVersion: 'auto',
        capture: { enabled: true, snapLength: 1, endpoints: { sources: [1] }, output: { format: 'pcapng' }, rotation: {}, retention: {} },
        metricsIntervalSeconds: 30,
      },
    },
    status: {
      observedGeneration: 1,
      phase: 'Running',
      conditions: [],
      counters: { packets: 1, bytes: 1, drops: 1, freezes: 1, records: 1, exceptions: 1 },
      files: [{ name: 'f.pcapng', size: 1, packets: 1, firstTimestamp: ts, lastTimestamp: ts }],
      targets: [{ name: 'ns/p', state: 'Attached', message: 'm' }],
      stopReason: 'Deleted',
      message: 'm',
      lastUpdateTime: ts,
      startTime: ts,
      dataPath: 'kernel',
      ipaVersion: '4.9',
      cleanedUp: true,
    },
  }))(),
];

describe('TS types and schemas agree', () => {
  test.each(samples.map((s) => [s.kind, s] as const))('every field of a fully populated %s is in the schema', (kind, sample) => {
    const s = schemaOf(kind);
    expect(undeclared(`${kind}.spec`, sample.spec, s.properties!.spec)).toEqual([]);
    expect(undeclared(`${kind}.status`, sample.status, s.properties!.status)).toEqual([]);
  });
});
