// Benchmark (not a test): N PacketCaptures over M simulated Node objects. Measures the time
// from creating each capture to its NodeTask being observed (p50, p99), reconciles per
// second (from the operator's /metrics) and the operator's RSS.
//   npm run build && node dist/hack/bench/operator/bench.js [captures=1000] [nodes=50]
// Needs a running local cluster with ringtap started (hack/bench/operator/run.sh does it all).
import { KubeConfig } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Informer } from '../../../lib/kube/informer.js';
import { KubeClient, NodeType, PodType, type KubeObject } from '../../../lib/kube/kube.js';
import { newLogger } from '../../../lib/observe/log.js';
import { NodeTaskType, PacketCaptureType } from '../../../crds/src/index.js';
import type { NodeTask } from '../../../lib/kube/objects.js';

const captures = Number(process.argv[2] ?? 1000);
const nodeCount = Number(process.argv[3] ?? 50);
const run = process.env.RINGTAP_RUN_DIR!;
const kc = new KubeConfig();
kc.loadFromFile(join(run, 'admin.kubeconfig'));
const client = new KubeClient(kc, 'bench');
const ns = 'bench';
const log = newLogger('bench');
log.level = 'warn';

const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  await client.create({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false }, { metadata: { name: ns } }).catch(() => undefined);
  for (let i = 0; i < nodeCount; i++) {
    const name = `bench-node-${i}`;
    await client.create(NodeType, { metadata: { name, labels: { 'kubernetes.io/hostname': name } } }).catch(() => undefined);
    await client.mergePatch(NodeType, undefined, name, { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Bench', message: '', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z/, 'Z'), lastTransitionTime: new Date().toISOString().replace(/\.\d+Z/, 'Z') }] } }, 'status');
    const pod = `bench-pod-${i}`;
    const p = await client.create(PodType, { metadata: { name: pod, namespace: ns, labels: { group: `g${i}` } }, spec: { nodeName: name, automountServiceAccountToken: false, containers: [{ name: 'c', image: 'pause' }] } } as KubeObject).catch(async () => client.get(PodType, ns, pod));
    void p;
    await client.mergePatch(PodType, ns, pod, { status: { phase: 'Running', podIP: `10.250.${i >> 8}.${i & 255}`, podIPs: [{ ip: `10.250.${i >> 8}.${i & 255}` }] } }, 'status');
  }
  const seen = new Map<string, number>();
  const tasks = new Informer<NodeTask>(client, NodeTaskType, log, { namespace: ns });
  tasks.onChange((t, o) => { if (t === 'add' && !seen.has(o.spec.parent.name)) seen.set(o.spec.parent.name, Date.now()); });
  await tasks.start();

  const created = new Map<string, number>();
  const t0 = Date.now();
  // Apply with a little concurrency, as a GitOps sync would.
  const queue = Array.from({ length: captures }, (_, i) => i);
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      const name = `cap-${i}`;
      created.set(name, Date.now());
      await client.create(PacketCaptureType, { metadata: { name, namespace: ns }, spec: { targets: { pods: { selector: { matchLabels: { group: `g${i % nodeCount}` } } } }, limits: { maxPackets: 1000 } } } as KubeObject);
    }
  }));
  const applied = Date.now() - t0;
  const deadline = Date.now() + 600_000;
  while (seen.size < captures && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const total = Date.now() - t0;
  const lat = [...created].filter(([n]) => seen.has(n)).map(([n, t]) => seen.get(n)! - t);
  tasks.stop();

  const pid = Number(readFileSync(join(run, 'pids', 'operator-0.pid'), 'utf8'));
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  const metricsAddr = /--metrics-bind-address\0([^\0]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1];
  const metrics = metricsAddr ? await (await fetch(`http://${metricsAddr}/metrics`)).text() : '';
  const reconciles = [...metrics.matchAll(/^ringtap_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);

  console.log(`captures            ${captures} over ${nodeCount} nodes`);
  console.log(`NodeTasks observed  ${seen.size}/${captures}`);
  console.log(`apply time          ${(applied / 1000).toFixed(1)} s`);
  console.log(`all NodeTasks after ${(total / 1000).toFixed(1)} s`);
  console.log(`latency p50         ${pct(lat, 50)} ms`);
  console.log(`latency p99         ${pct(lat, 99)} ms`);
  console.log(`reconciles          ${reconciles} (${(reconciles / (total / 1000)).toFixed(0)}/s over the run)`);
  console.log(`operator RSS        ${(rssKiB / 1024).toFixed(0)} MiB (peak ${(hwmKiB / 1024).toFixed(0)} MiB)`);
}

await main();
