// The agent's way into a pod whose processes run as another user, with the chart's privileges
// (no CAP_SYS_PTRACE): /proc/PID/ns/net is denied, the namespace pinned by the runtime is found
// through /proc/PID/net, and where none is pinned the error says permission denied, not "pod
// not found". Real kernel: a pinned network namespace, a cgroup named as kubelet names a pod's,
// a process running as 65535 in both; the resolver runs in a process whose capability bounding
// set lacks CAP_SYS_PTRACE (capsh), as the agent's container does.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolvePodNetns } from '../../agent/src/node/podnetns.js';
import { repoRoot } from '../support/cluster.js';

const execFileP = promisify(execFile);
const uid = randomUUID();
let tmp: string, pinned: string, empty: string, cgroup: string, proc: ChildProcess | undefined;

function cgroupRoot(): string {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return '/sys/fs/cgroup';
  return '/sys/fs/cgroup/pids';
}

/** resolvePodNetns in a node process without CAP_SYS_PTRACE, from the compiled agent. */
async function resolveWithoutPtrace(netnsDir: string): Promise<{ ok?: { pid: number; netnsPath: string; netnsInode: number }; err?: { code: string; message: string } }> {
  const mod = join(repoRoot, 'dist/agent/src/node/podnetns.js');
  if (!existsSync(mod)) throw new Error(`${mod} is missing: npm run build`);
  const js = `import(${JSON.stringify(mod)}).then((m) => m.resolvePodNetns(${JSON.stringify(uid)}, '/proc', ${JSON.stringify(netnsDir)}))
    .then((ok) => console.log(JSON.stringify({ ok })), (e) => console.log(JSON.stringify({ err: { code: e.code, message: e.message } })))`;
  const node = join(repoRoot, 'node_modules/.bin/node');
  const { stdout } = await execFileP('capsh', ['--drop=cap_sys_ptrace', '--', '-c', `exec ${node} --input-type=module -e '${js.replaceAll("'", "'\\''")}'`]);
  return JSON.parse(stdout);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ringtap-podnetns-'));
  mkdirSync(join(tmp, 'pinned'));
  mkdirSync(join(tmp, 'empty'));
  empty = join(tmp, 'empty');
  pinned = join(tmp, 'pinned', 'cni-test');
  writeFileSync(pinned, '');
  // A persistent network namespace, pinned by a bind mount as a runtime pins a sandbox's.
  await execFileP('unshare', [`--net=${pinned}`, 'true']);
  cgroup = join(cgroupRoot(), `ringtap-podnetns-${process.pid}`, 'kubepods', 'besteffort', `pod${uid}`, 'c0');
  mkdirSync(cgroup, { recursive: true });
  // The pod's process: in the pod's cgroup and netns, as uid 65535 (the pause process's user).
  proc = spawn('bash', ['-c', 'echo $$ > "$1/cgroup.procs" && exec nsenter --net="$2" setpriv --reuid 65535 --regid 65535 --clear-groups sleep 600', '_', cgroup, pinned], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').trim() || !existsSync(`/proc/${proc.pid}`) || !readFileSync(`/proc/${proc.pid}/status`, 'utf8').includes('65535')) {
    if (Date.now() > deadline) throw new Error('the pod process did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}, 30_000);

afterAll(async () => {
  if (proc?.pid) {
    proc.kill('SIGKILL');
    await new Promise((r) => proc!.once('exit', r));
  }
  let dir = cgroup;
  for (let i = 0; i < 5; i += 1) {
    try { rmdirSync(dir); } catch { /* already gone */ }
    dir = join(dir, '..');
  }
  await execFileP('umount', [pinned]).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

describe('resolvePodNetns without CAP_SYS_PTRACE', () => {
  test('/proc/PID/ns/net of the pod is denied; its pinned namespace is found instead', async () => {
    const denied = await execFileP('capsh', ['--drop=cap_sys_ptrace', '--', '-c', `stat -L /proc/${proc!.pid}/ns/net`]).then(() => 'allowed', (e: { stderr: string }) => e.stderr);
    expect(denied).toContain('Permission denied');
    const r = await resolveWithoutPtrace(join(tmp, 'pinned'));
    expect(r.err).toBeUndefined();
    expect(r.ok).toEqual({ uid, pid: proc!.pid, netnsPath: pinned, netnsInode: statSync(pinned).ino });
  }, 30_000);

  test('no pinned namespace is the pod\'s: permission denied, said as such', async () => {
    const r = await resolveWithoutPtrace(empty);
    expect(r.ok).toBeUndefined();
    expect(r.err?.code).toBe('ERR_RINGTAP_NETNS_PERMISSION_DENIED');
    expect(r.err?.message).toContain(`permission denied (EACCES) opening /proc/${proc!.pid}/ns/net of pod ${uid}`);
    expect(r.err?.message).toContain('CAP_SYS_PTRACE');
  }, 30_000);

  test('with CAP_SYS_PTRACE (this test process) /proc/PID/ns/net itself serves', async () => {
    const r = await resolvePodNetns(uid, '/proc', empty);
    expect(r).toEqual({ uid, pid: proc!.pid, netnsPath: `/proc/${proc!.pid}/ns/net`, netnsInode: statSync(pinned).ino });
  });

  test('a pod with no process on the node is not found', async () => {
    await expect(resolvePodNetns(randomUUID(), '/proc', empty)).rejects.toMatchObject({ code: 'ERR_RINGTAP_POD_NOT_FOUND' });
  });
});
