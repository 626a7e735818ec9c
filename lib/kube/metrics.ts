// Metrics of the controller runtime: reconciles, work queues, watches, leader election, status writes.
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../observe/metrics.js';

export const reconcileTotal = new Counter({
  name: 'ringtap_reconcile_total', help: 'Reconciles, by controller and result (success, error, requeue_after).',
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
