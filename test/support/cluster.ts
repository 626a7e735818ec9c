// Test-side access to hack/cluster: nodes, pods and the run directory's state files.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const clusterScript = join(repoRoot, 'hack/cluster');

export function runDir(): string {
  const d = process.env.RINGTAP_RUN_DIR;
  if (!d) throw new Error('RINGTAP_RUN_DIR is not set: run under the integration or e2e jest project');
  return d;
}

/** Parses a KEY=VALUE file written by hack/cluster. */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export function readClusterEnv(dir = runDir()): Record<string, string> {
  return readEnvFile(join(dir, 'cluster.env'));
}

export async function cluster(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await execFileP('bash', [clusterScript, ...args], { env, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`hack/cluster ${args.join(" ")} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

export function clusterSync(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('bash', [clusterScript, ...args], { env, encoding: 'utf8' });
}

export interface SimNode { name: string; netns: string; ip: string; podCIDR: string }
export interface SimPod {
  namespace: string; name: string; node: string; uid: string; ip: string;
  netns: string; hostVeth: string; pid: number; containerId: string;
}

export async function addNode(name: string): Promise<SimNode> {
  await cluster(['node', 'add', name]);
  const e = readEnvFile(join(runDir(), 'nodes', `${name}.env`));
  return { name, netns: e.NODE_NETNS!, ip: e.NODE_IP!, podCIDR: e.POD_CIDR! };
}

export async function delNode(name: string): Promise<void> {
  await cluster(['node', 'del', name]);
}

export async function addPod(node: string, namespace: string, name: string, labels: Record<string, string> = {}): Promise<SimPod> {
  await cluster(['pod', 'add', node, namespace, name, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)]);
  return readPod(namespace, name);
}

export function readPod(namespace: string, name: string): SimPod {
  const e = readEnvFile(join(runDir(), 'pods', `${namespace}_${name}.env`));
  return {
    namespace, name, node: e.POD_NODE!, uid: e.POD_UID!, ip: e.POD_IP!, netns: e.POD_NETNS!,
    hostVeth: e.POD_HOST_VETH!, pid: Number(e.POD_PID), containerId: e.POD_CONTAINER_ID!,
  };
}

export async function delPod(namespace: string, name: string): Promise<void> {
  await cluster(['pod', 'del', namespace, name]);
}

/** Runs a command inside a network namespace (ip netns exec). */
export async function inNetns(netns: string, cmd: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, ...cmd], { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout;
}
