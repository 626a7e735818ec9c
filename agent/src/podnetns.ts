// Finding a pod's network namespace and host-side veth from its UID alone, the way a node
// agent with hostPID must: no CRI call, no kubelet. A kubelet puts every container of a pod
// in a cgroup whose path names the pod UID:
//   cgroupfs driver: .../kubepods/<qos>/pod<uid>/<container-id>
//   systemd driver:  .../kubepods-<qos>-pod<uid with '-' as '_'>.slice/cri-containerd-<id>.scope
// so /proc/<pid>/cgroup leads from the UID to a PID, and /proc/<pid>/ns/net to the netns.
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const UID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class PodNetnsError extends Error {
  constructor(readonly code: 'ERR_RINGTAP_BAD_POD_UID' | 'ERR_RINGTAP_POD_NOT_FOUND' | 'ERR_RINGTAP_VETH_NOT_FOUND', message: string) {
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

/** Resolves a pod UID to its network namespace through its processes' cgroups. */
export async function resolvePodNetns(uid: string, procRoot = '/proc'): Promise<PodNetns> {
  for (const pid of await findPodPids(uid, procRoot)) {
    const netnsPath = join(procRoot, String(pid), 'ns/net');
    try {
      const st = await stat(netnsPath);
      // A hostNetwork pod shares the host's netns: that is the pod's netns too.
      return { uid, pid, netnsPath, netnsInode: st.ino };
    } catch {
      continue;
    }
  }
  throw new PodNetnsError('ERR_RINGTAP_POD_NOT_FOUND', `no process of pod ${uid} found on this node (no cgroup path contains pod${uid})`);
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
