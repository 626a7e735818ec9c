// The data API (data.ringtap.dev) from a user's seat: kubeconfigs for each kind of credential
// (client certificate, ServiceAccount token, exec plugin), the built kubectl, the plugin.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rmSync } from 'node:fs';
import { cluster, delNode, delPod, readClusterEnv, repoRoot, runDir, type SimNode, type SimPod } from './cluster.js';
import { deleteCaptureNamespace, waitFor } from './kube.js';

const execFileP = promisify(execFile);

export const nodeBin = join(repoRoot, 'node_modules/.bin/node');
export const cliMain = join(repoRoot, 'dist/cli/src/main.js');

/** The kubectl hack/cluster built (newest cached Kubernetes build). */
export function kubectlPath(): string {
  const bin = join(process.env.RINGTAP_CACHE ?? join(homedir(), '.cache/ringtap'), 'bin');
  const dirs = existsSync(bin) ? readdirSync(bin).filter((d) => d.startsWith('k8s-') && existsSync(join(bin, d, 'kubectl'))) : [];
  const want = process.env.RINGTAP_K8S_VERSION;
  const dir = (want ? dirs.find((d) => d.startsWith(`k8s-${want}-`)) : undefined) ?? dirs.sort().at(-1);
  if (!dir) throw new Error(`no kubectl under ${bin}: run hack/cluster build`);
  return join(bin, dir, 'kubectl');
}

function kubeconfig(path: string, user: string[], namespace: string): string {
  const env = readClusterEnv();
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: c', '  cluster:', `    server: ${env.APISERVER_URL}`, `    certificate-authority-data: ${readFileSync(join(runDir(), 'pki/ca.crt')).toString('base64')}`,
    'users:', '- name: u', '  user:', ...user.map((l) => `    ${l}`),
    'contexts:', '- name: c', '  context:', '    cluster: c', '    user: u', `    namespace: ${namespace}`,
    'current-context: c', '',
  ].join('\n'), { mode: 0o600 });
  return path;
}

export async function saToken(namespace: string, sa: string, extra: string[] = []): Promise<string> {
  return (await cluster(['kubectl', 'create', 'token', sa, '-n', namespace, '--duration=1h', ...extra])).trim();
}

/** A kubeconfig whose user is a ServiceAccount with a static TokenRequest token. */
export async function tokenKubeconfig(dir: string, namespace: string, sa: string): Promise<string> {
  return kubeconfig(join(dir, `${sa}.kubeconfig`), [`token: ${await saToken(namespace, sa)}`], namespace);
}

/**
 * A kubeconfig whose user gets its credential from an exec plugin (client.authentication.k8s.io/v1),
 * as cloud and OIDC login plugins do: a script that prints an ExecCredential.
 */
export async function execKubeconfig(dir: string, namespace: string, sa: string): Promise<string> {
  const token = await saToken(namespace, sa);
  const script = join(dir, `${sa}-credential.sh`);
  writeFileSync(script, `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' '${token}'\n`);
  chmodSync(script, 0o700);
  return kubeconfig(join(dir, `${sa}-exec.kubeconfig`), [
    'exec:', '  apiVersion: client.authentication.k8s.io/v1', `  command: ${script}`, '  interactiveMode: Never',
  ], namespace);
}

/** The admin kubeconfig of the run (a client certificate), with the namespace as its context's. */
export function adminKubeconfig(dir: string, namespace: string): string {
  const pki = join(runDir(), 'pki');
  return kubeconfig(join(dir, 'admin.kubeconfig'), [
    `client-certificate-data: ${readFileSync(join(pki, 'admin.crt')).toString('base64')}`,
    `client-key-data: ${readFileSync(join(pki, 'admin.key')).toString('base64')}`,
  ], namespace);
}

export interface Run { code: number; stdout: string; stderr: string }

export async function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { maxBuffer: 256 << 20, timeout: timeoutMs, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export const kubectl = (kubeconfigPath: string, args: string[], timeoutMs?: number): Promise<Run> =>
  run(kubectlPath(), ['--kubeconfig', kubeconfigPath, ...args], timeoutMs);

export const plugin = (kubeconfigPath: string, args: string[], timeoutMs?: number): Promise<Run> =>
  run(nodeBin, [cliMain, '--kubeconfig', kubeconfigPath, ...args], timeoutMs);

/** Where operator replica ID serves the data API (hack/cluster ringtap start). */
export function dataApiAddress(id = 0): { host: string; port: number } {
  // The last line for the replica wins (a restarted replica appends its new port).
  const lines = [...readFileSync(join(runDir(), 'ringtap.env'), 'utf8').matchAll(new RegExp(`^DATA_API_PORT_${id}=(\\d+)$`, 'gm'))];
  const port = Number(lines.at(-1)?.[1]);
  if (!port) throw new Error(`operator ${id} has no data API port in ringtap.env (hack/cluster ringtap start)`);
  return { host: readClusterEnv().API_IP!, port };
}

/** Rows of tshark fields for a file (or "-" with input). */
export async function tsharkFields(file: string, fields: string[]): Promise<string[][]> {
  const { stdout } = await execFileP('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { maxBuffer: 256 << 20 });
  return stdout.split('\n').filter(Boolean).map((l) => l.split('|'));
}

/** Starts the operator and agents as processes and waits until the API server routes data.ringtap.dev to them. */
export async function startRingtapWithDataApi(): Promise<void> {
  await cluster(['ringtap', 'start']);
  await waitFor('the APIService to be Available', async () => {
    const r = await cluster(['kubectl', 'get', 'apiservice', 'v1alpha1.data.ringtap.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status}']);
    return r.trim() === 'True' || undefined;
  }, 30_000, 200);
}

/** Undoes a data-API test file's setup: processes, pods, nodes, namespace, scratch directory. */
export async function tearDownDataApiFixture(pods: Iterable<SimPod>, nodes: SimNode[], ns: string, work: string): Promise<void> {
  await cluster(['ringtap', 'stop']).catch(() => undefined);
  for (const p of pods) await delPod(p.namespace, p.name).catch(() => undefined);
  for (const n of nodes) await delNode(n.name).catch(() => undefined);
  await deleteCaptureNamespace(ns);
  rmSync(work, { recursive: true, force: true });
}
