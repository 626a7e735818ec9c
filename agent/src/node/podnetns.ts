// Finding a pod's network namespace and host-side veth from its UID alone, the way a node
// agent with hostPID must: no CRI call, no kubelet. A kubelet puts every container of a pod
// in a cgroup whose path names the pod UID:
//   cgroupfs driver: .../kubepods/<qos>/pod<uid>/<container-id>
//   systemd driver:  .../kubepods-<qos>-pod<uid with '-' as '_'>.slice/cri-containerd-<id>.scope
// so /proc/<pid>/cgroup leads from the UID to a PID, and /proc/<pid>/ns/net to the netns.
//
// Opening /proc/<pid>/ns/net is a ptrace access check: a pod's processes usually run as other
// users (the pause process as 65535, apps as theirs), and a root agent without CAP_SYS_PTRACE
// gets EACCES. The runtime pins every pod sandbox's namespace under /run/netns (containerd,
// CRI-O), and opening a pinned namespace is a plain file open. Which pinned namespace is the
// pod's: /proc/<pid>/net/dev, unlike /proc/<pid>/ns/net, is readable without ptrace rights,
// and its inode is that network namespace's own /proc/net entry (each namespace registers its
// own), so it equals the inode of /proc/self/net/dev seen from inside the pinned namespace.
// The agent therefore needs no CAP_SYS_PTRACE (README, "Security model").
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const UID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class PodNetnsError extends Error {
  constructor(readonly code: 'ERR_RINGTAP_BAD_POD_UID' | 'ERR_RINGTAP_POD_NOT_FOUND' | 'ERR_RINGTAP_NETNS_PERMISSION_DENIED' | 'ERR_RINGTAP_VETH_NOT_FOUND', message: string) {
    super(message);
    this.name = 'PodNetnsError';
  }
}

/** True when one /proc/<pid>/cgroup file's content places the process in the pod with this UID. */
export function cgroupMatchesPod(cgroupFile: string, uid: string): boolean {
  const dashed = `pod${uid}`;
  const underscored = `pod${uid.replaceAll('-', '_')}`;
  for (const line of cgroupFile.split('\n')) {
    // hierarchy-ID:controller-list:cgroup-path
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    for (const part of path.split('/')) {
      if (part === dashed || part === `${underscored}.slice` || part.endsWith(`-${underscored}.slice`)) return true;
    }
  }
  return false;
}

/** PIDs of the processes in the pod's cgroups, in ascending order. */
export async function findPodPids(uid: string, procRoot = '/proc'): Promise<number[]> {
  if (!UID_RE.test(uid)) throw new PodNetnsError('ERR_RINGTAP_BAD_POD_UID', `pod uid '${uid}' is not a UUID`);
  const pids: number[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    let content: string;
    try {
      content = await readFile(join(procRoot, entry, 'cgroup'), 'utf8');
    } catch {
      continue; // the process exited while we looked
    }
    if (cgroupMatchesPod(content, uid)) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

export interface PodNetns {
  uid: string;
  pid: number;
  /** /proc/<pid>/ns/net: valid while that process lives. */
  netnsPath: string;
  /** The namespace's inode: two paths name the same netns when these are equal. */
  netnsInode: number;
}

/** Where the container runtime pins pod sandboxes' network namespaces, as the agent sees it. */
export const DEFAULT_NETNS_DIR = '/run/netns';

/**
 * Resolves a pod UID to its network namespace through its processes' cgroups: /proc/<pid>/ns/net
 * where the agent may open it, else the namespace pinned under netnsDir that the pod's
 * processes are in.
 */
export async function resolvePodNetns(uid: string, procRoot = '/proc', netnsDir = process.env.RINGTAP_NETNS_DIR ?? DEFAULT_NETNS_DIR): Promise<PodNetns> {
  const pids = await findPodPids(uid, procRoot);
  let denied: { pid: number; code: string } | undefined;
  for (const pid of pids) {
    const netnsPath = join(procRoot, String(pid), 'ns/net');
    try {
      const st = await stat(netnsPath);
      // A hostNetwork pod shares the host's netns: that is the pod's netns too.
      return { uid, pid, netnsPath, netnsInode: st.ino };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EACCES' || code === 'EPERM') denied ??= { pid, code };
      // ENOENT: the process exited while we looked.
    }
  }
  if (denied) {
    const pinned = await pinnedNetnsOf(denied.pid, procRoot, netnsDir);
    if (pinned) return { uid, pid: denied.pid, netnsPath: pinned.path, netnsInode: pinned.inode };
    throw new PodNetnsError('ERR_RINGTAP_NETNS_PERMISSION_DENIED',
      `permission denied (${denied.code}) opening ${join(procRoot, String(denied.pid), 'ns/net')} of pod ${uid}: its processes run as another user and entering them through /proc needs CAP_SYS_PTRACE; and no network namespace pinned under ${netnsDir} is the pod's`);
  }
  if (pids.length > 0) throw new PodNetnsError('ERR_RINGTAP_POD_NOT_FOUND', `the processes of pod ${uid} exited while the agent looked at them`);
  throw new PodNetnsError('ERR_RINGTAP_POD_NOT_FOUND', `no process of pod ${uid} found on this node (no cgroup path contains pod${uid})`);
}

/** Pinned namespace (path and nsfs inode) -> inode of /proc/self/net/dev inside it. */
const procNetInodes = new Map<string, number>();

/** The namespace pinned under netnsDir that process pid is in, if any. */
async function pinnedNetnsOf(pid: number, procRoot: string, netnsDir: string): Promise<{ path: string; inode: number } | undefined> {
  let want: number;
  let names: string[];
  try {
    want = (await stat(join(procRoot, String(pid), 'net/dev'))).ino;
    names = await readdir(netnsDir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const path = join(netnsDir, name);
    let inode: number;
    try {
      inode = (await stat(path)).ino;
    } catch {
      continue;
    }
    const key = `${path}:${inode}`;
    let procNet = procNetInodes.get(key);
    if (procNet === undefined) {
      try {
        const { stdout } = await execFileP('nsenter', [`--net=${path}`, 'stat', '-c', '%i', '/proc/self/net/dev']);
        procNet = Number(stdout.trim());
      } catch {
        continue; // not a namespace (or gone)
      }
      // Namespaces come and go with pods: keep the cache to what is pinned now.
      if (procNetInodes.size > 4 * names.length + 64) procNetInodes.clear();
      procNetInodes.set(key, procNet);
    }
    if (procNet === want) return { path, inode };
  }
  return undefined;
}

interface IpLink { ifindex: number; ifname: string; link_index?: number; linkinfo?: { info_kind?: string } }

async function ipLinks(netnsPath?: string): Promise<IpLink[]> {
  const args = ['-j', '-d', 'link', 'show'];
  const { stdout } = netnsPath
    ? await execFileP('nsenter', [`--net=${netnsPath}`, 'ip', ...args])
    : await execFileP('ip', args);
  return JSON.parse(stdout) as IpLink[];
}

export interface PodInterface { name: string; ifindex: number; peerIfindex?: number }

/** The pod's interfaces (inside its netns), loopback excluded. */
export async function podInterfaces(netnsPath: string): Promise<PodInterface[]> {
  return (await ipLinks(netnsPath))
    .filter((l) => l.ifname !== 'lo')
    .map((l) => ({ name: l.ifname, ifindex: l.ifindex, ...(l.link_index ? { peerIfindex: l.link_index } : {}) }));
}

/**
 * The host-side veth of a pod interface, in the agent's own (host) network namespace: the
 * veth whose ifindex is the pod interface's peer index and whose peer index is the pod
 * interface's ifindex. Both ways must agree, since ifindexes are only unique per namespace.
 * hostNetnsPath names the host namespace when it is not the caller's own (tests, simulated nodes).
 */
export async function findHostVeth(netnsPath: string, podIfname = 'eth0', hostNetnsPath?: string): Promise<string> {
  const pod = (await ipLinks(netnsPath)).find((l) => l.ifname === podIfname);
  if (!pod?.link_index) {
    throw new PodNetnsError('ERR_RINGTAP_VETH_NOT_FOUND', `pod interface ${podIfname} in ${netnsPath} is not a veth`);
  }
  const host = (await ipLinks(hostNetnsPath)).find(
    (l) => l.linkinfo?.info_kind === 'veth' && l.ifindex === pod.link_index && l.link_index === pod.ifindex,
  );
  if (!host) {
    throw new PodNetnsError('ERR_RINGTAP_VETH_NOT_FOUND', `no veth in the host namespace peers with ${podIfname} (ifindex ${pod.ifindex}) of ${netnsPath}`);
  }
  return host.ifname;
}
