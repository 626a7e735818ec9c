// Thin, validated wrappers over iproute2 (`tc -j`, `ip -j`) for the tc mirror driver. Every
// argument that comes from a NodeTask is checked here before it reaches execFile (never a
// shell): interface names, addresses, numbers, hex cookies. Filters are compiled in process by
// libpcap (the addon's pcap_compile, as for captures) and reach tc as numbers only.
import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { VXLAN_DEFAULT_PORT } from '../../../../crds/src/index.js';
import { RingtapError } from '../../../../lib/errors.js';
import { type BpfInsn, compileFilterProgram } from '../../../../lib/native/filter.js';

const execFileP = promisify(execFile);

export type Hook = 'ingress' | 'egress';
export type { BpfInsn };

const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;
const COOKIE_RE = /^[0-9a-f]{2,32}$/;

export function checkIfName(name: string): string {
  if (!IFNAME_RE.test(name)) throw new RingtapError('ERR_RINGTAP_BAD_IFNAME', `'${name}' is not a valid interface name`);
  return name;
}

function checkInt(n: number, min: number, max: number, what: string): string {
  if (!Number.isInteger(n) || n < min || n > max) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `${what} ${n} is not an integer in ${min}..${max}`);
  return String(n);
}

async function run(cmd: 'tc' | 'ip' | 'iptables', args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 << 20, timeout: 15_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RingtapError('ERR_RINGTAP_TC', `${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

// ---- classic BPF ------------------------------------------------------------------------------

/** Match everything: `ret #-1` (cls_bpf: match, keep the default class). */
export const MATCH_ALL: BpfInsn[] = [{ code: 0x06, jt: 0, jf: 0, k: 0xffffffff }];

const SKF_AD_RANDOM = 0xfffff000 + 56; // SKF_AD_OFF + SKF_AD_RANDOM: a load of prandom_u32()

/**
 * 1-in-N sampling in front of a program: `ld rand; mod #N; jeq #0, keep, drop`. The kernel
 * here has neither act_sample nor act_gact (no `random determ/netrand`), but cls_bpf runs
 * classic BPF with the ancillary random load, so the sample is drawn in the classifier.
 */
export function withSampling(prog: BpfInsn[], n: number): BpfInsn[] {
  if (n <= 1) return prog;
  return [
    { code: 0x20, jt: 0, jf: 0, k: SKF_AD_RANDOM }, // BPF_LD|BPF_W|BPF_ABS
    { code: 0x94, jt: 0, jf: 0, k: n }, // BPF_ALU|BPF_MOD|BPF_K
    { code: 0x15, jt: 1, jf: 0, k: 0 }, // BPF_JMP|BPF_JEQ|BPF_K: 0 -> skip the drop
    { code: 0x06, jt: 0, jf: 0, k: 0 }, // ret #0: not sampled
    ...prog,
  ];
}

/** tc's `bytecode` argument: "N,code jt jf k,...". */
export function bytecodeArg(prog: BpfInsn[]): string {
  if (prog.length === 0 || prog.length > 4096) throw new RingtapError('ERR_RINGTAP_BAD_FILTER', `a classic BPF program has 1..4096 instructions, not ${prog.length}`);
  return `${prog.length},${prog.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k}`).join(',')}`;
}

/**
 * Compiles BPF text with libpcap, in process, to classic BPF instructions for Ethernet at the
 * largest snap length (the program's accept value; tc mirrors whole frames either way).
 */
export function compileBpf(text: string): BpfInsn[] {
  if (text.trim() === '') return MATCH_ALL;
  // pcap_compile reads a C string: text after a NUL would be dropped, not refused.
  if (text.length > 16384 || text.includes('\0')) throw new RingtapError('ERR_RINGTAP_BAD_FILTER', 'filter too long or contains NUL');
  return compileFilterProgram(text);
}

// ---- tc -----------------------------------------------------------------------------------------

export interface MirredAction { cookie?: string; toDev?: string; mirror: string; control?: string; packets: number; bytes: number; drops: number }
export interface TcFilter { pref: number; handle: string; kind: string; insns?: BpfInsn[]; actions: MirredAction[] }

interface RawFilter {
  pref: number;
  kind: string;
  options?: { handle?: string; bytecode?: { insns?: BpfInsn[] }; actions?: { kind: string; cookie?: string; to_dev?: string; mirred_action?: string; control_action?: { type?: string }; stats?: { packets?: number; bytes?: number; drops?: number } }[] };
}

/** The filters on one hook of a device, with their actions' cookies and statistics. */
export async function listFilters(dev: string, hook: Hook, all = false): Promise<TcFilter[]> {
  let out: string;
  try {
    out = await run('tc', ['-s', '-j', 'filter', 'show', 'dev', checkIfName(dev), hook]);
  } catch {
    return []; // no clsact qdisc, or the device went away
  }
  const raw = (out.trim() ? JSON.parse(out) : []) as RawFilter[];
  // Every filter, ours or not: other classifiers (u32) print their handle elsewhere.
  if (all) return raw.map((f) => ({ pref: f.pref, kind: f.kind, handle: f.options?.handle ?? '', actions: [] }));
  // tc prints one head line per (pref, protocol) without options; the filters carry a handle.
  return raw.filter((f) => f.options?.handle).map((f) => ({
    pref: f.pref, kind: f.kind, handle: f.options!.handle!,
    ...(f.options?.bytecode?.insns ? { insns: f.options.bytecode.insns } : {}),
    actions: (f.options?.actions ?? []).map((a) => ({
      ...(a.cookie ? { cookie: a.cookie } : {}), ...(a.to_dev ? { toDev: a.to_dev } : {}), mirror: `${a.kind}:${a.mirred_action ?? ''}`, ...(a.control_action?.type ? { control: a.control_action.type } : {}),
      packets: a.stats?.packets ?? 0, bytes: a.stats?.bytes ?? 0, drops: a.stats?.drops ?? 0,
    })),
  }));
}

export async function ensureClsact(dev: string): Promise<void> {
  const out = await run('tc', ['-j', 'qdisc', 'show', 'dev', checkIfName(dev)]);
  const qdiscs = JSON.parse(out || '[]') as { kind: string }[];
  if (qdiscs.some((q) => q.kind === 'clsact')) return;
  await run('tc', ['qdisc', 'add', 'dev', dev, 'clsact']);
}

/** Removes the clsact qdisc only when no filter of anybody's is left on it. */
export async function removeClsactIfEmpty(dev: string): Promise<boolean> {
  const left = [...(await listFilters(dev, 'ingress', true)), ...(await listFilters(dev, 'egress', true))];
  if (left.length > 0) return false;
  const qdiscs = JSON.parse((await run('tc', ['-j', 'qdisc', 'show', 'dev', checkIfName(dev)]).catch(() => '[]')) || '[]') as { kind: string }[];
  if (!qdiscs.some((q) => q.kind === 'clsact')) return false;
  await run('tc', ['qdisc', 'del', 'dev', dev, 'clsact']).catch(() => undefined);
  return true;
}

export interface MirrorFilter { dev: string; hook: Hook; prio: number; prog: BpfInsn[]; dest: string; redirect?: boolean; cookie: string }

export async function addMirrorFilter(f: MirrorFilter): Promise<void> {
  if (!COOKIE_RE.test(f.cookie)) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `bad cookie ${f.cookie}`);
  await run('tc', [
    'filter', 'add', 'dev', checkIfName(f.dev), f.hook, 'prio', checkInt(f.prio, 1, 0xffff, 'prio'), 'protocol', 'all',
    'bpf', 'bytecode', bytecodeArg(f.prog),
    // A copy then `continue`: classification goes on as if this filter were not there, so the
    // filters after ours (other mirrors, other tools) still see every packet. A redirect (the
    // VXLAN receive side) ends it: the frame belongs to the collector.
    'action', 'mirred', 'egress', ...(f.redirect ? ['redirect', 'dev', checkIfName(f.dest)] : ['mirror', 'dev', checkIfName(f.dest), 'continue']), 'cookie', f.cookie,
  ]);
}

export async function deleteFilter(dev: string, hook: Hook, f: Pick<TcFilter, 'pref' | 'handle' | 'kind'>): Promise<void> {
  if (!/^0x[0-9a-f]+$/.test(f.handle) || f.kind !== 'bpf') throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `refusing to delete filter ${f.kind} ${f.handle}`);
  await run('tc', ['filter', 'del', 'dev', checkIfName(dev), hook, 'prio', checkInt(f.pref, 1, 0xffff, 'prio'), 'handle', f.handle, 'protocol', 'all', 'bpf']);
}

// ---- links ------------------------------------------------------------------------------------

export type GreKind = 'gretap' | 'ip6gretap' | 'erspan' | 'ip6erspan';
const GRE_KINDS: readonly string[] = ['gretap', 'ip6gretap', 'erspan', 'ip6erspan'];

/** A tunnel device's parameters as `ip -d -j link` prints them (keys as dotted quads). */
export interface GreInfo { remote?: string; local?: string; okey?: string; pmtudisc?: boolean; ignore_df?: boolean; erspan_ver?: number; erspan_index?: number; erspan_dir?: string }
export interface Link { ifname: string; mtu?: number; kind?: string; vxlan?: { id?: number; remote?: string; port?: number }; gre?: GreInfo }

export async function listLinks(): Promise<Link[]> {
  const raw = JSON.parse(await run('ip', ['-d', '-j', 'link', 'show'])) as { ifname: string; mtu?: number; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }[];
  return raw.map((l) => ({
    ifname: l.ifname,
    ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    ...(l.linkinfo?.info_kind === 'vxlan' ? { vxlan: { ...l.linkinfo.info_data } as Link['vxlan'] } : {}),
    ...(GRE_KINDS.includes(l.linkinfo?.info_kind ?? '') ? { gre: { ...l.linkinfo!.info_data } as GreInfo } : {}),
  }));
}

export interface VxlanSpec { name: string; vni: number; port: number; remote?: string }

/** Creates (or recreates, when it differs) a VXLAN device and sets it up. */
export async function ensureVxlan(v: VxlanSpec, existing: Link | undefined): Promise<void> {
  checkIfName(v.name);
  if (v.remote !== undefined && isIP(v.remote) === 0) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `'${v.remote}' is not an IP address`);
  const same = existing?.kind === 'vxlan' && existing.vxlan?.id === v.vni && (existing.vxlan?.port ?? VXLAN_DEFAULT_PORT) === v.port && (existing.vxlan?.remote ?? undefined) === v.remote;
  if (existing && !same) await deleteLink(v.name);
  if (!existing || !same) {
    await run('ip', [
      'link', 'add', v.name, 'type', 'vxlan', 'id', checkInt(v.vni, 0, 16777215, 'vni'),
      ...(v.remote ? ['remote', v.remote] : []), 'dstport', checkInt(v.port, 1, 65535, 'port'), 'nolearning',
    ]);
  }
  await run('ip', ['link', 'set', 'dev', v.name, 'up']);
}

// ---- who may send to a receive device -----------------------------------------------------------
//
// A VXLAN device takes every datagram to its port that carries its VNI, whoever sent it; the
// kernel has no source check (drivers/net/vxlan/vxlan_core.c). The VNI of a mirror is derived
// from its UID, which anyone who can read the PortMirror knows. So before decapsulation, in the
// node's INPUT chain, a datagram to the port whose VXLAN header carries the VNI (the u32 match
// reads it 12 bytes into the UDP header: 8 of UDP, 4 of flags) jumps to a chain of the mirror's
// own that returns for its senders and drops the rest. IPv4 only: an IPv6 sender is not
// filtered (ip6tables would need the same chain).

/** The INPUT rule that sends one VNI's datagrams to its chain. */
function rxJump(chain: string, vni: number, port: number): string[] {
  return ['INPUT', '-p', 'udp', '--dport', String(checkInt(port, 1, 65535, 'port')), '-m', 'u32', '--u32', `0>>22&0x3C@12>>8=${checkInt(vni, 0, 16777215, 'vni')}`, '-j', chain];
}

/** The rules of a receive chain: its senders return (on to the VXLAN socket), everything else is dropped. */
export function rxChainRules(chain: string, senders: readonly string[]): string[][] {
  return [...senders.filter((a) => isIP(a) === 4).map((a) => ['-A', chain, '-s', `${a}/32`, '-j', 'RETURN']), ['-A', chain, '-j', 'DROP']];
}

/** Makes the node accept one VNI on the port only from `senders` (idempotent; rewrites the chain when asked). */
export async function ensureRxFilter(chain: string, vni: number, port: number, senders: readonly string[]): Promise<void> {
  if (!/^[A-Za-z0-9-]{1,28}$/.test(chain)) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `'${chain}' is not a chain name`);
  for (const a of senders) if (isIP(a) === 0) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `'${a}' is not an IP address`);
  await run('iptables', ['-w', '-N', chain]).catch(() => undefined); // exists already
  const old = (await run('iptables', ['-w', '-S', chain])).split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
  // The new rules go in above the old ones, which then go: at no moment does the chain let
  // everybody in, nor drop a sender that both the old and the new rules let in.
  const rules = rxChainRules(chain, senders);
  for (const rule of [...rules].reverse()) await run('iptables', ['-w', '-I', chain, '1', ...rule.slice(2)]);
  for (let i = 0; i < old; i++) await run('iptables', ['-w', '-D', chain, String(rules.length + 1)]);
  const jump = rxJump(chain, vni, port);
  await run('iptables', ['-w', '-C', ...jump]).catch(() => run('iptables', ['-w', '-I', ...jump.slice(0, 1), '1', ...jump.slice(1)]));
}

/** Removes a receive chain and its INPUT rule (nothing if they are not there). */
export async function removeRxFilter(chain: string, vni: number, port: number): Promise<void> {
  await run('iptables', ['-w', '-D', ...rxJump(chain, vni, port)]).catch(() => undefined);
  await run('iptables', ['-w', '-F', chain]).catch(() => undefined);
  await run('iptables', ['-w', '-X', chain]).catch(() => undefined);
}

export async function deleteLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', 'dev', checkIfName(name)]);
}

/**
 * A transmit-only GRE tunnel device for mirrored frames: gretap (Ethernet over GRE, the key
 * optional) or erspan (ERSPAN over GRE: type II with version 1, type III with version 2).
 * ERSPAN's GRE header carries a sequence number and no key (the kernel insists on `seq key`
 * and puts the key in the ERSPAN header as the 10-bit session id, net/ipv4/ip_gre.c
 * erspan_validate); the index (type II) or direction and hardware id (type III) are the
 * device's, the same for every frame. IPv6 remotes use the ip6 variants (net/ipv6/ip6_gre.c).
 */
export interface GreSpec {
  name: string;
  remote: string;
  /**
   * The source address; needed for IPv6 (an ip6 tunnel without one never transmits: no
   * IP6_TNL_F_CAP_XMIT, net/ipv6/ip6_tunnel.c ip6_tnl_get_cap). IPv4 picks it per packet.
   */
  local?: string;
  /** gretap: the GRE key of every frame (none when undefined). */
  key?: number;
  erspan?: { version: 1 | 2; sessionId: number; index?: number; direction?: 'ingress' | 'egress' };
}

export function greKind(g: Pick<GreSpec, 'remote' | 'erspan'>): GreKind {
  const family = isIP(g.remote);
  if (family === 0) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `'${g.remote}' is not an IP address`);
  return `${family === 6 ? 'ip6' : ''}${g.erspan ? 'erspan' : 'gretap'}`;
}

/** The `ip link add` arguments of a GRE device (validated: nothing unchecked reaches ip). */
export function greLinkArgs(g: GreSpec): string[] {
  const kind = greKind(g);
  if (g.local !== undefined && isIP(g.local) !== isIP(g.remote)) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `local '${g.local}' is not an address of the remote's family`);
  const args = ['link', 'add', checkIfName(g.name), ...(kind === 'gretap' ? ['mtu', String(GRETAP_MTU)] : []), 'type', kind, 'remote', g.remote, ...(g.local ? ['local', g.local] : [])];
  if (!g.erspan) {
    if (g.key !== undefined) args.push('key', checkInt(g.key, 0, 0xffffffff, 'key'));
    // IPv4 gretap: the copy of a full-size frame is sent whole, the outer packet fragmented
    // where it must be; with the defaults (MTU 1462, outer DF, the inner DF honoured) every
    // copy above 1462 bytes would be dropped as a tx error (net/ipv4/ip_tunnel.c tnl_update_pmtu).
    return kind === 'gretap' ? [...args, 'nopmtudisc', 'ignore-df'] : args;
  }
  const e = g.erspan;
  args.push('seq', 'key', checkInt(e.sessionId, 0, 1023, 'ERSPAN session id'), 'erspan_ver', checkInt(e.version, 1, 2, 'ERSPAN version'));
  // iproute2 takes an index of 1 and up only; left out, the kernel's is 0.
  if (e.version === 1) return e.index ? [...args, 'erspan', checkInt(e.index, 1, 0xfffff, 'ERSPAN index')] : args;
  return [...args, 'erspan_dir', e.direction ?? 'ingress', 'erspan_hwid', '0'];
}

/** An IPv4 gretap's MTU: any frame a source may carry (below the kernel's maximum, 65535 less the headers). */
export const GRETAP_MTU = 65000;

/** A dotted-quad key as ip prints it ("0.0.0.7") as a number. */
function keyOf(dotted: string | undefined): number | undefined {
  if (dotted === undefined) return undefined;
  const o = dotted.split('.').map(Number);
  return o.length === 4 && o.every((x) => Number.isInteger(x)) ? o.reduce((a, x) => a * 256 + x, 0) : undefined;
}

/** True when an existing device is already the one a spec asks for. */
export function sameGre(existing: Link | undefined, g: GreSpec): boolean {
  const i = existing?.gre;
  if (!i || existing.kind !== greKind(g) || i.remote !== g.remote || (i.local ?? 'any') !== (g.local ?? 'any')) return false;
  if (!g.erspan) {
    const sameKey = keyOf(i.okey) === g.key || (g.key === undefined && keyOf(i.okey) === 0);
    return sameKey && (existing.kind !== 'gretap' || (i.pmtudisc === false && i.ignore_df === true && existing.mtu === GRETAP_MTU));
  }
  const e = g.erspan;
  return keyOf(i.okey) === e.sessionId && i.erspan_ver === e.version
    && (e.version === 1 ? (i.erspan_index ?? 0) === (e.index ?? 0) : i.erspan_dir === (e.direction ?? 'ingress'));
}

/** The source address this node would use toward an address (`ip route get`). */
export async function routeSource(address: string): Promise<string> {
  if (isIP(address) === 0) throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `'${address}' is not an IP address`);
  const routes = JSON.parse(await run('ip', ['-j', 'route', 'get', address])) as { prefsrc?: string }[];
  const src = routes[0]?.prefsrc;
  if (!src || isIP(src) === 0) throw new RingtapError('ERR_RINGTAP_TC', `no source address on the route to ${address}`);
  return src;
}

/** Creates (or recreates, when it differs) a GRE tunnel device and sets it up. */
export async function ensureGre(g: GreSpec, existing: Link | undefined): Promise<void> {
  const args = greLinkArgs(g);
  const same = sameGre(existing, g);
  if (existing && !same) await deleteLink(g.name);
  if (!same) await run('ip', args);
  await run('ip', ['link', 'set', 'dev', g.name, 'up']);
}
