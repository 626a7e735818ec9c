// The ringtap node agent: one per node, privileged. Watches only its node's NodeTasks, runs
// them through its drivers, writes only their status, and publishes the node's capabilities.
//
// Environment:
//   NODE_NAME (required)        the node this agent serves
//   KUBECONFIG                  else in-cluster config
//   RINGTAP_DATA_DIR            capture files; default /var/lib/ringtap
//   RINGTAP_METRICS_ADDR        host:port of /metrics, /healthz, /readyz; default 127.0.0.1:9090
//   RINGTAP_NAMESPACE           the operator's namespace; default ringtap-system
//   RINGTAP_TRUSTED_NAMESPACES  namespaces whose tasks may use node interfaces and hostNetwork pods
//                               (comma-separated; default the operator's namespace)
//   RINGTAP_RING_BUDGET         bytes all packet rings on the node may hold together (256Mi, 1Gi);
//                               default 256Mi (agent/src/runner/ringbudget.ts)
//   RINGTAP_RING_MAX            the most one ring may have; default 64Mi
//   RINGTAP_AGENT_DAEMONSET     the DaemonSet running this agent, in RINGTAP_NAMESPACE: when it is
//                               gone at SIGTERM (an uninstall), mirrors' kernel state goes too
//                               (agent/src/runner/uninstall.ts); unset: always kept, as for a restart
import { mkdirSync } from 'node:fs';
import { startHealthServer } from '../../lib/observe/health.js';
import { KubeClient, NodeType } from '../../lib/kube/kube.js';
import { newLogger } from '../../lib/observe/log.js';
import { capabilityLabels, probeCapabilities } from './node/capabilities.js';
import { loadKubeConfig } from '../../lib/kube/kubeconfig.js';
import { AGENT_CERT_ANNOTATION, CAPABILITY_ANNOTATION } from '../../crds/src/index.js';
import { AfPacketDriver } from './drivers/afpacket/driver.js';
import { DriverRegistry } from './drivers/driver.js';
import { IPADriver } from './drivers/ipa/driver.js';
import { TcMirrorDriver } from './drivers/tcmirror/driver.js';
import { PppBridgeDriver } from './drivers/pppbridge/driver.js';
import { LinkMonitor } from './native.js';
import { RingBudget, ringBudgetFromEnv } from './runner/ringbudget.js';
import { DownloadServer, operatorIdentity } from './server/server.js';
import { TaskRunner } from './runner/tasks.js';
import { serverTls } from './node/tls.js';
import { OwnerWatch, shutdownDecision, type OwnerState } from './runner/uninstall.js';
import { networkInterfaces } from 'node:os';

const node = process.env.NODE_NAME;
if (!node) {
  console.error('agent: NODE_NAME is required (the downward API spec.nodeName in the DaemonSet)');
  process.exit(2);
}
const log = newLogger('agent', { node });
const dataDir = process.env.RINGTAP_DATA_DIR ?? '/var/lib/ringtap';
mkdirSync(dataDir, { recursive: true, mode: 0o750 });

let kc: Awaited<ReturnType<typeof loadKubeConfig>>;
try {
  kc = await loadKubeConfig(process.env);
} catch (err) {
  console.error(`agent: kubeconfig: ${(err as Error).message}`);
  process.exit(2);
}
const client = new KubeClient(kc, `ringtap-agent/${node}`);

const caps = await probeCapabilities();
log.info({ capabilities: caps }, 'node capabilities');
try {
  await client.mergePatch(NodeType, undefined, node, {
    metadata: { labels: capabilityLabels(caps), annotations: { [CAPABILITY_ANNOTATION]: JSON.stringify(caps) } },
  });
} catch (err) {
  log.warn({ err }, 'publishing the node capabilities failed');
}

let rings: RingBudget;
try {
  rings = new RingBudget(ringBudgetFromEnv(process.env));
} catch (err) {
  console.error(`agent: ${(err as Error).message}`);
  process.exit(2);
}
log.info({ ringBudget: rings.options }, 'packet ring budget');

const registry = new DriverRegistry(log);
await registry.register(new AfPacketDriver(rings), caps);
await registry.register(new TcMirrorDriver(), caps);
await registry.register(new PppBridgeDriver(), caps);
await registry.register(new IPADriver(), caps);

// NodeTasks are the operator's; node interfaces and the host network are for its trusted
// namespaces only. Both lists must match the operator's flags (the chart sets both).
const operatorNamespace = process.env.RINGTAP_NAMESPACE ?? 'ringtap-system';
const trustedNamespaces = new Set((process.env.RINGTAP_TRUSTED_NAMESPACES ?? operatorNamespace).split(',').map((s) => s.trim()).filter(Boolean));
const runner = new TaskRunner(client, registry, node, dataDir, log, { operatorNamespace, trustedNamespaces });

// The last line of the task boundary: an error that escaped a driver's own guards fails the
// task it came from, not the agent that serves every task of this node. An error that belongs
// to no task is the agent's own and ends it (the DaemonSet restarts it).
process.on('uncaughtException', (err) => {
  if (runner.contain(err)) return;
  log.fatal({ err }, 'uncaught error outside any task; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  if (runner.contain(err)) return;
  log.error({ err }, 'unhandled rejection outside any task');
});

// Link state of the node's own namespace, from rtnetlink: drivers hear of interfaces that
// appear, vanish, change state, MTU or name at once (pods' interfaces are followed through
// their NodeTasks and the engine's own interface-gone events).
const links = new LinkMonitor({}, (e) => registry.link({
  type: e.type, netns: '', ifindex: e.ifindex, name: e.name, mtu: e.mtu,
  ...(e.previousName ? { previousName: e.previousName } : {}),
}));
links.on('error', (err) => log.error({ err }, 'link monitor stopped; interfaces are still re-checked every 2 s'));
const daemonSet = process.env.RINGTAP_AGENT_DAEMONSET;
const owner = daemonSet ? new OwnerWatch(client, operatorNamespace, daemonSet, log) : undefined;
owner?.start();

let ready = false;
await startHealthServer(process.env.RINGTAP_METRICS_ADDR ?? '127.0.0.1:9090', { healthy: () => true, ready: () => ready });
await runner.start();

// Files and live streams for the operator only (its token for this node's audience, TokenReview).
const addresses = Object.values(networkInterfaces()).flat().flatMap((a) => (a && !a.internal ? [a.address] : []));
const tls = await serverTls(dataDir, node, ['127.0.0.1', ...addresses]);
const server = new DownloadServer(client, node, dataDir, runner, operatorIdentity(client), log);
await server.start(process.env.RINGTAP_SERVER_ADDR ?? '0.0.0.0:9443', tls);
try {
  await client.mergePatch(NodeType, undefined, node, { metadata: { annotations: { [AGENT_CERT_ANNOTATION]: tls.fingerprint256 } } });
} catch (err) {
  log.warn({ err }, 'publishing the server certificate fingerprint failed');
}
ready = true;
log.info({ dataDir }, 'agent started');

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  ready = false;
  // Restart or uninstall: a short look, so that the tasks' own stop still fits the grace period.
  const ownerState: OwnerState = owner ? await owner.state(3_000) : { kind: 'unmanaged' };
  const decision = shutdownDecision(ownerState, daemonSet && `DaemonSet ${operatorNamespace}/${daemonSet}`);
  log.info({ removeKernelState: decision.removeKernelState, why: decision.why },
    decision.removeKernelState ? 'shutting down for good: removing mirrors\' kernel state, files stay' : 'shutting down: stopping tasks, files and mirrors stay for the next agent');
  await Promise.race([Promise.all([runner.stop({ removeKernelState: decision.removeKernelState }), server.close()]), new Promise((r) => setTimeout(r, 20_000))]);
  links.close();
  await registry.removeAll();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
