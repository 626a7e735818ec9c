// The Prometheus registry of one process (operator or agent), exposed on /metrics. Each room
// registers its own metrics here: lib/kube/metrics.ts (controller runtime), agent/src/metrics.ts.
import { Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'ringtap_process_' });
