// `helm install` of the chart makes the data API available: the APIService
// v1alpha1.data.ringtap.dev with the caBundle Helm made, the Service, and the serving certificate
// the operator mounts. This control plane has no kubelet, so the operator Deployment's pod is
// played as the local cluster plays pods: the operator process runs on the host with what the pod
// would have (the chart's Secret, its ServiceAccount's token, the chart's flags), and the
// Service's EndpointSlice points at it as the endpoint controller would for a ready pod.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cluster, readClusterEnv, repoRoot, runDir } from '../support/cluster.js';
import { kubectl, nodeBin, saToken } from '../support/dataapi.js';
import { createNamespace, deleteNamespace, uniqueName, waitFor } from '../support/kube.js';
import { chartDir, helm } from '../unit/chart/helm.js';

const release = uniqueName('rtapi');
let ns: string;
let work: string;
let operator: ChildProcess | undefined;
let operatorLog = '';

const freePort = (): Promise<number> => import('node:net').then(({ createServer }) => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
}));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ringtap-chart-api-'));
  ns = await createNamespace('chartapi');
  const r = await helm(['install', release, chartDir, '--namespace', ns, '--set', `fullnameOverride=${release}`, '--wait=false', '--timeout', '60s']);
  if (r.code !== 0) throw new Error(`helm install failed: ${r.stderr}`);

  // What the operator pod would mount and run as.
  for (const key of ['tls.crt', 'tls.key']) {
    const b64 = await cluster(['kubectl', 'get', 'secret', `${release}-data-api-tls`, '-n', ns, '-o', `jsonpath={.data.${key.replace('.', '\\.')}}`]);
    writeFileSync(join(work, key), Buffer.from(b64, 'base64'), { mode: 0o600 });
  }
  const env = readClusterEnv();
  const token = await saToken(ns, `${release}-operator`);
  const kubeconfig = join(work, 'operator.kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'c', cluster: { server: env.APISERVER_URL, 'certificate-authority': join(runDir(), 'pki/ca.crt') } }],
    users: [{ name: 'u', user: { token } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
  }), { mode: 0o600 });
  const port = await freePort();
  operator = spawn(nodeBin, [join(repoRoot, 'dist/operator/src/main.js'),
    '--kubeconfig', kubeconfig, '--namespace', ns, `--lease-name=${release}-operator`, `--trusted-namespaces=${ns}`,
    '--metrics-bind-address', `127.0.0.1:${await freePort()}`,
    '--data-api-bind-address', `${env.API_IP}:${port}`, '--data-api-cert-file', join(work, 'tls.crt'), '--data-api-key-file', join(work, 'tls.key')],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RINGTAP_LOG_LEVEL: 'info' } });
  operator.stdout!.on('data', (d: Buffer) => (operatorLog += d.toString()));
  operator.stderr!.on('data', (d: Buffer) => (operatorLog += d.toString()));
  await waitFor('the data API to listen', () => operatorLog.includes('data API (data.ringtap.dev/v1alpha1) listening') || undefined, 30_000, 100);
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${release}-data-api-test`, namespace: ns, labels: { 'kubernetes.io/service-name': `${release}-data-api` } },
    addressType: 'IPv4', ports: [{ name: 'https', port, protocol: 'TCP' }],
    endpoints: [{ addresses: [env.API_IP], conditions: { ready: true } }],
  };
  writeFileSync(join(work, 'slice.json'), JSON.stringify(slice));
  await cluster(['kubectl', 'apply', '-f', join(work, 'slice.json')]);
}, 120_000);

afterAll(async () => {
  operator?.kill('SIGTERM');
  await helm(['uninstall', release, '--namespace', ns, '--wait', '--timeout', '60s']);
  await deleteNamespace(ns);
  rmSync(work, { recursive: true, force: true });
}, 120_000);

test('kubectl get apiservice v1alpha1.data.ringtap.dev is Available=True after helm install, and the API answers through the API server', async () => {
  await waitFor('Available=True', async () => {
    const r = await kubectl(process.env.KUBECONFIG!, ['get', 'apiservice', 'v1alpha1.data.ringtap.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
    return r.stdout === 'True' || undefined;
  }, 60_000, 250).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\noperator log:\n${operatorLog.slice(-3000)}`);
  });
  const svc = await kubectl(process.env.KUBECONFIG!, ['get', 'apiservice', 'v1alpha1.data.ringtap.dev', '-o', 'jsonpath={.spec.service.name} {.spec.caBundle}']);
  expect(svc.stdout.split(' ')[0]).toBe(`${release}-data-api`);
  expect(svc.stdout.split(' ')[1]!.length).toBeGreaterThan(100); // Helm's CA, which verified the operator's certificate
  const r = await kubectl(process.env.KUBECONFIG!, ['get', '--raw', '/apis/data.ringtap.dev/v1alpha1']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'APIResourceList', groupVersion: 'data.ringtap.dev/v1alpha1' });
  // The operator reads the front proxy's CA with the chart's RBAC (extension-apiserver-authentication-reader).
  expect(operatorLog).toMatch(/request-header authentication configured/);
}, 90_000);
