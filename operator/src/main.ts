// The ringtap operator process: leader-elected, runs the controllers, serves /metrics,
// /healthz and /readyz, and shuts down cleanly on SIGTERM (releasing its lease).
//
// Configuration (flags override environment):
//   --kubeconfig PATH           else $KUBECONFIG, else in-cluster
//   --namespace NS              the operator's namespace (every NodeTask, lease, default trusted namespace); $RINGTAP_NAMESPACE, default ringtap-system
//   --trusted-namespaces a,b    namespaces whose captures may target node interfaces; default: the operator's namespace
//   --metrics-bind-address A    host:port of /metrics, /healthz, /readyz; default 127.0.0.1:8080
//   --leader-elect=false        run without a lease (tests, single replica)
//   --lease-name NAME           default ringtap-operator
//   --data-api-bind-address A   host:port of the data API (data.ringtap.dev), served by every replica; default 0.0.0.0:8443
//   --data-api-cert-file F, --data-api-key-file F   its serving certificate; without them the data API is off
//   --data-api-reorder-window MS  how far a node's files may be out of time order; default 200
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { PacketCaptureReconciler } from './controllers/packetcapture/reconciler.js';
import { PortMirrorReconciler } from './controllers/portmirror/reconciler.js';
import { IPAMonitorReconciler } from './controllers/ipamonitor/reconciler.js';
import { PPPBridgeReconciler } from './controllers/pppbridge/reconciler.js';
import { OrphanSweep } from './controllers/shared/orphans.js';
import { BY_LABEL, BY_PARENT, labelIndex, nodeForPlacement, parentIndex, podForPlacement, type PlacementNode, type PlacementPod } from './controllers/shared/cache.js';
import { IPAMonitorType, LABEL_PARENT_KIND, NodeTaskType, OPERATOR_EVENT_SOURCE, PacketCaptureType, PortMirrorType, PPPBridgeType } from '../../crds/src/index.js';
import type { IPAMonitor, NodeTask, PacketCapture, PortMirror, PPPBridge } from '../../lib/kube/objects.js';
import { Controller } from '../../lib/kube/controller.js';
import { EventRecorder } from '../../lib/kube/events.js';
import { startHealthServer } from '../../lib/observe/health.js';
import { Informer } from '../../lib/kube/informer.js';
import { KubeClient, NodeType, PodType, type KubeObject } from '../../lib/kube/kube.js';
import { loadKubeConfig } from '../../lib/kube/kubeconfig.js';
import { LeaderElector } from '../../lib/kube/leader.js';
import { newLogger } from '../../lib/observe/log.js';
import { FilterCompiler } from '../../lib/native/filter-compiler.js';
import { cachedFilterValidator } from './controllers/shared/filters.js';
import { DataApiServer } from './dataapi/server.js';

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string' },
    'trusted-namespaces': { type: 'string' },
    'metrics-bind-address': { type: 'string' },
    'leader-elect': { type: 'string', default: 'true' },
    'lease-name': { type: 'string', default: 'ringtap-operator' },
    identity: { type: 'string' },
    'data-api-bind-address': { type: 'string' },
    'data-api-cert-file': { type: 'string' },
    'data-api-key-file': { type: 'string' },
    'data-api-reorder-window': { type: 'string', default: '200' },
  },
  allowPositionals: false,
});

const namespace = flags.namespace ?? process.env.RINGTAP_NAMESPACE ?? 'ringtap-system';
const identity = flags.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
const log = newLogger('operator', { identity });
const trusted = new Set((flags['trusted-namespaces'] ?? process.env.RINGTAP_TRUSTED_NAMESPACES ?? namespace).split(',').map((s) => s.trim()).filter(Boolean));

// Not client-node's KubeConfig: importing it loads the whole generated client (lib/kube/kubeconfig.ts).
let kc: Awaited<ReturnType<typeof loadKubeConfig>>;
try {
  kc = await loadKubeConfig(process.env, flags.kubeconfig ?? process.env.KUBECONFIG);
} catch (err) {
  console.error(`operator: kubeconfig: ${(err as Error).message}`);
  process.exit(2);
}
const client = new KubeClient(kc, 'ringtap-operator');

// One verdict per filter text for both controllers: compiled once, in a child process with a
// deadline (a tenant's filter can keep libpcap busy for minutes), checked against the kernel's limit.
const FILTER_COMPILE_DEADLINE_MS = 2_000;
const filterCompiler = new FilterCompiler(FILTER_COMPILE_DEADLINE_MS);
const validateFilter = cachedFilterValidator((text, snaplen, tenant) => filterCompiler.compile(text, snaplen, tenant), FILTER_COMPILE_DEADLINE_MS);

let ready = false;
let controllers: Controller[] = [];
let informers: Informer<KubeObject>[] = [];

// Reconciles wait on the API server, not on the CPU, so each controller runs many at once; its
// queue never hands one key to two of them. The cluster-scoped kinds are few per cluster.
const WORKERS = { packetcapture: 16, portmirror: 16, ipamonitor: 4, pppbridge: 4 } as const;

async function startControllers(): Promise<void> {
  const captures = new Informer<PacketCapture>(client, PacketCaptureType, log);
  // Every NodeTask lives in the operator's namespace (docs/adr/0012-nodetasks-in-the-operator-namespace.md).
  const tasks = new Informer<NodeTask>(client, NodeTaskType, log, { namespace, labelSelector: LABEL_PARENT_KIND, indexers: { [BY_PARENT]: parentIndex } });
  // Every pod and node of the cluster, so only what placement reads (controllers/cache.ts).
  const pods = new Informer<PlacementPod>(client, PodType, log, { transform: podForPlacement, indexers: { [BY_LABEL]: labelIndex } });
  const nodes = new Informer<PlacementNode>(client, NodeType, log, { transform: nodeForPlacement, indexers: { [BY_LABEL]: labelIndex } });
  const mirrors = new Informer<PortMirror>(client, PortMirrorType, log);
  informers = [captures, tasks, pods, nodes, mirrors] as Informer<KubeObject>[];
  const ctl = new Controller('packetcapture', async (key, l) => pc.reconcile(key, l), log, WORKERS.packetcapture);
  const events = new EventRecorder(client, OPERATOR_EVENT_SOURCE, identity, log);
  const pc = new PacketCaptureReconciler({
    client, captures, tasks, pods: pods as never, nodes: nodes as never, events,
    validateFilter,
    trustedNamespaces: trusted,
    namespace,
  }, ctl);
  pc.register();
  const mirrorCtl = new Controller('portmirror', async (key, l) => pm.reconcile(key, l), log, WORKERS.portmirror);
  const pm = new PortMirrorReconciler({
    client, mirrors, tasks, pods: pods as never, nodes: nodes as never, events,
    validateFilter,
    trustedNamespaces: trusted,
    namespace,
  }, mirrorCtl);
  pm.register();
  const ipaMonitors = new Informer<IPAMonitor>(client, IPAMonitorType, log);
  informers.push(ipaMonitors as unknown as Informer<KubeObject>);
  const ipaCtl = new Controller('ipamonitor', async (key, l) => ipam.reconcile(key, l), log, WORKERS.ipamonitor);
  const ipam = new IPAMonitorReconciler({ client, monitors: ipaMonitors, tasks, nodes, events, namespace }, ipaCtl);
  ipam.register();
  const bridges = new Informer<PPPBridge>(client, PPPBridgeType, log);
  informers.push(bridges as unknown as Informer<KubeObject>);
  const bridgeCtl = new Controller('pppbridge', async (key, l) => pb.reconcile(key, l), log, WORKERS.pppbridge);
  const pb = new PPPBridgeReconciler({ client, bridges, tasks, nodes, events, namespace }, bridgeCtl);
  pb.register();
  const sweepCtl = new Controller('nodetask-orphans', async (key, l) => sweep.reconcile(key, l), log, 2);
  const sweep = new OrphanSweep({ client, tasks, parents: { PacketCapture: captures, PortMirror: mirrors, PPPBridge: bridges, IPAMonitor: ipaMonitors } }, sweepCtl);
  sweep.register();
  // Caches first: a reconcile must never see a half-filled world.
  await Promise.all(informers.map((i) => i.start()));
  ctl.start();
  mirrorCtl.start();
  bridgeCtl.start();
  controllers = [ctl, mirrorCtl];
  ipaCtl.start();
  controllers.push(ipaCtl);
  controllers.push(bridgeCtl);
  // Only now: before every cache has synced, a parent not yet listed would look gone.
  sweepCtl.start();
  controllers.push(sweepCtl);
  ready = true;
  log.info({ trustedNamespaces: [...trusted] }, 'controllers started');
}

async function shutdown(code: number): Promise<never> {
  ready = false;
  log.info('shutting down');
  await Promise.race([
    Promise.all(controllers.map((c) => c.stop())),
    new Promise((r) => setTimeout(r, 5_000)),
  ]);
  for (const i of informers) i.stop();
  filterCompiler.close();
  await dataApi?.close();
  await elector?.release();
  process.exit(code);
}

const elector = flags['leader-elect'] === 'false'
  ? undefined
  : new LeaderElector(client, { namespace, name: flags['lease-name']!, identity }, log);

await startHealthServer(flags['metrics-bind-address'] ?? process.env.RINGTAP_METRICS_ADDR ?? '127.0.0.1:8080', {
  healthy: () => true,
  // A standby is ready: it is healthy and will take over when the leader goes. The leader is
  // ready once its caches are synced and its controllers run.
  ready: () => ready || (elector !== undefined && !elector.isLeader),
});
// The data API runs on every replica, leader or not: it only reads.
const dataApiCert = flags['data-api-cert-file'] ?? process.env.RINGTAP_DATA_API_CERT_FILE;
const dataApiKey = flags['data-api-key-file'] ?? process.env.RINGTAP_DATA_API_KEY_FILE;
const reorderMs = Number(flags['data-api-reorder-window']);
if (!Number.isInteger(reorderMs) || reorderMs < 0 || reorderMs > 60_000) {
  log.fatal(`--data-api-reorder-window "${flags['data-api-reorder-window']}": expected whole milliseconds, 0..60000`);
  process.exit(2);
}
const dataApi = dataApiCert && dataApiKey
  ? new DataApiServer(client, {
    bindAddress: flags['data-api-bind-address'] ?? process.env.RINGTAP_DATA_API_ADDR ?? '0.0.0.0:8443',
    certFile: dataApiCert, keyFile: dataApiKey, namespace, reorderWindowNs: BigInt(reorderMs) * 1_000_000n,
  }, log)
  : undefined;
if (dataApi) await dataApi.start();
else log.warn('the data API (data.ringtap.dev) is off: no --data-api-cert-file/--data-api-key-file');
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

if (elector) {
  await elector.run(() => void startControllers().catch((err) => {
    log.fatal({ err }, 'starting controllers failed');
    void shutdown(1);
  }), () => {
    // Crash-only: a process that lost its lease must not keep reconciling.
    log.fatal('leadership lost; exiting');
    process.exit(1);
  });
} else {
  await startControllers();
}
