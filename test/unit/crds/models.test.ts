// The @kubernetes-models/base classes of crds/src/models: generated from the CRDs by the upstream
// generator and checked in, they validate what the CRD's schema validates and name the field
// they reject.
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KIND_DEFINITIONS, type Kind } from '../../../crds/src/index.js';
import { IPAMonitor, NodeTask, PacketCapture, PortMirror, PPPBridge } from '../../../crds/src/models/index.js';
import { repoRoot } from '../../../hack/gen-crds.js';
import { staleModelFiles } from '../../../hack/gen-models.js';

const MODELS = { PacketCapture, PortMirror, PPPBridge, IPAMonitor, NodeTask } as const;

function model(kind: Kind, data: Record<string, unknown>): { validate(): void; toJSON(): unknown } {
  const Ctor = MODELS[kind] as unknown as new (data: Record<string, unknown>) => { validate(): void; toJSON(): unknown };
  return new Ctor(data);
}

const capture = (spec: Record<string, unknown>) =>
  new PacketCapture({ metadata: { name: 'dns', namespace: 'shop' }, spec: spec as PacketCapture['spec'] });
const goodSpec = { targets: { pods: { names: ['web-0'] } }, limits: { duration: '5m' } };

describe('crds/src/models', () => {
  test(
    'match the CRDs: regenerating them from crds/src changes nothing (npm run build && node dist/hack/gen-models.js)',
    async () => {
      expect(await staleModelFiles()).toEqual([]);
    },
    120_000,
  );

  test('one model per kind, with the kind and apiVersion of its CRD', () => {
    expect(Object.keys(MODELS).sort()).toEqual(KIND_DEFINITIONS.map((d) => d.kind).sort());
    for (const [kind, Ctor] of Object.entries(MODELS)) {
      expect(Ctor.kind).toBe(kind);
      expect(Ctor.apiVersion).toBe('ringtap.dev/v1alpha1');
    }
  });

  const examples = readdirSync(join(repoRoot(), 'crds/examples')).filter((f) => f.endsWith('.yaml'));
  test.each(examples)('the example %s validates', (file) => {
    const obj = parse(readFileSync(join(repoRoot(), 'crds/examples', file), 'utf8')) as { kind: Kind } & Record<string, unknown>;
    const m = model(obj.kind, obj);
    expect(() => m.validate()).not.toThrow();
    expect(m.toJSON()).toEqual(obj);
  });

  test('a valid PacketCapture validates and serializes with its apiVersion and kind', () => {
    const pc = capture(goodSpec);
    expect(() => pc.validate()).not.toThrow();
    expect(pc.toJSON()).toEqual({
      apiVersion: 'ringtap.dev/v1alpha1',
      kind: 'PacketCapture',
      metadata: { name: 'dns', namespace: 'shop' },
      spec: goodSpec,
    });
    expect(PacketCapture.is(pc.toJSON())).toBe(true);
    expect(PortMirror.is(pc.toJSON())).toBe(false);
  });

  test.each([
    ['a snap length above the limit', { ...goodSpec, snapLength: 10_000_000 }, /data\/spec\/snapLength must be <= 262144/],
    ['a capture point outside the enum', { ...goodSpec, capturePoint: 'nic' }, /data\/spec\/capturePoint must be equal to one of the allowed values/],
    ['a duration that is not a Go duration', { ...goodSpec, limits: { duration: 'five minutes' } }, /data\/spec\/limits\/duration must match pattern/],
    ['no targets', { limits: { duration: '5m' } }, /data\/spec must have required property targets/],
    ['a port of the wrong type', { ...goodSpec, match: { ports: [{ port: '53' }] } }, /data\/spec\/match\/ports\/0\/port must be integer/],
  ])('a PacketCapture with %s fails validation naming the field', (_what, spec, message) => {
    expect(() => capture(spec).validate()).toThrow(message);
  });

  test('a NodeTask with a negative snap length names the field', () => {
    const obj = parse(readFileSync(join(repoRoot(), 'crds/examples/nodetask-packetcapture.yaml'), 'utf8')) as {
      spec: { packetCapture: { snapLength: number } };
    };
    obj.spec.packetCapture.snapLength = -1;
    expect(() => model('NodeTask', obj).validate()).toThrow(/data\/spec\/packetCapture\/snapLength must be >= /);
  });
});
