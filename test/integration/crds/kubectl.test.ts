// What users see through kubectl: `kubectl explain` teaches the API from the schema
// descriptions, `kubectl get ringtap -A` lists every kind with its printer columns, and
// agents can list only their node's NodeTasks with a field selector on spec.node.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GROUP, PLURALS, VERSION } from '../../../crds/src/index.js';
import { installCRDs } from '../../support/crds.js';
import { adminConfig, createNamespace, deleteNamespace, uniqueName } from '../../support/kube.js';
import { loadExample, Objects, type Obj } from './objects.js';

const execFileP = promisify(execFile);

/** The kubectl built by hack/cluster build (newest cached Kubernetes build). */
function kubectlPath(): string {
  const bin = join(process.env.RINGTAP_CACHE ?? join(homedir(), '.cache/ringtap'), 'bin');
  const dirs = existsSync(bin) ? readdirSync(bin).filter((d) => d.startsWith('k8s-') && existsSync(join(bin, d, 'kubectl'))) : [];
  const want = process.env.RINGTAP_K8S_VERSION;
  const dir = (want ? dirs.find((d) => d.startsWith(`k8s-${want}-`)) : undefined) ?? dirs.sort().at(-1);
  if (!dir) throw new Error(`no kubectl under ${bin}: run hack/cluster build`);
  return join(bin, dir, 'kubectl');
}

let kc: k8s.KubeConfig;
let ns: string;
let objects: Objects;
let cacheDir: string;
const names = new Map<string, string>();
const clusterScoped: Obj[] = [];

async function kubectl(...args: string[]): Promise<string> {
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error('KUBECONFIG is not set');
  const { stdout } = await execFileP(kubectlPath(), ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { maxBuffer: 8 << 20 });
  return stdout;
}

/** Creates a copy of an example under a unique name, with a status so printer columns have values. */
async function createWithStatus(file: string, status: Record<string, unknown>): Promise<Obj> {
  const o = loadExample(file);
  o.metadata = { name: uniqueName(o.metadata.name) };
  const created = await objects.create(o);
  if (o.kind === 'PPPBridge' || o.kind === 'IPAMonitor') clusterScoped.push(created);
  names.set(file, created.metadata.name);
  return objects.replaceStatus({ ...created, status });
}

const ready = (reason: string) => [{ type: 'Ready', status: 'True', reason, message: 'ok', lastTransitionTime: '2026-11-23T12:00:00Z' }];

beforeAll(async () => {
  kc = adminConfig();
  await installCRDs(kc);
  cacheDir = mkdtempSync(join(tmpdir(), 'ringtap-kubectl-cache-'));
  ns = await createNamespace('crd-kubectl', kc);
  objects = new Objects(kc, ns);
  await createWithStatus('packetcapture-dns-debug.yaml', {
    observedGeneration: 1,
    phase: 'Running',
    conditions: ready('Capturing'),
    totals: { nodes: 3, pods: 4, packets: 123456, bytes: 9999999, drops: 17, files: 3 },
  });
  await createWithStatus('portmirror-web-to-ids.yaml', {
    phase: 'Running',
    conditions: ready('Mirroring'),
    totals: { nodes: 2, sources: 5, packets: 777001, drops: 0 },
  });
  await createWithStatus('pppbridge-pppoe-to-l2tp.yaml', {
    phase: 'Bridged',
    conditions: ready('Bridged'),
    dataPath: 'kernel',
    aToB: { packets: 4242 },
    bToA: { packets: 4343 },
  });
  await createWithStatus('ipamonitor-with-capture.yaml', {
    phase: 'Running',
    conditions: ready('Monitoring'),
    totals: { nodes: 1, records: 880088, exceptions: 12, drops: 0 },
  });
  await createWithStatus('nodetask-packetcapture.yaml', { phase: 'Running', counters: { packets: 5150, drops: 2 } });
  await createWithStatus('nodetask-pppbridge.yaml', { phase: 'Running' });
}, 60_000); // CRDs become established in seconds, slower on a loaded machine

afterAll(async () => {
  for (const o of clusterScoped) await objects.delete(o.kind, o.metadata.name);
  await deleteNamespace(ns, kc);
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('kubectl explain', () => {
  test('packetcapture.spec.limits prints the field descriptions', async () => {
    const out = await kubectl('explain', 'packetcapture.spec.limits');
    expect(out).toContain(`GROUP:      ${GROUP}`);
    expect(out).toContain('FIELD: limits <Object>');
    expect(out).toContain('When the capture stops by itself');
    expect(out).toContain('duration\t<string>');
    expect(out).toContain('Go duration');
    expect(out).toContain('maxPackets\t<integer>');
    // kubectl wraps descriptions at its own width: compare with whitespace collapsed.
    const text = out.replace(/\s+/g, ' ');
    expect(text).toContain('Limits apply per node');
    expect(text).toContain('counted after the filter (per node, not summed over nodes)');
    expect(out).toContain('maxBytes');
    expect(text).toContain('quantity such as 512Ki');
  });

  test('pppbridge.spec.a.l2tp says which version and id ranges are allowed', async () => {
    const out = await kubectl('explain', 'pppbridge.spec.a.l2tp');
    expect(out).toContain('Only 2 is supported');
    expect(out).toContain('1 to 65535');
  });

  test('nodetask.spec.node explains the field selector', async () => {
    const out = await kubectl('explain', 'nodetask.spec.node');
    expect(out).toContain('fieldSelector spec.node=NODE');
  });
});

describe('kubectl get ringtap -A', () => {
  test('lists every kind with its printer columns', async () => {
    const out = await kubectl('get', 'ringtap', '-A');
    for (const n of names.values()) expect(out).toContain(n);
    // PacketCapture: phase, ready, nodes, packets, drops
    expect(out).toMatch(/NAMESPACE\s+NAME\s+PHASE\s+READY\s+NODES\s+PACKETS\s+DROPS\s+AGE/);
    expect(out).toMatch(new RegExp(`packetcapture\\.${GROUP.replace('.', '\\.')}/\\S+\\s+Running\\s+True\\s+3\\s+123456\\s+17`));
    // PortMirror
    expect(out).toMatch(/NAME\s+PHASE\s+READY\s+NODES\s+SOURCES\s+PACKETS\s+DROPS\s+AGE/);
    expect(out).toMatch(/portmirror\.ringtap\.dev\/\S+\s+Running\s+True\s+2\s+5\s+777001\s+0/);
    // PPPBridge (cluster-scoped)
    expect(out).toMatch(/NAME\s+NODE\s+PHASE\s+READY\s+DATA PATH\s+A TO B\s+B TO A\s+AGE/);
    expect(out).toMatch(/pppbridge\.ringtap\.dev\/\S+\s+bng-1\s+Bridged\s+True\s+kernel\s+4242\s+4343/);
    // IPAMonitor (cluster-scoped)
    expect(out).toMatch(/NAME\s+PHASE\s+READY\s+NODES\s+RECORDS\s+EXCEPTIONS\s+DROPS\s+AGE/);
    expect(out).toMatch(/ipamonitor\.ringtap\.dev\/\S+\s+Running\s+True\s+1\s+880088\s+12\s+0/);
    // NodeTask
    expect(out).toMatch(/NAME\s+NODE\s+PARENT\s+PARENT NAME\s+PHASE\s+READY\s+PACKETS\s+DROPS\s+AGE/);
    expect(out).toMatch(/nodetask\.ringtap\.dev\/\S+\s+worker-1\s+PacketCapture\s+dns-debug\s+Running\s+5150\s+2/);
  });

  test('short names work', async () => {
    for (const short of ['pcap', 'pmir', 'pppb', 'ipam', 'nt']) {
      const out = await kubectl('get', short, '-A', '-o', 'name');
      expect(out.trim().length).toBeGreaterThan(0);
    }
  });
});

describe('NodeTask field selector', () => {
  test('an agent lists only its own node tasks with fieldSelector spec.node', async () => {
    const api = kc.makeApiClient(k8s.CustomObjectsApi);
    const list = (await api.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURALS.NodeTask,
      fieldSelector: 'spec.node=bng-1',
    })) as { items: Obj[] };
    expect(list.items.map((i) => i.metadata.name)).toEqual([names.get('nodetask-pppbridge.yaml')]);
  });
});
