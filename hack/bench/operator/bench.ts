// Operator benchmark (not a test). Every figure is anchored in the same run:
//   world      NODES simulated Node objects and PODS Pod objects (no netns), the operator's RSS idle
//   ceiling    the API server's own create rate for custom objects of the PacketCapture schema
//              and size (a copy of the CRD in another group, which nothing watches), with the
//              same client concurrency as the burst, through the same admission as a user's
//              PacketCapture (the parents' finalizer policy, bound to that group too)
//   burst      CAPTURES PacketCaptures over BURST_NODES nodes: drain rate (captures per second
//              from the first create to the last NodeTask) as a ratio of the ceiling; latency
//              apply -> NodeTask p50/p99; writes per capture counted by the API server itself
//              (apiserver_request_total), next to the operator's own counters; RSS after
//   rest       REST_SECONDS after everything settled: reconciles and writes (0 expected; the
//              leader Lease renewal is the one periodic write, listed apart)
//   steady     STEADY_RATE captures/s for STEADY_SECONDS, open loop: latency p50/p99
//   agent      one real node (netns) and its agent with AGENT_TASKS NodeTasks (captures of its
//              lo): the agent's status writes per second, idle and with traffic, its RSS, and of
//              that its packet rings (sized from the node's ring budget, RINGTAP_RING_BUDGET in
//              this process's environment reaches the agent; default 256Mi)
//
//   bash hack/bench/operator/run.sh            (builds, brings up its own cluster, runs this)
// Environment (defaults in brackets): CAPTURES [1000] BURST_NODES [50] NODES [500] PODS [10000]
// CONCURRENCY [8] STEADY_RATE [50] STEADY_SECONDS [60] REST_SECONDS [60] AGENT_TASKS [200]
// AGENT_SECONDS [20]; AGENT_TASKS=0 skips the agent phase, AGENT_ONLY=1 runs it alone (no world,
// burst, rest or steady phase): AGENT_ONLY=1 bash hack/bench/operator/run.sh
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetch } from 'undici';
import { parse } from 'yaml';
import { Informer } from '../../../lib/kube/informer.js';
import { EventType, KubeClient, NamespaceType, NodeType, PodType, type KubeObject, type ResourceType } from '../../../lib/kube/kube.js';
import { newLogger } from '../../../lib/observe/log.js';
import { AGENT_CERT_ANNOTATION, FINALIZER, NodeTaskType, PacketCaptureType } from '../../../crds/src/index.js';
import type { NodeTask } from '../../../lib/kube/objects.js';
import { finalizerPolicyObjects } from '../../../operator/src/rbac.js';

const env = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};
const CAPTURES = env('CAPTURES', 1000);
const BURST_NODES = env('BURST_NODES', 50);
const NODES = Math.max(env('NODES', 500), BURST_NODES);
const PODS = env('PODS', 10_000);
const CONCURRENCY = Math.max(1, env('CONCURRENCY', 8));
const STEADY_RATE = env('STEADY_RATE', 50);
const STEADY_SECONDS = env('STEADY_SECONDS', 60);
const REST_SECONDS = env('REST_SECONDS', 60);
const AGENT_TASKS = env('AGENT_TASKS', 200);
const AGENT_SECONDS = env('AGENT_SECONDS', 20);
const AGENT_ONLY = env('AGENT_ONLY', 0) === 1;
/** The agent's memory target with AGENT_TASKS small captures (issue 21). */
const AGENT_RSS_TARGET_MIB = 150;
/** The agent phase stops adding tasks past this RSS: the machine is shared. */
const AGENT_RSS_LIMIT_MIB = env('AGENT_RSS_LIMIT_MIB', 1024);
const AGENT_BATCH = 10;
/** Quiet for this long (no write counted by the API server, no reconcile): settled. */
const SETTLE_QUIET_MS = 5_000;
const SETTLE_MAX_MS = 180_000;
const DRAIN_DEADLINE_MS = 600_000;
const CEILING_WARMUP = 100;
const COST_SAMPLES = 200;
/** Setting up the world is not measured: more clients than the measured phases use. */
const WORLD_CONCURRENCY = 32;
/** Pods per NodeTask in the burst: PODS over NODES, as the world spreads them. */
const PODS_PER_TASK = Math.max(1, Math.round(PODS / NODES));

const run = process.env.RINGTAP_RUN_DIR ?? '';
if (!run) throw new Error('RINGTAP_RUN_DIR is not set (hack/bench/operator/run.sh sets it)');
const repo = join(import.meta.dirname, '../../../..');
const kc = new KubeConfig();
kc.loadFromFile(join(run, 'admin.kubeconfig'));
const client = new KubeClient(kc, 'bench');
const ns = 'bench';
const trustedNs = 'ringtap-system';
const log = newLogger('bench');
log.level = 'warn';

const CRDType: ResourceType = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false };
const CeilingType: ResourceType = { ...PacketCaptureType, group: 'bench.ringtap.dev' };
const NODE_GROUP = 'bench.ringtap.dev/node-group';
const MAPType: ResourceType = { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingadmissionpolicies', kind: 'MutatingAdmissionPolicy', namespaced: false };
const MAPBindingType: ResourceType = { ...MAPType, plural: 'mutatingadmissionpolicybindings', kind: 'MutatingAdmissionPolicyBinding' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const out = (label: string, value: string) => console.log(`${label.padEnd(44)} ${value}`);

/** Runs fn over 0..n-1 with `workers` concurrent callers, as a GitOps sync applies. */
async function pool(n: number, workers: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(workers, n) }, async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  }));
}

/** GET of a non-JSON path (the API server's /metrics) with the admin credentials, on one connection pool. */
let metricsCtx: RequestContext | undefined;
let metricsDispatcher: unknown;
async function rawGet(path: string): Promise<string> {
  const server = kc.getCurrentCluster()!.server;
  if (!metricsCtx) {
    metricsCtx = new RequestContext(server, HttpMethod.GET);
    await kc.applySecurityAuthentication(metricsCtx);
    metricsDispatcher = metricsCtx.getDispatcher();
  }
  const res = await fetch(server + path, { headers: metricsCtx.getHeaders(), dispatcher: metricsDispatcher as never });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return res.text();
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);
type Writes = Map<string, number>;

/** Mutating requests the API server has served, by "VERB resource[/subresource]" (apiserver_request_total). */
async function apiserverWrites(): Promise<Writes> {
  return (await apiserverStats()).count;
}

/** Mutating requests (count) and the seconds the API server spent serving them, by "VERB resource[/subresource]". */
async function apiserverStats(): Promise<{ count: Writes; seconds: Writes }> {
  const text = await rawGet('/metrics');
  const count: Writes = new Map(), seconds: Writes = new Map();
  for (const m of text.matchAll(/^(apiserver_request_total|apiserver_request_duration_seconds_sum)\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (!WRITE_VERBS.has(labels.verb!)) continue;
    const k = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    const w = m[1] === 'apiserver_request_total' ? count : seconds;
    w.set(k, (w.get(k) ?? 0) + Number(m[3]));
  }
  return { count, seconds };
}
const diff = (a: Writes, b: Writes): Writes => {
  const d: Writes = new Map();
  for (const [k, v] of b) if (v - (a.get(k) ?? 0) > 0) d.set(k, v - (a.get(k) ?? 0));
  return d;
};
const total = (w: Writes, f: (k: string) => boolean = () => true) => [...w].filter(([k]) => f(k)).reduce((s, [, v]) => s + v, 0);

// ---------------------------------------------------------------- the processes measured

const pidOf = (name: string): number => Number(readFileSync(join(run, 'pids', `${name}.pid`), 'utf8'));
function memKiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) };
}
/** RSS of a process's packet rings (TPACKET mappings show as socket:[inode] in smaps), in KiB. */
function ringKiB(pid: number): number {
  let kib = 0, ring = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) ring = / socket:\[\d+\]$/.test(line);
    else if (ring && line.startsWith('Rss:')) kib += Number(/(\d+)/.exec(line)![1]);
  }
  return kib;
}
const operatorPid = pidOf('operator-0');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** CPU seconds a process has used (utime + stime, fields 14 and 15 of its stat). */
function processCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}
/** CPU seconds the control plane (kube-apiserver and etcd) has used: its cost, whatever else loads the machine. */
function controlPlaneCpu(): number {
  return processCpu(pidOf('kube-apiserver')) + processCpu(pidOf('etcd'));
}
const operatorMetricsAddr = /--metrics-bind-address\0([^\0]+)/.exec(readFileSync(`/proc/${operatorPid}/cmdline`, 'utf8'))?.[1];
if (!operatorMetricsAddr) throw new Error('the operator was started without --metrics-bind-address');

/** Sums of the operator's own counters (ringtap_*_total), by metric name. */
async function operatorCounters(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${operatorMetricsAddr}/metrics`)).text();
  const c = new Map<string, number>();
  for (const m of text.matchAll(/^(ringtap_\w+_total)(?:\{[^}]*\})? (\S+)$/gm)) c.set(m[1]!, (c.get(m[1]!) ?? 0) + Number(m[2]));
  return c;
}
/** The operator's V8 heap (used/committed) and memory outside it, from its own metrics, for the RSS lines. */
async function operatorHeap(): Promise<string> {
  const text = await (await fetch(`http://${operatorMetricsAddr}/metrics`)).text();
  const g = (name: string) => Number(new RegExp(`^\\w*${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
  return `V8 heap ${g('nodejs_heap_size_used_bytes').toFixed(0)}/${g('nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${g('nodejs_external_memory_bytes').toFixed(0)} MiB`;
}
/** The agent's V8 heap (used/committed) and external memory, from its metrics inside the node's netns. */
async function agentHeap(netns: string): Promise<string> {
  let text = '';
  try {
    text = execFileSync('ip', ['netns', 'exec', netns, 'curl', '-sf', '--max-time', '5', 'http://127.0.0.1:9090/metrics'], { encoding: 'utf8' });
  } catch {
    return 'n/a';
  }
  const g = (name: string) => Number(new RegExp(`^\\w*${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
  return `${g('nodejs_heap_size_used_bytes').toFixed(0)}/${g('nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${g('nodejs_external_memory_bytes').toFixed(0)} MiB`;
}
const counterDelta = (a: Map<string, number>, b: Map<string, number>, name: string) => (b.get(name) ?? 0) - (a.get(name) ?? 0);

/** Waits until neither the API server counts a write nor the operator a reconcile for SETTLE_QUIET_MS. */
async function settle(): Promise<number> {
  const start = Date.now();
  let last = '', quietSince = Date.now();
  while (Date.now() - start < SETTLE_MAX_MS) {
    const sig = `${total(await apiserverWrites(), (k) => !k.endsWith(' leases'))}/${(await operatorCounters()).get('ringtap_reconcile_total') ?? 0}`;
    if (sig !== last) { last = sig; quietSince = Date.now(); }
    if (Date.now() - quietSince >= SETTLE_QUIET_MS) return Date.now() - start;
    await sleep(1000);
  }
  return Date.now() - start;
}

// ---------------------------------------------------------------- phases

function captureBody(name: string, i: number, namespace = ns): KubeObject {
  return {
    metadata: { name, namespace },
    spec: { targets: { pods: { selector: { matchLabels: { [NODE_GROUP]: `n${i % BURST_NODES}` } } } }, limits: { maxPackets: 1000 } },
  } as KubeObject;
}

async function world(): Promise<void> {
  await client.create(NamespaceType, { metadata: { name: ns } }).catch(() => undefined);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  await pool(NODES, WORLD_CONCURRENCY, async (i) => {
    const name = `bench-node-${i}`;
    await client.create(NodeType, { metadata: { name, labels: { 'kubernetes.io/hostname': name, [NODE_GROUP]: `n${i}` } } }).catch(() => undefined);
    await client.mergePatch(NodeType, undefined, name, {
      status: { addresses: [{ type: 'InternalIP', address: `100.127.${i >> 8}.${i & 255}` }], conditions: [{ type: 'Ready', status: 'True', reason: 'Bench', message: '', lastHeartbeatTime: now, lastTransitionTime: now }] },
    }, 'status');
  });
  // The namespace's default ServiceAccount must exist before a pod may be created.
  for (const deadline = Date.now() + 60_000; ;) {
    const ok = await client.get({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true }, ns, 'default').then(() => true, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`namespace ${ns} has no default ServiceAccount after 60 s`);
    await sleep(200);
  }
  // Pods as a kubelet would leave them: labelled, scheduled, Running, with an IP, and the
  // managedFields and status of a real pod (the operator's cache is meant to drop them).
  await pool(PODS, WORLD_CONCURRENCY, async (i) => {
    const node = i % NODES, name = `bench-pod-${i}`, ip = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    await client.create(PodType, {
      metadata: { name, namespace: ns, labels: { [NODE_GROUP]: `n${node}`, app: `web-${i % 7}`, 'pod-template-hash': '5d8f7c9b6f' } },
      spec: { nodeName: `bench-node-${node}`, automountServiceAccountToken: false, containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10', ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
    } as KubeObject).catch(() => undefined);
    await client.mergePatch(PodType, ns, name, {
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `100.127.${node >> 8}.${node & 255}`, startTime: now,
        conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
        containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'registry.k8s.io/pause:3.10', imageID: 'registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a', containerID: `containerd://${i.toString(16).padStart(64, '0')}`, started: true, state: { running: { startedAt: now } } }],
      },
    }, 'status');
  });
}

/** Creates the ceiling's CRD: PacketCapture's, in a group nothing watches. */
async function ceilingCrd(): Promise<void> {
  const crd = parse(readFileSync(join(repo, 'crds/ringtap.dev_packetcaptures.yaml'), 'utf8')) as { metadata: { name: string }; spec: { group: string; names: Record<string, unknown> } };
  crd.metadata.name = `packetcaptures.${CeilingType.group}`;
  crd.spec.group = CeilingType.group;
  delete crd.spec.names.shortNames;
  delete crd.spec.names.categories;
  await client.apply(CRDType, crd as unknown as KubeObject);
  // Established, and served (discovery catches up a moment later).
  for (const deadline = Date.now() + 60_000; ;) {
    const served = await client.list(CeilingType, ns, { limit: 1 }).then(() => true, () => false);
    if (served) break;
    if (Date.now() > deadline) throw new Error(`${crd.metadata.name} is not served after 60 s`);
    await sleep(200);
  }
  // Warm up: the first creates of a new kind pay for its schema and storage set-up.
  await pool(CEILING_WARMUP, CONCURRENCY, async (i) => { await client.create(CeilingType, captureBody(`warmup-${i}`, i)); });
}

/**
 * The parents' finalizer policy (operator/src/rbac.ts), bound to the ceiling's group as well:
 * a user's PacketCapture create pays for it, so the ceiling's creates do too. Waits until it
 * acts (a policy takes effect a moment after it is created).
 */
async function ceilingPolicy(): Promise<void> {
  const [policy, binding] = finalizerPolicyObjects('bench-ceiling', CeilingType.group) as KubeObject[];
  await client.apply(MAPType, policy!);
  await client.apply(MAPBindingType, binding!);
  for (let i = 0, deadline = Date.now() + 60_000; ; i++) {
    // Until the API server's type converter has the new kind (it polls its OpenAPI document),
    // the policy makes every create fail with 503 "Resource kind ... not found": wait it out.
    const o = await client.create(CeilingType, captureBody(`policy-${i}`, i)).catch((err: unknown) => {
      if ((err as { code?: number }).code === 503 && Date.now() < deadline) return undefined;
      throw err;
    });
    if (o?.metadata.finalizers?.includes(FINALIZER)) break;
    if (Date.now() > deadline) throw new Error('the finalizer policy did not act on the ceiling\'s kind in 60 s');
    await sleep(200);
  }
}

/** The ceiling: creates/s of CAPTURES custom objects of PacketCapture's schema and size, nothing watching them. */
async function ceiling(round: string): Promise<{ rate: number; serverMs: number; cpuMs: number }> {
  const s0 = await apiserverStats();
  const cpu0 = controlPlaneCpu();
  const t0 = Date.now();
  await pool(CAPTURES, CONCURRENCY, async (i) => { await client.create(CeilingType, captureBody(`ceiling-${round}-${i}`, i)); });
  const rate = CAPTURES / ((Date.now() - t0) / 1000);
  const cpuMs = (1000 * (controlPlaneCpu() - cpu0)) / CAPTURES;
  const s1 = await apiserverStats();
  return { rate, serverMs: (1000 * total(diff(s0.seconds, s1.seconds), (k) => k === 'POST packetcaptures')) / CAPTURES, cpuMs };
}

/**
 * What each kind of write a capture needs costs the control plane, in CPU ms per request, with
 * nothing reconciling: the ceiling's own kind for the capture writes (create, finalizer patch,
 * status apply), NodeTasks without the label the operator watches, and Events.
 */
async function writeCosts(): Promise<void> {
  const n = COST_SAMPLES;
  const cost = async (fn: (i: number) => Promise<unknown>) => {
    const c0 = controlPlaneCpu();
    await pool(n, CONCURRENCY, async (i) => { await fn(i); });
    return (1000 * (controlPlaneCpu() - c0)) / n;
  };
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    observedGeneration: 1, phase: 'Pending',
    conditions: ['Ready', 'Reconciling', 'Stalled'].map((type) => ({ type, status: type === 'Reconciling' ? 'True' : 'False', reason: 'NodesStarting', message: 'waiting for the agents on bench-node-0', observedGeneration: 1, lastTransitionTime: now })),
    nodes: [{ node: 'bench-node-0', phase: 'Pending', pods: PODS_PER_TASK, packets: 0, bytes: 0, drops: 0, files: 0 }],
  };
  const task = (i: number) => ({
    metadata: { name: `cost-${i}`, namespace: ns },
    spec: {
      node: 'bench-node-0', parent: { kind: 'PacketCapture', name: `cost-${i}`, namespace: ns, uid: '00000000-0000-4000-8000-000000000000', generation: 1 },
      packetCapture: {
        pods: Array.from({ length: PODS_PER_TASK }, (_, j) => ({ name: `bench-pod-${j}`, namespace: ns, uid: `00000000-0000-4000-8000-${String(j).padStart(12, '0')}`, ips: [`10.200.0.${j}`] })),
        interfaces: [], capturePoint: 'pod', filter: '', snapLength: 262144, limits: { maxPackets: 1000 }, output: { format: 'pcapng' }, timestamps: 'software',
      },
    },
  }) as KubeObject;
  const bare = await cost((i) => client.create(CeilingType, captureBody(`bare-${i}`, i)));
  // A finalizer patch as the operator makes it where no policy set the finalizer.
  const finalizer = await cost((i) => client.mergePatch(CeilingType, ns, `bare-${i}`, { metadata: { finalizers: [FINALIZER] } }));
  await ceilingPolicy();
  const create = await cost((i) => client.create(CeilingType, captureBody(`cost-${i}`, i)));
  const st = await cost((i) => client.apply(CeilingType, { metadata: { name: `cost-${i}`, namespace: ns }, status } as KubeObject, { subresource: 'status' }));
  const stPatch = await cost((i) => client.mergePatch(CeilingType, ns, `bare-${i}`, { status }, 'status'));
  const nt = await cost((i) => client.apply(NodeTaskType, task(i)));
  const noop = await cost((i) => client.apply(NodeTaskType, task(i)));
  const ntCreate = await cost((i) => client.create(NodeTaskType, { ...task(i), metadata: { name: `cost-create-${i}`, namespace: ns } } as KubeObject));
  const ev = await cost((i) => client.create(EventType, {
    metadata: { name: `cost-${i}.${i}`, namespace: ns }, eventTime: new Date().toISOString().replace('Z', '000Z'), reportingController: 'bench', reportingInstance: 'bench',
    action: 'Pending', reason: 'Pending', type: 'Normal', note: 'Pending', regarding: { apiVersion: `${CeilingType.group}/${CeilingType.version}`, kind: CeilingType.kind, name: `cost-${i}`, namespace: ns },
  } as KubeObject));
  out('control plane CPU ms per write, nothing watching', `create ${create.toFixed(1)} (without the finalizer policy ${bare.toFixed(1)}), finalizer patch ${finalizer.toFixed(1)}, status apply ${st.toFixed(1)} (merge patch ${stPatch.toFixed(1)}), NodeTask create ${ntCreate.toFixed(1)} (apply ${nt.toFixed(1)}; the same again, unchanged: ${noop.toFixed(1)}), event ${ev.toFixed(1)}`);
  out('  a capture\'s writes (NodeTask create, status)', `${((ntCreate + st) / create).toFixed(1)} creates: a CPU-bound server drains at most ${(create / (create + ntCreate + st)).toFixed(2)} of its create rate (with a finalizer patch and a NodeTask apply: ${(create / (bare + finalizer + nt + st)).toFixed(2)})`);
}

/** Watches a namespace's NodeTasks and remembers when each parent's first one appeared. */
async function taskWatch(namespace: string): Promise<{ seen: Map<string, number>; informer: Informer<NodeTask> }> {
  const seen = new Map<string, number>();
  const informer = new Informer<NodeTask>(client, NodeTaskType, log, { namespace });
  informer.onChange((t, o) => { if (t !== 'delete' && !seen.has(o.spec.parent.name)) seen.set(o.spec.parent.name, Date.now()); });
  await informer.start();
  return { seen, informer };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = DRAIN_DEADLINE_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) { console.log(`(gave up waiting for ${what} after ${timeoutMs / 1000} s)`); return false; }
    await sleep(20);
  }
  return true;
}

async function burst(seen: Map<string, number>): Promise<{ drainRate: number; applySeconds: number; drainSeconds: number; lat: number[] }> {
  const created = new Map<string, number>();
  const t0 = Date.now();
  await pool(CAPTURES, CONCURRENCY, async (i) => {
    const name = `burst-${i}`;
    created.set(name, Date.now());
    await client.create(PacketCaptureType, captureBody(name, i));
  });
  const applySeconds = (Date.now() - t0) / 1000;
  await waitFor('the burst NodeTasks', () => [...created.keys()].every((n) => seen.has(n)));
  const done = [...created.keys()].filter((n) => seen.has(n));
  const last = Math.max(...done.map((n) => seen.get(n)!));
  const drainSeconds = (last - t0) / 1000;
  return { drainRate: done.length / drainSeconds, applySeconds, drainSeconds, lat: done.map((n) => seen.get(n)! - created.get(n)!) };
}

async function steady(seen: Map<string, number>): Promise<{ lat: number[]; sent: number; lateStarts: number }> {
  const n = STEADY_RATE * STEADY_SECONDS;
  const created = new Map<string, number>();
  const t0 = Date.now();
  const inflight: Promise<unknown>[] = [];
  let lateStarts = 0;
  // Open loop: each create starts at its own time, whether or not earlier ones are done.
  for (let i = 0; i < n; i++) {
    const at = t0 + (i * 1000) / STEADY_RATE;
    if (at > Date.now()) await sleep(at - Date.now());
    else if (Date.now() - at > 100) lateStarts += 1;
    const name = `steady-${i}`;
    created.set(name, Date.now());
    inflight.push(client.create(PacketCaptureType, captureBody(name, i)).catch((err) => console.log(`create ${name}: ${String(err)}`)));
  }
  await Promise.all(inflight);
  await waitFor('the steady NodeTasks', () => [...created.keys()].every((k) => seen.has(k)));
  return { lat: [...created.keys()].filter((k) => seen.has(k)).map((k) => seen.get(k)! - created.get(k)!), sent: n, lateStarts };
}

function cluster(...args: string[]): string {
  return execFileSync(join(repo, 'hack/cluster'), args, { env: { ...process.env, RINGTAP_RUN_DIR: run }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

async function agentPhase(): Promise<void> {
  const node = 'bench-agent';
  cluster('node', 'add', node);
  const nodeEnv = Object.fromEntries(readFileSync(join(run, 'nodes', `${node}.env`), 'utf8').trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  const pid = pidOf(`agent-${node}`);
  // The agent is up once it has published its server certificate on its Node.
  for (const deadline = Date.now() + 120_000; ;) {
    const n = await client.get(NodeType, undefined, node).catch(() => undefined);
    if (n?.metadata.annotations?.[AGENT_CERT_ANNOTATION]) break;
    if (Date.now() > deadline) throw new Error(`the agent of ${node} did not start in 120 s (see ${run}/logs/agent-${node}.log)`);
    await sleep(200);
  }
  const { informer } = await taskWatch(trustedNs);
  const mine = () => informer.list(trustedNs).filter((t) => t.spec.node === node);
  const memBefore = memKiB(pid);
  const heapBefore = await agentHeap(nodeEnv.NODE_NETNS!);
  // In batches, so that an agent whose memory runs away stops the phase before it takes the machine.
  let created = 0, running = true;
  while (created < AGENT_TASKS) {
    const batch = Math.min(AGENT_BATCH, AGENT_TASKS - created);
    await pool(batch, CONCURRENCY, async (i) => {
      await client.create(PacketCaptureType, {
        metadata: { name: `agent-${created + i}`, namespace: trustedNs },
        spec: { targets: { nodes: { names: [node], interfaces: ['lo'] } }, snapLength: 128, limits: { maxPackets: 100_000_000 } },
      } as KubeObject);
    });
    created += batch;
    running = await waitFor(`${created} NodeTasks Running on ${node}`, () => mine().filter((t) => t.status?.phase === 'Running').length >= created, 300_000);
    if (created < AGENT_TASKS && memKiB(pid).rss > AGENT_RSS_LIMIT_MIB * 1024) {
      out('agent: stopped adding tasks', `at ${created} of ${AGENT_TASKS}: RSS ${mib(memKiB(pid).rss)} > ${AGENT_RSS_LIMIT_MIB} MiB`);
      break;
    }
  }
  const phases = new Map<string, number>();
  for (const t of mine()) phases.set(t.status?.phase ?? 'none', (phases.get(t.status?.phase ?? 'none') ?? 0) + 1);
  // Let the start-up writes pass, then count the agent's status writes (only agents write nodetasks/status).
  await sleep(5_000);
  const statusWrites = (w: Writes) => total(w, (k) => k.endsWith(' nodetasks/status'));
  const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / CLK_TCK; };
  const w0 = await apiserverWrites(), cpu0 = cpu();
  await sleep(AGENT_SECONDS * 1000);
  const w1 = await apiserverWrites(), cpu1 = cpu();
  const memIdle = memKiB(pid);
  // Traffic on the node's lo, which every capture watches (not eth0: the agent's own API
  // requests cross eth0, so its status writes would be traffic its captures count).
  const ping = spawn('ip', ['netns', 'exec', nodeEnv.NODE_NETNS!, 'ping', '-q', '-i', '0.1', '-w', String(AGENT_SECONDS), '127.0.0.1'], { stdio: 'ignore' });
  await new Promise((r) => ping.once('exit', r));
  const w2 = await apiserverWrites(), cpu2 = cpu();
  const mem = memKiB(pid);
  informer.stop();
  out(`agent: NodeTasks on ${node}`, `${mine().length} (${[...phases].map(([p, c]) => `${p} ${c}`).join(', ')})${running ? '' : ' NOT ALL RUNNING'}`);
  out('agent: status writes/s, idle', `${(statusWrites(diff(w0, w1)) / AGENT_SECONDS).toFixed(2)} (CPU ${((100 * (cpu1 - cpu0)) / AGENT_SECONDS).toFixed(0)}%)`);
  out('agent: status writes/s, traffic (ping 10/s on lo)', `${(statusWrites(diff(w1, w2)) / AGENT_SECONDS).toFixed(2)} (bound ${(created / 2).toFixed(0)}/s: one per task per 2 s; CPU ${((100 * (cpu2 - cpu1)) / AGENT_SECONDS).toFixed(0)}%)`);
  const rings = ringKiB(pid);
  const worst = Math.max(memIdle.rss, mem.rss);
  out(`agent: RSS with ${created} tasks, idle / traffic`, `${mib(memIdle.rss)} / ${mib(mem.rss)}: target < ${AGENT_RSS_TARGET_MIB} MiB ${worst < AGENT_RSS_TARGET_MIB * 1024 ? 'met' : 'NOT MET'}`);
  out('agent: RSS before tasks, peak', `${mib(memBefore.rss)}, ${mib(mem.hwm)}`);
  // The engine maps its rings with MAP_POPULATE and the kernel allocates them in full when they
  // are set up: their RSS is all of their size, touched by packets or not.
  out('agent: of which packet rings / the rest', `${mib(rings)} / ${mib(mem.rss - rings)} (rings: mmapped TPACKET_V3 blocks, ${(rings / Math.max(1, created)).toFixed(0)} KiB per capture on average)`);
  // Each running capture names its ring size in its status message ("ring 256Ki per interface ...").
  const sizes = new Map<string, number>();
  for (const t of mine()) {
    const size = /^ring (\S+) per interface/.exec(t.status?.message ?? '')?.[1] ?? (t.status?.reason ?? t.status?.phase ?? 'none');
    sizes.set(size, (sizes.get(size) ?? 0) + 1);
  }
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+)`).exec(st)?.[1] ?? 0);
  // File pages are mostly the node binary's own (~55 MiB touched, shared with every Node process on the node).
  out('agent: RSS anon / file+shmem (of which rings)', `${mib(kib('RssAnon'))} / ${mib(kib('RssFile') + kib('RssShmem'))} (${mib(rings)}); threads ${kib('Threads')}`);
  out('agent: V8 heap before tasks / with tasks', `${heapBefore} / ${await agentHeap(nodeEnv.NODE_NETNS!)}`);
  out('agent: ring sizes (captures)', `${[...sizes].sort((a, b) => b[1] - a[1]).map(([s, c]) => `${s} x${c}`).join(', ')} (budget ${process.env.RINGTAP_RING_BUDGET ?? '256Mi, the default'})`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  console.log(`load at start: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
  if (AGENT_ONLY) {
    await agentPhase();
    console.log(`load at end: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
    return;
  }
  out('world', `${NODES} nodes, ${PODS} pods; burst ${CAPTURES} captures over ${BURST_NODES} nodes; ${CONCURRENCY} clients`);
  let t = Date.now();
  await world();
  out('world created in', `${((Date.now() - t) / 1000).toFixed(1)} s`);
  out('operator settled after', `${(await settle() / 1000).toFixed(1)} s`);
  const idle = memKiB(operatorPid);
  out('operator RSS idle (pods, nodes cached)', `${mib(idle.rss)} (peak ${mib(idle.hwm)}; ${await operatorHeap()})`);

  await ceilingCrd();
  await writeCosts();
  const before = await ceiling('before');

  // Every NodeTask lives in the operator's namespace (ADR 0012).
  const { seen, informer } = await taskWatch(trustedNs);
  const s0 = await apiserverStats();
  const w0 = s0.count;
  const c0 = await operatorCounters();
  const cpu0 = controlPlaneCpu(), opCpu0 = processCpu(operatorPid);
  const b = await burst(seen);
  t = Date.now();
  await settle();
  const burstCpuMs = (1000 * (controlPlaneCpu() - cpu0)) / CAPTURES;
  const operatorCpuMs = (1000 * (processCpu(operatorPid) - opCpu0)) / CAPTURES;
  const settledSeconds = (Date.now() - t) / 1000;
  const s1 = await apiserverStats();
  const w1 = s1.count;
  const c1 = await operatorCounters();
  // The ceiling again once the burst has settled: the anchor is the better of the two (the
  // harder one to come near), and the pair shows how much the machine's load moved.
  const after = await ceiling('after');
  const ceil = Math.max(before.rate, after.rate);
  out('ceiling: API server creates/s', `${ceil.toFixed(0)} (before the burst ${before.rate.toFixed(0)}, after ${after.rate.toFixed(0)}; ${CAPTURES} objects, ${CONCURRENCY} clients)`);
  out('burst: apply time', `${b.applySeconds.toFixed(1)} s`);
  out('burst: all NodeTasks after', `${b.drainSeconds.toFixed(1)} s`);
  out('burst: drain rate', `${b.drainRate.toFixed(0)}/s = ${(b.drainRate / ceil).toFixed(2)} of the ceiling (target >= 0.8)`);
  out('burst: apply -> NodeTask p50 / p99', `${pct(b.lat, 50)} ms / ${pct(b.lat, 99)} ms`);
  out('burst: settled (no write, no reconcile) after', `${settledSeconds.toFixed(1)} s more`);
  const bw = diff(w0, w1);
  const per = (f: (k: string) => boolean) => (total(bw, f) / CAPTURES).toFixed(2);
  out('burst: reconciles per capture', (counterDelta(c0, c1, 'ringtap_reconcile_total') / CAPTURES).toFixed(2));
  out('burst writes/capture (API server): finalizer', `${per((k) => k === 'PATCH packetcaptures' || k === 'PUT packetcaptures' || k === 'APPLY packetcaptures')}`);
  out('  NodeTask', per((k) => / nodetasks$/.test(k)));
  out('  status', `${per((k) => / packetcaptures\/status$/.test(k))} (operator's own count ${(counterDelta(c0, c1, 'ringtap_status_writes_total') / CAPTURES).toFixed(2)})`);
  out('  events', per((k) => / events$/.test(k)));
  out('  everything else', `${[...bw].filter(([k]) => !/packetcaptures|nodetasks|events/.test(k)).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  // What the API server spent per capture (server-side request time, apiserver_request_duration_seconds),
  // against what one ceiling create cost it: the share of the server a capture's writes take.
  const bs = diff(s0.seconds, s1.seconds);
  const ms = (f: (k: string) => boolean) => (1000 * total(bs, f)) / CAPTURES;
  const serverPerCapture = ms((k) => /packetcaptures|nodetasks|events/.test(k));
  out('burst: API server ms per capture', `${serverPerCapture.toFixed(0)} (create ${ms((k) => k === 'POST packetcaptures').toFixed(0)}, finalizer ${ms((k) => k === 'PATCH packetcaptures').toFixed(0)}, NodeTask ${ms((k) => / nodetasks$/.test(k)).toFixed(0)}, status ${ms((k) => / packetcaptures\/status$/.test(k)).toFixed(0)}, events ${ms((k) => / events$/.test(k)).toFixed(0)})`);
  const ceilMs = Math.min(before.serverMs, after.serverMs);
  out('ceiling: API server ms per create', `${ceilMs.toFixed(0)} (before ${before.serverMs.toFixed(0)}, after ${after.serverMs.toFixed(0)})`);
  // CPU, unlike request time, does not grow with the machine's load: the cost ratio that bounds the drain rate.
  const ceilCpu = Math.min(before.cpuMs, after.cpuMs);
  out('control plane CPU ms: per ceiling create', `${ceilCpu.toFixed(1)} (before ${before.cpuMs.toFixed(1)}, after ${after.cpuMs.toFixed(1)})`);
  out('control plane CPU ms: per burst capture', `${burstCpuMs.toFixed(1)}: a capture costs ${(burstCpuMs / ceilCpu).toFixed(1)} creates, so a CPU-bound server drains at most ${(ceilCpu / burstCpuMs).toFixed(2)} of the ceiling`);
  // The operator shares the machine's cores with the control plane here.
  out('operator CPU ms per burst capture', operatorCpuMs.toFixed(1));
  const burstMem = memKiB(operatorPid);
  out('operator RSS after the burst', `${mib(burstMem.rss)} (peak ${mib(burstMem.hwm)}; target < 200 MiB; ${await operatorHeap()})`);

  const r0 = await apiserverWrites(), rc0 = await operatorCounters();
  await sleep(REST_SECONDS * 1000);
  const r1 = await apiserverWrites(), rc1 = await operatorCounters();
  const rest = diff(r0, r1);
  out(`rest ${REST_SECONDS} s: reconciles`, String(counterDelta(rc0, rc1, 'ringtap_reconcile_total')));
  out(`rest ${REST_SECONDS} s: writes`, `${total(rest, (k) => !k.endsWith(' leases'))}${[...rest].filter(([k]) => !k.endsWith(' leases')).map(([k, v]) => ` (${k} ${v})`).join('')}`);
  out(`rest ${REST_SECONDS} s: leader Lease renewals (documented)`, String(total(rest, (k) => k.endsWith(' leases'))));
  const restMem = memKiB(operatorPid);
  out(`operator RSS after the rest (${CAPTURES} captures cached)`, `${mib(restMem.rss)} (target < 200 MiB; ${await operatorHeap()})`);

  if (STEADY_RATE > 0 && STEADY_SECONDS > 0) {
    const s = await steady(seen);
    out(`steady ${STEADY_RATE}/s for ${STEADY_SECONDS} s: p50 / p99`, `${pct(s.lat, 50)} ms / ${pct(s.lat, 99)} ms (${s.lat.length}/${s.sent} NodeTasks; target p99 < 2000 ms)`);
    if (s.lateStarts > 0) out('steady: creates started > 100 ms late', String(s.lateStarts));
    await settle();
    const m = memKiB(operatorPid);
    out(`operator RSS with ${CAPTURES + s.sent} captures`, `${mib(m.rss)} (peak ${mib(m.hwm)})`);
  }
  informer.stop();

  if (AGENT_TASKS > 0) await agentPhase();
  console.log(`load at end: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
}

await main();
process.exit(0);
