// The real node's side of the tests: kubectl against the cluster, the node's state files, the
// host's state that a real node touches (for the check that `hack/cluster down` restores it).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readEnvFile, runDir } from '../support/cluster.js';

const execFileP = promisify(execFile);

export function kubectlPath(): string {
  const cache = process.env.RINGTAP_CACHE ?? join(homedir(), '.cache/ringtap');
  const dir = readdirSync(join(cache, 'bin')).find((d) => d.startsWith('k8s-') && existsSync(join(cache, 'bin', d, 'kubectl')));
  if (!dir) throw new Error('Kubernetes binaries not built (bash hack/build-controlplane.sh)');
  return join(cache, 'bin', dir, 'kubectl');
}

/** kubectl with the run's admin kubeconfig; rejects with kubectl's stderr. */
export async function kubectl(args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await execFileP(kubectlPath(), ['--kubeconfig', join(runDir(), 'admin.kubeconfig'), ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')}: ${e.stderr || e.message}`, { cause: err });
  }
}

export interface RealNode { name: string; netns: string; ip: string; podCIDR: string; dir: string }

export function readRealNode(name: string): RealNode {
  const e = readEnvFile(join(runDir(), 'nodes', `${name}.env`));
  return { name, netns: e.NODE_NETNS!, ip: e.NODE_IP!, podCIDR: e.POD_CIDR!, dir: join(runDir(), 'real', name) };
}

/** What a real node may change on the host outside its run directory. */
export interface HostState {
  sysctls: Record<string, string>;
  paths: Record<string, boolean>;
  cniNetns: string[];
  kubepods: string[];
  rootChains: string[];
  rootLinks: string[];
}

export const HOST_PATHS = ['/var/log/containers', '/var/log/pods', '/var/lib/kubelet', '/run/containerd', '/var/lib/cni', '/etc/cni',
  '/opt/cni', '/opt/containerd', '/usr/libexec/kubernetes', '/var/lib/containerd', '/var/lib/containers', '/run/ringtap/realnode'];
const SYSCTLS = ['vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops', 'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes', 'net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];

function lines(s: string): string[] {
  return s.split('\n').map((l) => l.trim()).filter(Boolean);
}

export async function hostState(): Promise<HostState> {
  const sysctls: Record<string, string> = {};
  for (const k of SYSCTLS) {
    const f = `/proc/sys/${k.replaceAll('.', '/')}`;
    sysctls[k] = existsSync(f) ? readFileSync(f, 'utf8').trim() : '(absent)';
  }
  const paths = Object.fromEntries(HOST_PATHS.map((p) => [p, existsSync(p)]));
  const cniNetns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith('cni-')).sort() : [];
  const kubepods = readdirSync('/sys/fs/cgroup').flatMap((c) => {
    const p = join('/sys/fs/cgroup', c, 'kubepods');
    return existsSync(p) ? [p] : [];
  }).concat(existsSync('/sys/fs/cgroup/kubepods') ? ['/sys/fs/cgroup/kubepods'] : []);
  const rootChains = lines((await execFileP('iptables-save', [])).stdout).filter((l) => l.startsWith(':')).map((l) => l.split(' ')[0]!.slice(1)).sort();
  const rootLinks = lines((await execFileP('ip', ['-o', 'link', 'show'])).stdout).map((l) => l.split(':')[1]!.trim().split('@')[0]!).sort();
  return { sysctls, paths, cniNetns, kubepods, rootChains, rootLinks };
}

/** PIDs whose command line names the directory (every process of a real node does). */
export function processesNaming(dir: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(dir)) out.push({ pid: Number(e), cmdline });
    } catch { /* exited */ }
  }
  return out;
}

/** Mount points under the directory, and /var/log/containers links into it. */
export function leftoversNaming(dir: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(dir));
  const links = existsSync('/var/log/containers')
    ? readdirSync('/var/log/containers').map((f) => join('/var/log/containers', f)).filter((f) => {
      try { return readlinkSync(f).startsWith(dir); } catch { return false; }
    })
    : [];
  return [...mounts, ...links];
}

/** A pod of the test-app image on the real node. */
export function testAppPod(namespace: string, name: string, labels: Record<string, string>): object {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      nodeSelector: { 'ringtap.dev/node-kind': 'real' },
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: 'localhost/ringtap/testapp:dev', imagePullPolicy: 'Never' }],
    },
  };
}
