// Every example in crds/examples is accepted by the real API server exactly as written,
// and the schema defaults fill in what the examples leave out.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { KIND_DEFINITIONS, type Kind, type PacketCapture, type PPPBridge, type IPAMonitor, type PortMirror } from '../../../crds/src/index.js';
import { applyCRDs, installCRDs } from '../../support/crds.js';
import { adminConfig, apiMessage, createNamespace, deleteNamespace } from '../../support/kube.js';
import { exampleFiles, isNamespaced, loadExample, Objects, type Obj } from './objects.js';

let kc: k8s.KubeConfig;
let ns: string;
let objects: Objects;
const clusterScoped: Obj[] = [];
const created = new Map<string, Obj>();

beforeAll(async () => {
  kc = adminConfig();
  await installCRDs(kc);
  ns = await createNamespace('crd-examples', kc);
  objects = new Objects(kc, ns);
});

afterAll(async () => {
  for (const o of clusterScoped) await objects.delete(o.kind, o.metadata.name);
  await deleteNamespace(ns, kc);
});

describe('crds/examples', () => {
  test('there are at least two examples of every kind', () => {
    const counts = new Map<Kind, number>();
    for (const f of exampleFiles()) {
      const o = loadExample(f);
      counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
    }
    for (const def of KIND_DEFINITIONS) expect({ kind: def.kind, examples: Math.min(counts.get(def.kind) ?? 0, 2) }).toEqual({ kind: def.kind, examples: 2 });
  });

  test.each(exampleFiles())('%s is accepted as written', async (file) => {
    const o = loadExample(file);
    if (!isNamespaced(o.kind)) {
      await objects.delete(o.kind, o.metadata.name); // a leftover of an interrupted run
      clusterScoped.push(o);
    }
    let got: Obj;
    try {
      got = await objects.create(o);
    } catch (err) {
      throw new Error(`${file} was rejected: ${apiMessage(err)}`, { cause: err });
    }
    expect(got.metadata.name).toBe(o.metadata.name);
    created.set(file, got);
  });
});

describe('schema defaults', () => {
  test('a PacketCapture gets snapLength 262144, pcapng, capturePoint pod and software timestamps', () => {
    const pc = created.get('packetcapture-dns-debug.yaml') as unknown as PacketCapture;
    expect(pc.spec).toMatchObject({ snapLength: 262144, output: { format: 'pcapng' }, capturePoint: 'pod', timestamps: 'software' });
    expect(pc.spec.match).toMatchObject({ protocol: 'any', bidirectional: true });
  });

  test('a PortMirror gets sampling 1, and a VXLAN destination port 4789', () => {
    const ids = created.get('portmirror-web-to-ids.yaml') as unknown as PortMirror;
    expect(ids.spec.sampling).toBe(1);
    const erspan = created.get('portmirror-erspan.yaml') as unknown as PortMirror;
    expect(erspan.spec.direction).toBe('egress');
    expect(erspan.spec.destination.remote?.erspan).toEqual({ version: 2, sessionId: 7 });
  });

  test('a PPPBridge gets L2TP version 2 and port 1701', () => {
    const b = created.get('pppbridge-l2tp-to-l2tp.yaml') as unknown as PPPBridge;
    expect(b.spec.a.l2tp).toMatchObject({ version: 2, localPort: 1701, peerPort: 1701 });
  });

  test('an IPAMonitor selects nodes labelled ringtap.dev/ipa=true, device auto, metrics every 30s', () => {
    const m = created.get('ipamonitor-metrics-only.yaml') as unknown as IPAMonitor;
    expect(m.spec).toMatchObject({ metricsInterval: '30s', ipaVersion: '4.5', device: 'ipa_adpl' });
    const c = created.get('ipamonitor-with-capture.yaml') as unknown as IPAMonitor;
    expect(c.spec.nodeSelector).toEqual({ matchLabels: { 'ringtap.dev/ipa': 'true' } });
    expect(c.spec.capture).toMatchObject({ output: { format: 'pcapng' }, snapLength: 256 });
  });
});

describe('installCRDs', () => {
  test('re-applying unchanged CRDs is a fast no-op that does not bump their generation', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const before = await ext.readCustomResourceDefinition({ name: 'packetcaptures.ringtap.dev' });
    const started = Date.now();
    await applyCRDs(kc);
    expect(Date.now() - started).toBeLessThan(2000);
    const after = await ext.readCustomResourceDefinition({ name: 'packetcaptures.ringtap.dev' });
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });
});
