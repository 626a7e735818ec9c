// helm lint is clean, and values.schema.json turns bad values into errors that name the value.
import { describe, expect, test } from '@jest/globals';
import { chartDir, helm, setArgs } from './helm.js';
import { rbacTemplateIsStale, RBAC_TEMPLATE } from '../../../hack/gen-chart.js';

describe('chart', () => {
  test(`${RBAC_TEMPLATE} is up to date with operator/src/rbac.ts (regenerate: npm run gen:chart)`, () => {
    expect(rbacTemplateIsStale()).toBe(false);
  });

  test('helm lint --strict passes with no warnings', async () => {
    const r = await helm(['lint', '--strict', chartDir]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  test('helm lint passes with the optional parts on', async () => {
    const r = await helm(['lint', '--strict', chartDir, ...setArgs({ 'metrics.serviceMonitor.enabled': true, 'agent.tlsSecretName': 'tls', 'operator.leaderElect': false })]);
    expect(r.code).toBe(0);
  });
});

describe('values.schema.json rejects bad values', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['replicas below 1', { 'operator.replicas': 0 }, "'/operator/replicas': minimum: got 0, want 1"],
    ['replicas of the wrong type', { 'operator.replicas': 'two' }, "'/operator/replicas': got string, want integer"],
    ['an unknown image pull policy', { 'image.pullPolicy': 'Sometimes' }, "'/image/pullPolicy': value must be one of"],
    ['an unknown key', { 'operator.replica': 2 }, "additional properties 'replica' not allowed"],
    ['an unknown top-level key', { agents: {} }, "additional properties 'agents' not allowed"],
    ['leaderElect as a string', { 'operator.leaderElect': 'yes' }, "'/operator/leaderElect': got string, want boolean"],
    ['a capability beyond SYS_PTRACE', { 'agent.extraCapabilities': ['SYS_MODULE'] }, "'/agent/extraCapabilities/0'"],
    ['a relative data dir', { 'agent.dataDir': 'var/lib/ringtap' }, "'/agent/dataDir'"],
    ['a port out of range', { 'agent.metricsPort': 70000 }, "'/agent/metricsPort': maximum"],
    ['an invalid namespace name', { 'operator.trustedNamespaces': ['Not_A_Namespace'] }, "'/operator/trustedNamespaces/0'"],
    ['maxUnavailable 0', { 'agent.updateStrategy.maxUnavailable': 0 }, "'/agent/updateStrategy/maxUnavailable'"],
    ['an unknown log level', { 'agent.logLevel': 'verbose' }, "'/agent/logLevel': value must be one of"],
    ['a bad scrape interval', { 'metrics.serviceMonitor.interval': '30 seconds' }, "'/metrics/serviceMonitor/interval'"],
    ['a toleration with an unknown effect', { 'agent.tolerations': [{ operator: 'Exists', effect: 'Sometimes' }] }, "'/agent/tolerations/0/effect'"],
  ];
  test.each(cases)('%s', async (_what, values, message) => {
    const r = await helm(['template', 'ringtap', chartDir, ...setArgs(values)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("values don't meet the specifications of the schema");
    expect(r.stderr).toContain(message);
  });
});
