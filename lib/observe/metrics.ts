// Prometheus metrics of one process (operator or agent), exposed on /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'ringtap_process_' });

export const reconcileTotal = new Counter({
  name: 'ringtap_reconcile_total', help: 'Reconciles, by controller and result (success, error, requeue_after, terminal).',
  labelNames: ['controller', 'result'], registers: [registry],
});
export const reconcileErrors = new Counter({
  name: 'ringtap_reconcile_errors_total', help: 'Reconciles that returned an error, by controller.',
  labelNames: ['controller'], registers: [registry],
});
export const reconcileDuration = new Histogram({
  name: 'ringtap_reconcile_duration_seconds', help: 'Time spent in one reconcile, by controller.',
  labelNames: ['controller'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
});
export const queueDepth = new Gauge({
  name: 'ringtap_workqueue_depth', help: 'Keys waiting in a controller work queue.', labelNames: ['controller'], registers: [registry],
});
export const watchRestarts = new Counter({
  name: 'ringtap_watch_restarts_total', help: 'Watch streams restarted, by resource and reason (closed, error, expired, stale).',
  labelNames: ['resource', 'reason'], registers: [registry],
});
export const relists = new Counter({
  name: 'ringtap_relists_total', help: 'Full lists of a resource (initial, after 410 Gone, after a liveness timeout).',
  labelNames: ['resource', 'reason'], registers: [registry],
});
export const leaderGauge = new Gauge({
  name: 'ringtap_leader', help: '1 while this process holds the leader lease.', registers: [registry],
});
export const statusWrites = new Counter({
  name: 'ringtap_status_writes_total', help: 'Status writes, by kind.', labelNames: ['kind'], registers: [registry],
});

// Agent: per capture on this node (labels namespace, capture).
const captureLabels = ['namespace', 'capture'] as const;
export const capturePackets = new Gauge({ name: 'ringtap_capture_packets', help: 'Packets written by a capture on this node (after its filter).', labelNames: captureLabels, registers: [registry] });
export const captureBytes = new Gauge({ name: 'ringtap_capture_bytes', help: 'Bytes (original lengths) of the packets a capture wrote on this node.', labelNames: captureLabels, registers: [registry] });
export const captureDrops = new Gauge({ name: 'ringtap_capture_drops', help: 'Packets a capture lost on this node: kernel ring drops plus spill-queue drops.', labelNames: captureLabels, registers: [registry] });
export const captureFreezes = new Gauge({ name: 'ringtap_capture_ring_freezes', help: 'Times a capture\'s TPACKET_V3 rings froze (all blocks owned by user space) on this node.', labelNames: captureLabels, registers: [registry] });
export const captureFiles = new Gauge({ name: 'ringtap_capture_files', help: 'Files a capture has on this node.', labelNames: captureLabels, registers: [registry] });
export const streamConsumers = new Gauge({ name: 'ringtap_stream_consumers', help: 'Live stream consumers (downloads of the live pcapng) connected to this agent.', registers: [registry] });
export const streamDrops = new Gauge({ name: 'ringtap_stream_drops', help: 'Packets dropped for slow live-stream consumers of a capture on this node.', labelNames: captureLabels, registers: [registry] });
