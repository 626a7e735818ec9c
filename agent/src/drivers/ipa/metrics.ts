// Prometheus metrics of the IPA monitors on this node, computed at scrape time from each running
// task's bounded summary (prometheusSamples in stats.ts), with the IPAMonitor's name as label
// `monitor`. Cardinality is bounded by the summary: at most topPairs (64) endpoint pairs per
// monitor (label values src/dst: endpoint names where configured, else ids; "none" for DPL
// streams), 7 opcodes, at most 64 exceptions, 5 decode-error kinds.
import { Counter } from 'prom-client';
import { registry } from '../../../../lib/observe/metrics.js';
import { prometheusSamples, type IPASummary } from './stats.js';

/** The live monitors: name -> their current summary. */
const sources = new Map<string, () => IPASummary>();

export function registerIPAMonitorMetrics(monitor: string, summary: () => IPASummary): void {
  sources.set(monitor, summary);
}
export function unregisterIPAMonitorMetrics(monitor: string): void {
  sources.delete(monitor);
}

const DEFS: { name: string; help: string; labels: string[] }[] = [
  { name: 'ringtap_ipa_records_total', help: 'IPA status records by endpoint pair.', labels: ['src', 'dst'] },
  { name: 'ringtap_ipa_bytes_total', help: 'Bytes (original lengths) of packets by endpoint pair.', labels: ['src', 'dst'] },
  { name: 'ringtap_ipa_truncated_total', help: 'Truncated packets by endpoint pair.', labels: ['src', 'dst'] },
  { name: 'ringtap_ipa_opcode_records_total', help: 'IPA status records by opcode.', labels: ['opcode'] },
  { name: 'ringtap_ipa_exception_records_total', help: 'IPA status records by exception.', labels: ['exception'] },
  { name: 'ringtap_ipa_decode_errors_total', help: 'Malformed input by kind (each garbage run, bad header or cut tail once).', labels: ['kind'] },
  { name: 'ringtap_ipa_skipped_bytes_total', help: 'Bytes skipped while resynchronising.', labels: [] },
];

for (const d of DEFS) {
  new Counter({
    name: d.name,
    help: d.help,
    labelNames: ['monitor', ...d.labels],
    registers: [registry],
    collect() {
      this.reset();
      for (const [monitor, summary] of sources) {
        for (const s of prometheusSamples(summary())) {
          if (s.name === d.name) this.inc({ monitor, ...s.labels }, s.value);
        }
      }
    },
  });
}
