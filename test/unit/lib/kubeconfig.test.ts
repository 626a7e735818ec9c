// The operator's and agent's own kubeconfig (lib/kube/kubeconfig.ts): the credentials of a token or
// client-certificate kubeconfig and of a pod's ServiceAccount, as client-node's KubeConfig
// would apply them (the same headers and TLS material, files re-read at each use); what needs
// more (exec plugins, a proxy, basic auth) is left to client-node; errors name the file and field.
// Real files in a temporary directory; no API server (the e2e tests run agents with this).
import { afterAll, describe, expect, test } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inClusterCredentials, kubeconfigCredentials, LightKubeConfig, loadKubeConfig } from '../../../lib/kube/kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CA = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'other', cluster: { server: 'https://wrong:1' } }, { name: 'k', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  });
}

/** Headers and the TLS options of the dispatcher an auth puts on a request. */
async function applied(auth: { applySecurityAuthentication(ctx: RequestContext): Promise<void> }) {
  const ctx = new RequestContext('https://example.invalid/api', HttpMethod.GET);
  await auth.applySecurityAuthentication(ctx);
  const d = ctx.getDispatcher() as unknown as { close?: () => Promise<void> } | undefined;
  await d?.close?.();
  return { headers: ctx.getHeaders(), dispatcher: d !== undefined };
}

describe('the operator and agent kubeconfig', () => {
  test('a token kubeconfig (hack/cluster\'s agents): the same header as client-node, a dispatcher for the CA', async () => {
    const text = kubeconfig({ server: 'https://10.0.0.1:6443', 'certificate-authority-data': b64(CA) }, { token: 'abc.def' });
    const path = join(dir, 'token.kubeconfig');
    writeFileSync(path, text);
    const creds = kubeconfigCredentials(text, path)!;
    expect(creds.cluster).toEqual({ name: 'k', server: 'https://10.0.0.1:6443', skipTLSVerify: false });
    expect(creds.ca).toEqual({ data: Buffer.from(CA) });
    const light = await applied(new LightKubeConfig(creds));
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    expect(light).toEqual(await applied(kc));
    expect(light.headers.Authorization).toBe('Bearer abc.def');
    expect(light.dispatcher).toBe(true);
    expect((await loadKubeConfig({ KUBECONFIG: path })) instanceof LightKubeConfig).toBe(true);
  });

  test('files are resolved next to the kubeconfig and re-read at each use (a rotated token)', async () => {
    writeFileSync(join(dir, 'tok'), 'first\n');
    writeFileSync(join(dir, 'ca.crt'), CA);
    const path = join(dir, 'files.kubeconfig');
    const creds = kubeconfigCredentials(kubeconfig({ server: 'https://h:1', 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' }, { tokenFile: 'tok' }), path)!;
    expect(creds.ca).toEqual({ file: join(dir, 'ca.crt') });
    expect(creds.cluster.tlsServerName).toBe('kubernetes');
    const auth = new LightKubeConfig(creds);
    expect((await applied(auth)).headers.Authorization).toBe('Bearer first');
    writeFileSync(join(dir, 'tok'), 'second');
    expect((await applied(auth)).headers.Authorization).toBe('Bearer second');
  });

  test('client certificates, and no dispatcher where client-node makes none', async () => {
    const creds = kubeconfigCredentials(kubeconfig({ server: 'https://h:1' }, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') }), join(dir, 'x'))!;
    expect(creds.cert).toEqual({ data: Buffer.from('CERT') });
    expect(creds.key).toEqual({ data: Buffer.from('KEY') });
    expect(creds.token).toBeUndefined();
    const plain = kubeconfigCredentials(kubeconfig({ server: 'https://h:1' }, {}), join(dir, 'x'))!;
    expect(await applied(new LightKubeConfig(plain))).toEqual({ headers: {}, dispatcher: false });
  });

  test('what needs client-node is left to it', async () => {
    for (const [cluster, user] of [
      [{ server: 'https://h:1' }, { exec: { command: 'aws' } }],
      [{ server: 'https://h:1' }, { username: 'a', password: 'b' }],
      [{ server: 'https://h:1', 'proxy-url': 'http://proxy:3128' }, { token: 't' }],
      [{ server: 'http://h:8080' }, { token: 't' }],
    ] as const) {
      expect(kubeconfigCredentials(kubeconfig(cluster, user), join(dir, 'x'))).toBeUndefined();
    }
    const path = join(dir, 'exec.kubeconfig');
    writeFileSync(path, kubeconfig({ server: 'https://h:1' }, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } }));
    expect((await loadKubeConfig({ KUBECONFIG: path })) instanceof KubeConfig).toBe(true);
    // The operator's --kubeconfig names the file, not the environment: client-node reads that one.
    const named = await loadKubeConfig({ KUBECONFIG: join(dir, 'absent.kubeconfig') }, path);
    expect(named instanceof KubeConfig && named.getCurrentCluster()?.server).toBe('https://h:1');
  });

  test('errors name the file and the field', () => {
    expect(() => kubeconfigCredentials('[]', '/k')).toThrow(/\/k: current-context undefined is not in contexts/);
    expect(() => kubeconfigCredentials('', '/k')).toThrow(/\/k: not a kubeconfig/);
    const noCluster = JSON.stringify({ 'current-context': 'c', contexts: [{ name: 'c', context: { cluster: 'gone', user: 'u' } }] });
    expect(() => kubeconfigCredentials(noCluster, '/k')).toThrow(/\/k: cluster "gone" of context "c" is not in clusters/);
    expect(() => kubeconfigCredentials(kubeconfig({ server: 'https://h:1', 'certificate-authority': 5 }, {}), '/k')).toThrow(/\/k: certificate-authority must be a non-empty string/);
  });

  test('in the cluster: the Service from the environment, the ServiceAccount\'s token and CA', async () => {
    writeFileSync(join(dir, 'token'), 'sa-token');
    writeFileSync(join(dir, 'ca.crt'), CA);
    const creds = inClusterCredentials({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    expect(creds.cluster.server).toBe('https://[fd00::1]:443');
    expect(inClusterCredentials({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, dir).cluster.server).toBe('https://10.96.0.1:443');
    expect(await applied(new LightKubeConfig(creds))).toEqual({ headers: { Authorization: 'Bearer sa-token' }, dispatcher: true });
    expect(() => inClusterCredentials({}, dir)).toThrow(/KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
  });
});
