// Network namespaces joined by veth pairs for native-engine tests and the capture benchmark.
// Every namespace created here is registered, so a failing test (or a crashing process) still
// deletes it: call destroyAll() in afterAll, and an 'exit' hook catches the rest.
import { execFileSync } from 'node:child_process';

export interface VethPair {
  /** Namespace names (ip netns) and their paths for setns. */
  nsA: string;
  nsB: string;
  nsPathA: string;
  nsPathB: string;
  ifA: string;
  ifB: string;
  macA: string;
  macB: string;
  ipA: string;
  ipB: string;
  destroy(): void;
}

const live = new Set<string>();
let counter = 0;
let hooked = false;

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command inside a namespace and returns its stdout. */
export function nsExec(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function deleteNs(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  live.delete(ns);
}

function addNs(ns: string): void {
  if (!hooked) {
    hooked = true;
    process.once('exit', destroyAll);
  }
  ip('netns', 'add', ns);
  live.add(ns);
  // No IPv6: no ND/MLD chatter in exact-count tests.
  nsExec(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
}

export function macOf(ns: string, ifname: string): string {
  const out = ip('-n', ns, '-br', 'link', 'show', ifname).trim().split(/\s+/);
  const mac = out[2];
  if (!mac) throw new Error(`no MAC for ${ifname} in ${ns}`);
  return mac;
}

/**
 * Two fresh namespaces A and B joined by a veth pair (A: 10.x.y.1/30, B: 10.x.y.2/30).
 * `tag` keeps names unique per test file; the process id keeps them unique per run.
 */
export function createVethPair(tag: string): VethPair {
  const n = ++counter;
  const base = `rt${tag}${process.pid}n${n}`;
  const nsA = `${base}a`;
  const nsB = `${base}b`;
  // Interface names are at most 15 characters.
  const short = `${tag.slice(0, 3)}${(process.pid % 100000).toString(36)}${n}`;
  const ifA = `${short}a`.slice(-15);
  const ifB = `${short}b`.slice(-15);
  const subnet = `10.${200 + (process.pid % 50)}.${(n * 4) % 256}`;
  const ipA = `${subnet}.1`;
  const ipB = `${subnet}.2`;
  try {
    addNs(nsA);
    addNs(nsB);
    ip('link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', `${ipA}/30`, 'dev', ifA);
    ip('-n', nsB, 'addr', 'add', `${ipB}/30`, 'dev', ifB);
    ip('-n', nsA, 'link', 'set', ifA, 'up');
    ip('-n', nsB, 'link', 'set', ifB, 'up');
  } catch (e) {
    deleteNs(nsA);
    deleteNs(nsB);
    throw e;
  }
  return {
    nsA,
    nsB,
    nsPathA: `/run/netns/${nsA}`,
    nsPathB: `/run/netns/${nsB}`,
    ifA,
    ifB,
    macA: macOf(nsA, ifA),
    macB: macOf(nsB, ifB),
    ipA,
    ipB,
    destroy() {
      deleteNs(nsA);
      deleteNs(nsB);
    },
  };
}

/** Adds another veth pair between the same two namespaces; returns the two interface names. */
export function addVeth(pair: VethPair, suffix: string): { ifA: string; ifB: string; macA: string; macB: string } {
  const ifA = `${pair.ifA.slice(0, 12)}${suffix}A`.slice(-15);
  const ifB = `${pair.ifB.slice(0, 12)}${suffix}B`.slice(-15);
  ip('link', 'add', ifA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', pair.nsB);
  ip('-n', pair.nsA, 'link', 'set', ifA, 'up');
  ip('-n', pair.nsB, 'link', 'set', ifB, 'up');
  return { ifA, ifB, macA: macOf(pair.nsA, ifA), macB: macOf(pair.nsB, ifB) };
}

export interface Namespace {
  name: string;
  /** /run/netns/NAME, for setns. */
  path: string;
  destroy(): void;
}

/** One fresh, empty namespace (lo up, no IPv6), deleted by destroy() or destroyAll(). */
export function createNamespace(tag: string): Namespace {
  const name = `rt${tag}${process.pid}n${++counter}`;
  addNs(name);
  return { name, path: `/run/netns/${name}`, destroy: () => deleteNs(name) };
}

/** Deletes every namespace this process created (and with them their veth pairs). */
export function destroyAll(): void {
  for (const ns of [...live]) deleteNs(ns);
}
