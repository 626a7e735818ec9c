// GitOps health on live objects: every kind in the phases it reaches on a running operator and
// agent, and the NodeTasks behind them, judged by two independent readers:
//   - the README's Argo CD health check (the Lua script, cut out of README.md) run by a real Lua
//     interpreter (lua5.4) with the object the API server returned as `obj`;
//   - kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, the library Flux and Argo CD's
//     gitops-engine use), built from hack/kstatus with go at the start of the test.
// One rule for all kinds: working or done is Healthy/Current, waiting for the world is
// Progressing/InProgress (Reconciling), only what a person must fix is Degraded/Failed
// (Stalled); a selector that matches nothing yet is not Ready: Progressing/InProgress.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IPAMonitorType, NodeTaskType, PacketCaptureType, PortMirrorType, PPPBridgeType } from '../../crds/src/index.js';
import type { KubeObject, ResourceType } from '../../lib/kube/kube.js';
import { KubeClient, isNotFound } from '../../lib/kube/kube.js';
import { addNode, addPod, cluster, delNode, delPod, repoRoot, runDir, type SimNode } from '../support/cluster.js';
import { adminConfig, createNamespace, deleteCaptureNamespace, uniqueName, waitFor } from '../support/kube.js';
import { ip } from '../support/netns.js';

const admin = new KubeClient(adminConfig(), 'test-admin');
const OPERATOR_NS = 'ringtap-system';

interface Condition { type: string; status: string; reason?: string }
type Live = KubeObject & { status?: { phase?: string; observedGeneration?: number; conditions?: Condition[] } };
type Argo = 'Healthy' | 'Progressing' | 'Degraded';
type Kstatus = 'Current' | 'InProgress' | 'Failed';
/** The three outcomes and what each reader must say. */
const VERDICT = {
  Ready: { argo: 'Healthy', kstatus: 'Current' },
  Reconciling: { argo: 'Progressing', kstatus: 'InProgress' },
  Stalled: { argo: 'Degraded', kstatus: 'Failed' },
  /** Observed, no condition True: nothing selected yet. kstatus reads Ready False as in progress. */
  Idle: { argo: 'Progressing', kstatus: 'InProgress' },
} as const satisfies Record<string, { argo: Argo; kstatus: Kstatus }>;
type Outcome = keyof typeof VERDICT;

let ns = '';
let node: SimNode;
let work = '';
let kstatusBin = '';
const luaScript = () => join(work, 'health.lua');
const created: { type: ResourceType; namespace?: string; name: string }[] = [];
const IPA = `rh${(process.pid % 100000).toString(36)}`; // veth in the node for the PPPoE end
const L2TP_IP = '10.98.0.1';

/** The Lua script of the README's Argo CD health check, dedented. */
function readmeHealthScript(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const m = /resource\.customizations\.health\.ringtap\.dev_\*: \|\n([\s\S]*?)\n\s*```/.exec(readme);
  if (!m) throw new Error('README.md: no resource.customizations.health.ringtap.dev_* block');
  const lines = m[1]!.split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** A JSON value as a Lua table constructor (JSON null is Lua nil, as in Argo CD's conversion). */
function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return JSON.stringify(v); // JSON's escapes are a subset of Lua 5.4's, \uXXXX included
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(',')}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${JSON.stringify(k)}]=${toLua(x)}`).join(',')}}`;
}

/** The README's health check on a live object: Argo CD's status and message. */
function argoHealth(o: Live): { status: string; message: string } {
  const driver = join(work, `${o.metadata.name}.lua`);
  writeFileSync(driver, [
    `obj = ${toLua(o)}`,
    `local hs = assert(loadfile(${JSON.stringify(luaScript())}))()`,
    'io.write(hs.status, "\\n", hs.message or "")',
  ].join('\n'));
  const [status, ...message] = execFileSync('lua5.4', [driver], { encoding: 'utf8' }).split('\n');
  return { status: status!, message: message.join('\n') };
}

/** kstatus's verdict on live objects, in order. */
function kstatus(objects: Live[]): { status: string; message: string }[] {
  const out = execFileSync(kstatusBin, { input: objects.map((o) => JSON.stringify(o)).join('\n'), encoding: 'utf8' });
  return out.trim().split('\n').map((l) => {
    const [, status, ...message] = l.split(' ');
    return { status: status!, message: message.join(' ') };
  });
}

const cond = (o: Live, type: string) => o.status?.conditions?.find((c) => c.type === type);
const on = (o: Live, type: string) => cond(o, type)?.status === 'True';
/** The outcome the object's own conditions state. */
function outcome(o: Live): Outcome | undefined {
  if (on(o, 'Stalled')) return 'Stalled';
  if (on(o, 'Reconciling')) return 'Reconciling';
  return on(o, 'Ready') ? 'Ready' : 'Idle';
}
const observed = (o: Live) => o.status?.observedGeneration !== undefined && o.status.observedGeneration === o.metadata.generation;

async function create(type: ResourceType, name: string, spec: Record<string, unknown>, namespaced: boolean): Promise<void> {
  const namespace = namespaced ? ns : undefined;
  created.push({ type, namespace, name });
  // A PPPBridge names its node; the node exists only once the test runs.
  const full = type === PPPBridgeType ? { nodeName: node.name, ...spec } : spec;
  await admin.create(type, { metadata: { name, ...(namespace ? { namespace } : {}) }, spec: full } as unknown as KubeObject);
}

/** Waits until the object has observed its generation and is in the phase with the outcome. */
async function settle(type: ResourceType, name: string, namespaced: boolean, phase: string, want: Outcome): Promise<Live> {
  let last: Live | undefined;
  return waitFor(`${type.kind} ${name}: phase ${phase}, ${want} and observedGeneration`, async () => {
    const o = (last = await admin.get<Live>(type, namespaced ? ns : undefined, name));
    return observed(o) && o.status?.phase === phase && outcome(o) === want ? o : undefined;
  }, 60_000, 200).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen: generation ${last?.metadata.generation}, status ${JSON.stringify(last?.status)}`, { cause: err });
  });
}

function expectVerdict(o: Live, want: Outcome): void {
  const label = `${o.kind}/${o.metadata.name} phase ${o.status?.phase}`;
  expect({ label, argo: argoHealth(o).status, kstatus: kstatus([o])[0]!.status })
    .toEqual({ label, argo: VERDICT[want].argo, kstatus: VERDICT[want].kstatus });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-health-'));
  writeFileSync(luaScript(), readmeHealthScript());
  // kstatus as Flux and Argo CD link it, at the version hack/kstatus/go.mod pins.
  kstatusBin = join(work, 'kstatus');
  execFileSync('go', ['build', '-trimpath', '-o', kstatusBin, '.'], {
    cwd: join(repoRoot, 'hack/kstatus'), stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly', GOPROXY: process.env.GOPROXY ?? 'https://proxy.golang.org' },
  });

  ns = await createNamespace('e2e-health');
  // A simulated IPA on the node (as test/e2e/ipamonitor.test.ts): the agent finds it and an
  // IPAMonitor runs; nothing is written to the stream.
  const ipa = join(runDir(), `ipa-health-${process.pid}`);
  mkdirSync(join(ipa, 'dev'), { recursive: true });
  mkdirSync(join(ipa, 'sys', '1e40000.ipa'), { recursive: true });
  writeFileSync(join(ipa, 'sys', '1e40000.ipa', 'version'), '4.9\n');
  execFileSync('mkfifo', [join(ipa, 'ipa-status.fifo')]);
  const nodeName = uniqueName('health');
  mkdirSync(join(runDir(), 'agent-env'), { recursive: true });
  writeFileSync(join(runDir(), 'agent-env', `${nodeName}.env`), [
    `RINGTAP_IPA_DEV_DIR=${join(ipa, 'dev')}`, `RINGTAP_IPA_SYSFS_DIR=${join(ipa, 'sys')}`,
    `RINGTAP_IPA_SOURCE=${join(ipa, 'ipa-status.fifo')}`, 'RINGTAP_IPA_FORMAT=status', '',
  ].join('\n'));
  node = await addNode(nodeName);
  await addPod(node.name, ns, 'web', { app: 'web' });
  await addPod(node.name, ns, 'collector', { app: 'collector' });
  // The PPPBridge's two ends in the node: an access link and an address for L2TP.
  ip('-n', node.netns, 'link', 'add', IPA, 'type', 'veth', 'peer', 'name', `${IPA}p`);
  ip('-n', node.netns, 'link', 'set', IPA, 'up');
  ip('-n', node.netns, 'link', 'set', `${IPA}p`, 'up');
  ip('-n', node.netns, 'addr', 'add', `${L2TP_IP}/30`, 'dev', `${IPA}p`); // a route to the LNS address
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_TRUSTED_NAMESPACES: `ringtap-system,${ns}` });
}, 300_000);

afterAll(async () => {
  for (const c of created.reverse()) {
    await admin.delete(c.type, c.namespace, c.name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  }
  for (const c of created) {
    await waitFor(`${c.type.kind} ${c.name} to be gone`, async () => admin.get(c.type, c.namespace, c.name).then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 60_000, 200).catch(() => undefined);
  }
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  if (ns) {
    await delPod(ns, 'web').catch(() => undefined);
    await delPod(ns, 'collector').catch(() => undefined);
  }
  if (node) await delNode(node.name).catch(() => undefined);
  rmSync(join(runDir(), 'agent-env', `${node?.name}.env`), { force: true });
  rmSync(join(runDir(), `ipa-health-${process.pid}`), { recursive: true, force: true });
  if (ns) await deleteCaptureNamespace(ns);
  if (work) rmSync(work, { recursive: true, force: true });
}, 300_000);

const ppp = { pppoe: { interface: IPA, sessionId: 9, peerMAC: '02:00:00:00:00:09' } };
const l2tp = { l2tp: { localAddress: L2TP_IP, peerAddress: '10.98.0.2', localPort: 1709, peerPort: 1709, tunnelId: 1, sessionId: 2, peerTunnelId: 3, peerSessionId: 4 } };

// kind, name, namespaced, spec, the phase it settles in, its outcome
const CASES: [ResourceType, string, boolean, Record<string, unknown>, string, Outcome][] = [
  [PacketCaptureType, 'pc-running', true, { targets: { pods: { names: ['web'] } }, limits: { maxPackets: 1_000_000 } }, 'Running', 'Ready'],
  [PacketCaptureType, 'pc-completed', true, { targets: { pods: { names: ['web'] } }, limits: { duration: '1s' } }, 'Completed', 'Ready'],
  [PacketCaptureType, 'pc-no-targets', true, { targets: { pods: { names: ['nobody'] } }, limits: { maxPackets: 10 } }, 'Pending', 'Idle'],
  [PacketCaptureType, 'pc-bad-filter', true, { targets: { pods: { names: ['web'] } }, filter: 'tcp port ((', limits: { maxPackets: 10 } }, 'Failed', 'Stalled'],
  [PortMirrorType, 'pm-running', true, { source: { pods: { names: ['web'] } }, destination: { pod: { name: 'collector' } } }, 'Running', 'Ready'],
  [PortMirrorType, 'pm-no-sources', true, { source: { pods: { names: ['nobody'] } }, destination: { pod: { name: 'collector' } } }, 'Pending', 'Idle'],
  [PortMirrorType, 'pm-no-collector', true, { source: { pods: { names: ['web'] } }, destination: { pod: { name: 'nobody' } } }, 'Pending', 'Reconciling'],
  [PortMirrorType, 'pm-bad-filter', true, { source: { pods: { names: ['web'] } }, filter: 'udp port ((', destination: { pod: { name: 'collector' } } }, 'Failed', 'Stalled'],
  [PPPBridgeType, 'pb-bridged', false, { mode: 'userspace', a: ppp, b: l2tp }, 'Bridged', 'Ready'],
  [PPPBridgeType, 'pb-no-node', false, { nodeName: 'no-such-node', a: ppp, b: l2tp }, 'Pending', 'Reconciling'],
  [PPPBridgeType, 'pb-no-interface', false, { mode: 'userspace', a: { pppoe: { ...ppp.pppoe, interface: 'nosuchif0' } }, b: { l2tp: { ...l2tp.l2tp, localPort: 1710 } } }, 'Pending', 'Reconciling'],
  [PPPBridgeType, 'pb-kernel', false, { mode: 'kernel', a: ppp, b: { l2tp: { ...l2tp.l2tp, localPort: 1711 } } }, 'Failed', 'Stalled'],
  [IPAMonitorType, 'ipa-running', false, { metricsInterval: '1s' }, 'Running', 'Ready'],
  [IPAMonitorType, 'ipa-no-nodes', false, { nodeSelector: { matchLabels: { 'ringtap.dev/test-none': 'true' } } }, 'Pending', 'Idle'],
];
/** Cluster-scoped names are unique per run. */
const names = new Map(CASES.map(([, n, namespaced]) => [n, namespaced ? n : uniqueName(n)]));
const settled: Live[] = [];

describe('the README health check and kstatus agree with each kind\'s conditions', () => {
  test.each(CASES.map((c) => [`${c[0].kind} ${c[1]}: ${c[4]} is ${VERDICT[c[5]].argo}/${VERDICT[c[5]].kstatus}`, ...c] as const))('%s', async (_t, type, n, namespaced, spec, phase, want) => {
    const name = names.get(n)!;
    await create(type, name, spec, namespaced);
    const o = await settle(type, name, namespaced, phase, want);
    expectVerdict(o, want);
    settled.push(o);
  }, 90_000);

  test('every NodeTask behind them has observed its generation; Running and Completed are Current, Failed is Failed, Pending is InProgress', async () => {
    const parents = new Set(settled.map((o) => o.metadata.name));
    // Every kind's NodeTasks live in the operator's namespace.
    const tasks = async () => (await admin.list<Live>(NodeTaskType, OPERATOR_NS)).items
      .filter((t) => parents.has(t.metadata.labels?.['ringtap.dev/parent-name'] ?? ''));
    // Each running parent has a task on the node; wait until the agent has written each one's status.
    let last: Live[] = [];
    const all = await waitFor('the NodeTasks to be observed', async () => {
      const t = (last = await tasks());
      return t.length >= 4 && t.every(observed) ? t : undefined;
    }, 60_000, 200).catch((err: unknown) => {
      const seen = last.map((t) => ({ name: t.metadata.name, generation: t.metadata.generation, status: t.status }));
      throw new Error(`${String(err)}; last seen: ${JSON.stringify(seen)}`, { cause: err });
    });
    const byPhase = new Map<string, Kstatus>([['Running', 'Current'], ['Completed', 'Current'], ['Stopped', 'Current'], ['Failed', 'Failed'], ['Pending', 'InProgress']]);
    const got = kstatus(all);
    const phases = new Set<string>();
    all.forEach((t, i) => {
      const phase = t.status!.phase!;
      phases.add(phase);
      const want = byPhase.get(phase);
      const argo = ({ Current: 'Healthy', InProgress: 'Progressing', Failed: 'Degraded' } as const)[want!];
      expect({ task: t.metadata.name, phase, kstatus: got[i]!.status, argo: argoHealth(t).status }).toEqual({ task: t.metadata.name, phase, kstatus: want, argo });
    });
    // A completed capture's task stays behind with its status: a finished task is judged too.
    expect([...phases].filter((p) => p === 'Running' || p === 'Completed').sort()).toEqual(['Completed', 'Running']);
  }, 90_000);
});
