// The CRD objects carry the names, scopes, subresources and printer columns the design asks for.
import { describe, expect, test } from '@jest/globals';
import { allCRDs, CATEGORY, crdFor, GROUP, PLURALS, VERSION, type Kind } from '../../../crds/src/index.js';

const expected: Record<Kind, { short: string; scope: 'Namespaced' | 'Cluster' }> = {
  PacketCapture: { short: 'pcap', scope: 'Namespaced' },
  PortMirror: { short: 'pmir', scope: 'Namespaced' },
  PPPBridge: { short: 'pppb', scope: 'Cluster' },
  IPAMonitor: { short: 'ipam', scope: 'Cluster' },
  NodeTask: { short: 'nt', scope: 'Namespaced' },
};

describe('allCRDs / crdFor', () => {
  test('five kinds in group ringtap.dev, version v1alpha1, category ringtap', () => {
    const crds = allCRDs();
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(Object.keys(expected).sort());
    for (const c of crds) {
      expect(c.spec.group).toBe(GROUP);
      expect(c.metadata.name).toBe(`${c.spec.names.plural}.${GROUP}`);
      expect(c.spec.names.categories).toEqual([CATEGORY]);
      expect(c.spec.versions.map((v) => v.name)).toEqual([VERSION]);
    }
  });

  test.each(Object.entries(expected))('%s has its short name, scope, plural and status subresource', (kind, want) => {
    const c = crdFor(kind as Kind);
    expect(c.spec.names.shortNames).toEqual([want.short]);
    expect(c.spec.scope).toBe(want.scope);
    expect(c.spec.names.plural).toBe(PLURALS[kind as Kind]);
    const v = c.spec.versions[0]!;
    expect(v.subresources).toEqual({ status: {} });
    const columns = v.additionalPrinterColumns.map((p) => p.name);
    expect(columns).toEqual(expect.arrayContaining(['Phase', 'Ready', 'Age']));
  });

  test('NodeTask has spec.node as a selectable field', () => {
    expect(crdFor('NodeTask').spec.versions[0]!.selectableFields).toEqual([{ jsonPath: '.spec.node' }]);
  });

  test('conditions are a map-list keyed by type on every kind', () => {
    for (const c of allCRDs()) {
      const conditions = c.spec.versions[0]!.schema.openAPIV3Schema.properties!.status!.properties!.conditions!;
      expect(conditions['x-kubernetes-list-type']).toBe('map');
      expect(conditions['x-kubernetes-list-map-keys']).toEqual(['type']);
    }
  });
});
