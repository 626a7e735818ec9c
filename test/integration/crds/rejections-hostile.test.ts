// The hostile-input set, beyond rejections.test.ts: objects a tenant would write to crash or
// starve a shared process, or to reach what is not theirs. Each is either rejected by the
// real API server with a message naming the field, or accepted and brought by the operator
// to a Stalled status with a reason naming the field. None sits without a status.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { PacketCaptureType, PortMirrorType } from '../../../crds/src/index.js';
import { KubeClient, PodType, type KubeObject } from '../../../lib/kube/kube.js';
import { cluster } from '../../support/cluster.js';
import { installCRDs } from '../../support/crds.js';
import { adminConfig, apiMessage, createNamespace, deleteCaptureNamespace, uniqueName, waitFor } from '../../support/kube.js';
import { loadExample, Objects, type Obj } from './objects.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const spec = (o: Obj): Any => o.spec;

const PC = 'packetcapture-dns-debug.yaml';
const PC_NODE = 'packetcapture-node-flight-recorder.yaml';
const PM = 'portmirror-web-to-ids.yaml';
const PM_VXLAN = 'portmirror-remote-vxlan.yaml';
const IPA = 'ipamonitor-with-capture.yaml';
const NT = 'nodetask-packetcapture.yaml';
const NT_PM = 'nodetask-portmirror.yaml';

interface Rejected { what: string; base: string; create: (o: Obj) => void; expect: string[] }

const LONG_NAME = 'a'.repeat(253);
/** A filter of 4096 characters at most that libpcap compiles to more than 4096 instructions: each MPLS label shifts every later offset. */
function overlongProgram(): string {
  const term = (i: number) => `(mpls ${i} and tcp port ${i})`;
  let text = term(1);
  for (let i = 2; `${text} or ${term(i)}`.length <= 4096; i++) text += ` or ${term(i)}`;
  return text;
}

const rejected: Rejected[] = [
  // ---- PacketCapture: what would end at once, truncate, or overflow the node ------------
  { what: 'duration 0s (ended at once)', base: PC, create: (o) => { spec(o).limits.duration = '0s'; }, expect: ['spec.limits.duration', 'must be at least 1s'] },
  { what: 'duration below a second', base: PC, create: (o) => { spec(o).limits.duration = '500ms'; }, expect: ['spec.limits.duration', 'must be at least 1s'] },
  { what: 'rotation every 0s', base: PC_NODE, create: (o) => { spec(o).rotation.fileDuration = '0s'; }, expect: ['spec.rotation.fileDuration', 'must be at least 1s'] },
  { what: 'retention maxAge 0s', base: PC_NODE, create: (o) => { spec(o).retention.maxAge = '0s'; }, expect: ['spec.retention.maxAge', 'must be at least 1s'] },
  { what: 'filter with a NUL (libpcap would compile only up to it)', base: PC, create: (o) => { spec(o).filter = 'udp port 53\u0000 or not udp'; }, expect: ['spec.filter', 'must not contain a NUL character'] },
  { what: 'a 253-character capture name (its files would overflow the file-name limit)', base: PC, create: (o) => { o.metadata.name = LONG_NAME; }, expect: ['metadata.name: at most 230 characters'] },
  { what: 'retention maxFiles 0', base: PC_NODE, create: (o) => { spec(o).retention.maxFiles = 0; }, expect: ['spec.retention.maxFiles', 'should be greater than or equal to 1'] },
  { what: 'rotation fileSize 0', base: PC_NODE, create: (o) => { spec(o).rotation.fileSize = 0; }, expect: ['spec.rotation.fileSize', 'should be greater than or equal to 1'] },
  { what: 'node interface given as a path', base: PC_NODE, create: (o) => { spec(o).targets.nodes.interfaces = ['../eth0']; }, expect: ['spec.targets.nodes.interfaces[0]', 'should match'] },
  { what: 'maxPackets negative', base: PC, create: (o) => { spec(o).limits.maxPackets = -1; }, expect: ['spec.limits.maxPackets', 'should be greater than or equal to 1'] },
  // ---- PortMirror -----------------------------------------------------------------------
  { what: 'mirror filter with a NUL', base: PM, create: (o) => { spec(o).filter = 'tcp\u0000'; }, expect: ['spec.filter', 'must not contain a NUL character'] },
  { what: 'mirror destination interface given as a path', base: PM, create: (o) => { spec(o).destination = { interface: { name: '/dev/eth0' } }; }, expect: ['spec.destination.interface.name', 'should match'] },
  { what: 'remote port 0', base: PM_VXLAN, create: (o) => { spec(o).destination.remote.port = 0; }, expect: ['spec.destination.remote.port', 'should be greater than or equal to 1'] },
  { what: 'remote port above 65535', base: PM_VXLAN, create: (o) => { spec(o).destination.remote.port = 70000; }, expect: ['spec.destination.remote.port', 'should be less than or equal to 65535'] },
  // ---- IPAMonitor -----------------------------------------------------------------------
  { what: 'a 253-character monitor name', base: IPA, create: (o) => { o.metadata.name = LONG_NAME; }, expect: ['metadata.name: at most 230 characters'] },
  { what: 'IPA capture retention maxAge 0s', base: IPA, create: (o) => { spec(o).capture.retention.maxAge = '0s'; }, expect: ['spec.capture.retention.maxAge', 'must be at least 1s'] },
  { what: 'IPA capture rotation every 0s', base: IPA, create: (o) => { spec(o).capture.rotation = { fileDuration: '0s' }; }, expect: ['spec.capture.rotation.fileDuration', 'must be at least 1s'] },
  // ---- NodeTask (forged by hand: the schema still holds, whoever writes) -----------------
  { what: 'task pod UID that is not a UID', base: NT, create: (o) => { spec(o).packetCapture.pods[0].uid = '../../b1'; }, expect: ['spec.packetCapture.pods[0].uid', 'should match'] },
  { what: 'task node interface given as a path', base: NT, create: (o) => { spec(o).packetCapture.interfaces = ['../../eth0']; }, expect: ['spec.packetCapture.interfaces[0]', 'should match'] },
  { what: 'task parent name with a path', base: NT, create: (o) => { spec(o).parent.name = '../team-b'; }, expect: ['spec.parent.name', 'should match'] },
  { what: 'mirror task remote port above 65535', base: NT_PM, create: (o) => { spec(o).portMirror.destination = { remote: { address: '10.0.0.1', protocol: 'vxlan', vni: 1, port: 70000 } }; }, expect: ['spec.portMirror.destination.remote.port', 'should be less than or equal to 65535'] },
];

let kc: k8s.KubeConfig;
let ns: string;
let objects: Objects;

beforeAll(async () => {
  kc = adminConfig();
  await installCRDs(kc);
  ns = await createNamespace('crd-hostile', kc);
  objects = new Objects(kc, ns);
});

afterAll(async () => {
  await deleteCaptureNamespace(ns, kc);
});

describe('hostile objects the API server rejects, naming the field', () => {
  test.each(rejected.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const o = loadExample(c.base);
    o.metadata = { name: uniqueName(o.metadata.name.slice(0, 40)), ...(o.metadata.labels ? { labels: o.metadata.labels } : {}) };
    c.create(o);
    let message: string | undefined;
    try {
      await objects.create(o);
    } catch (err) {
      message = apiMessage(err);
    }
    if (message === undefined) throw new Error(`${c.what}: the server accepted ${JSON.stringify(o.spec)}`);
    for (const s of c.expect) expect(message).toContain(s);
  });
});

// ---- accepted by the schema, refused by the operator with a Stalled reason -------------------

interface Stalled { what: string; kind: 'PacketCapture' | 'PortMirror'; spec: () => Record<string, unknown>; reason: string; field: string; message?: RegExp }

const stalled: Stalled[] = [
  { what: 'a filter that compiles past the kernel\'s 4096 instructions', kind: 'PacketCapture', spec: () => ({ targets: { pods: { all: true } }, filter: overlongProgram(), limits: { duration: '1m' } }), reason: 'InvalidFilter', field: 'spec.filter', message: /compiles to \d+ BPF instructions; the kernel takes at most 4096/ },
  { what: 'a filter libpcap refuses', kind: 'PacketCapture', spec: () => ({ targets: { pods: { all: true } }, filter: 'udp port banana', limits: { duration: '1m' } }), reason: 'InvalidFilter', field: 'spec.filter' },
  { what: 'node interfaces from an untrusted namespace', kind: 'PacketCapture', spec: () => ({ targets: { nodes: { all: true, interfaces: ['eth0'] } }, limits: { duration: '1m' } }), reason: 'UntrustedNamespace', field: 'spec.targets.nodes' },
  { what: 'a hostNetwork pod (a node target) from an untrusted namespace', kind: 'PacketCapture', spec: () => ({ targets: { pods: { names: ['hostnet'] } }, limits: { duration: '1m' } }), reason: 'UntrustedNamespace', field: 'spec.targets.pods', message: /hostNetwork pods \(hostnet\)/ },
  { what: 'a mirror into the node uplink', kind: 'PortMirror', spec: () => ({ source: { pods: { all: true } }, destination: { interface: { name: 'eth0' } } }), reason: 'UntrustedNamespace', field: 'spec.destination.interface' },
  { what: 'a mirror into another namespace\'s pod veth', kind: 'PortMirror', spec: () => ({ source: { pods: { all: true } }, destination: { interface: { name: 'veth1a2b3c4d' } } }), reason: 'UntrustedNamespace', field: 'spec.destination.interface' },
  { what: 'a mirror to an address outside the cluster', kind: 'PortMirror', spec: () => ({ source: { pods: { all: true } }, destination: { remote: { address: '198.51.100.7', protocol: 'vxlan', vni: 7 } } }), reason: 'UntrustedNamespace', field: 'spec.destination.remote.address' },
  { what: 'a mirror of the node\'s interfaces', kind: 'PortMirror', spec: () => ({ source: { nodes: { all: true, interfaces: ['eth0'] } }, destination: { pod: { name: 'collector' } } }), reason: 'UntrustedNamespace', field: 'spec.source.nodes' },
  { what: 'a mirror whose filter libpcap refuses', kind: 'PortMirror', spec: () => ({ source: { pods: { all: true } }, filter: 'tcp port banana', destination: { pod: { name: 'collector' } } }), reason: 'InvalidFilter', field: 'spec.filter' },
];

describe('hostile objects the operator refuses: Stalled, with the field', () => {
  let admin: KubeClient;
  let tenantNs: string;

  beforeAll(async () => {
    admin = new KubeClient(adminConfig(), 'test-admin');
    tenantNs = await createNamespace('crd-hostile-tenant');
    // Only the operator's own namespace is trusted; agents are not needed to refuse.
    await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: 'ringtap-system', RINGTAP_AGENTS: '0' });
    await admin.create(PodType, {
      metadata: { name: 'hostnet', namespace: tenantNs },
      spec: { nodeName: 'hostile-node', hostNetwork: true, containers: [{ name: 'c', image: 'none' }] },
    } as unknown as KubeObject);
    await admin.mergePatch(PodType, tenantNs, 'hostnet', { status: { phase: 'Running', podIP: '10.0.0.9' } }, 'status');
  }, 120_000);

  afterAll(async () => {
    await cluster(['ringtap', 'stop']).catch(() => undefined);
    await deleteCaptureNamespace(tenantNs);
  }, 120_000);

  test('together with rejections.test.ts the set holds at least 100 hostile objects', async () => {
    const { readFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const other = readFileSync(fileURLToPath(new URL('./rejections.test.ts', import.meta.url)), 'utf8').match(/^\s+(\{ )?what: '/gm)?.length ?? 0;
    expect(other + rejected.length + stalled.length).toBeGreaterThanOrEqual(100);
  });

  test.each(stalled.map((c) => [c.what, c] as const))('%s', async (_what, c) => {
    const type = c.kind === 'PacketCapture' ? PacketCaptureType : PortMirrorType;
    const name = uniqueName('hostile');
    await admin.create(type, { metadata: { name, namespace: tenantNs }, spec: c.spec() } as unknown as KubeObject);
    type Status = { status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };
    const o = await waitFor(`${c.kind} ${name}: Stalled`, async () => {
      const x = await admin.get<KubeObject & Status>(type, tenantNs, name);
      return x.status?.conditions?.find((k) => k.type === 'Stalled' && k.status === 'True') ? x : undefined;
    }, 30_000, 200);
    const s = o.status!.conditions!.find((k) => k.type === 'Stalled')!;
    expect(s.reason).toBe(c.reason);
    expect(s.message!.startsWith(`${c.field}: `)).toBe(true);
    if (c.message) expect(s.message).toMatch(c.message);
    expect(o.status!.conditions!.find((k) => k.type === 'Ready')?.status).toBe('False');
    await admin.delete(type, tenantNs, name);
  }, 60_000);
});
