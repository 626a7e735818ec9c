// The tcmirror driver: carries out a NodeTask's portMirror with tc clsact + cls_bpf +
// act_mirred (net/sched/act_mirred.c, include/uapi/linux/tc_act/tc_mirred.h, tc-mirred(8)). For each source interface it installs one
// filter per hook:
//
//   tc filter add dev SRC {ingress|egress} prio 16 protocol all bpf bytecode "<cBPF>" \
//      action mirred egress mirror dev DEST continue cookie <PortMirror cookie>
//
// Direction mapping. Directions in the spec are the source's point of view. A node interface's
// ingress is its tc ingress hook. A pod is mirrored on the host side of its veth, where the
// directions turn round: what the pod receives (pod ingress) is what the host veth transmits
// (tc egress hook), and what the pod sends (pod egress) arrives at the host veth (tc ingress).
//
// Ownership. Every action we install carries a 16-byte tc cookie: "rtap" + the first 12 bytes
// of the PortMirror's UID. The agent lists filters and acts only on those with its cookie, so
// reconcile is idempotent, a restarted agent adopts what it finds (no duplicates), and cleanup
// removes exactly its own filters (another tool's filters on the same device survive).
//
// Destinations. A node interface; a collector pod on this node (its host veth: a frame sent
// out of it arrives in the pod); a remote collector over VXLAN (a device per PortMirror,
// `rtmt<uid>`, owned by the agent). A collector pod on another node is reached the same way:
// the operator resolves it to `remote` = the collector's node IP with the mirror's VNI, and on
// the collector's node this driver keeps a receive device `rtmr<uid>` (same VNI, no remote)
// whose decapsulated frames are redirected into the collector's host veth. A remote collector
// over GRE or ERSPAN gets a gretap or erspan device as `rtmt<uid>` (ip6gretap, ip6erspan for
// IPv6; see tc.ts greLinkArgs); where the kernel cannot make one (no ip_gre, the node's gre or
// erspan capability false) the task fails with reason CapabilityMissing. Copies longer than the
// underlay carries in one packet: an IPv4 gretap sends them whole, the outer packet fragmented;
// ERSPAN cuts them to its device's MTU and sets the T bit (the collector knows). Neither
// touches the mirrored traffic; GRE to an IPv6 collector would (see greSpec) and is refused.
//
// Coexistence. `continue` makes a copy transparent to classification: later filters (other
// mirrors on the same source, other tools) still see every packet. Filters that run before
// ours (prio < 16) and end classification hide those packets from the mirror. The clsact
// qdisc is removed only when no filter of anybody's is left on it. A receive device's filter
// is a redirect: those frames exist only for the collector.
//
// Filters and sampling are classic BPF (libpcap in process, the same compiler as captures); 1-in-N sampling is a
// random-load prefix (see withSampling): this kernel has cls_bpf, u32 and act_mirred, but
// neither matchall, act_gact nor act_sample.
import { isIP } from 'node:net';
import { mirrorVni, VXLAN_DEFAULT_PORT, type ConditionReason, type MirrorDirection, type NodeTaskSpec, type NodeTaskTarget, type PortMirrorWork, type RemoteDestination, type ResolvedPod } from '../../../../crds/src/index.js';
import type { NodeCapabilities } from '../../node/capabilities.js';
import { findHostVeth, resolvePodNetns } from '../../node/podnetns.js';
import type { Driver, DriverTask, TaskContext } from '../driver.js';
import {
  addMirrorFilter, compileBpf, deleteFilter, deleteLink, ensureClsact, ensureGre, ensureRxFilter, ensureVxlan, listFilters, listLinks, removeClsactIfEmpty, removeRxFilter, routeSource,
  MATCH_ALL, withSampling, type BpfInsn, type GreSpec, type Hook, type TcFilter,
} from './tc.js';
import { errorReason, RingtapError } from '../../../../lib/errors.js';

// Early (a low number runs first), so that a filter of another tool that ends classification
// (a match, a redirect, a drop) does not hide packets from the mirror; ours never ends it.
export const MIRROR_PRIO = 16;
const RESOLVE_INTERVAL_MS = 2_000;

/** A failure no retry mends: the node cannot do what the mirror asks. */
function capabilityMissing(message: string): RingtapError {
  return new RingtapError('ERR_RINGTAP_CAPABILITY_MISSING', message, { reason: 'CapabilityMissing' });
}

/** The iptables chain that admits one PortMirror's VXLAN senders on its collector's node. */
export function rxChain(parentUid: string): string {
  return `RTAP-RX-${parentUid.replaceAll('-', '').slice(0, 10)}`;
}

/** The cookie on every tc action of one PortMirror: "rtap" + 12 bytes of its UID (hex). */
export function mirrorCookie(parentUid: string): string {
  const hex = parentUid.replaceAll('-', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`'${parentUid}' is not a UID`);
  return `72746170${hex.slice(0, 24)}`;
}

/** True when a cookie is one of ringtap's (any PortMirror). */
export function isRingtapCookie(cookie: string | undefined): boolean {
  return cookie !== undefined && cookie.startsWith('72746170') && cookie.length === 32;
}

/** The agent's own devices of one PortMirror: the transmit (remote) and receive VXLAN devices. */
export function deviceNames(parentUid: string): { tx: string; rx: string } {
  const h = parentUid.replaceAll('-', '').slice(0, 10);
  return { tx: `rtmt${h}`, rx: `rtmr${h}` };
}

/** The tc hooks for a direction: a pod is seen from its host veth, so the hooks turn round. */
export function hooksFor(direction: MirrorDirection, source: 'pod' | 'interface'): Hook[] {
  const own: Hook[] = direction === 'both' ? ['ingress', 'egress'] : [direction];
  if (source === 'interface') return own;
  return own.map((h) => (h === 'ingress' ? 'egress' : 'ingress')).sort() as Hook[];
}

/**
 * The GRE device of a gre or erspan remote. ERSPAN's GRE header has no key field (the session
 * id takes its place), so a key there is refused rather than silently dropped. The type III
 * direction bit is the device's: egress when only the source's egress is mirrored, else ingress.
 */
export function greSpec(name: string, r: RemoteDestination, direction: MirrorDirection): GreSpec {
  if (r.protocol === 'gre' && isIP(r.address) === 6) {
    // ip6gretap sizes copies by the path to the collector: one too long for it is dropped, the
    // mirrored packet's own route gets that smaller path MTU and its source an ICMP "too big"
    // (net/ipv6/ip6_gre.c ip6gre_xmit_ipv4, net/ipv6/ip6_tunnel.c ip6_tnl_xmit): the mirror
    // would break the traffic it copies. ERSPAN cuts long copies instead.
    throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `spec.destination.remote.address: GRE to an IPv6 collector (${r.address}) is not supported: the kernel's ip6gretap answers copies longer than the path with ICMP to the mirrored traffic's source and lowers its path MTU; use protocol erspan (long copies are cut) or an IPv4 collector`, { reason: 'InvalidSpec' });
  }
  if (r.protocol === 'gre') return { name, remote: r.address, ...(r.key !== undefined ? { key: r.key } : {}) };
  if (r.key !== undefined) {
    throw new RingtapError('ERR_RINGTAP_INVALID_ARGUMENT', `spec.destination.remote.key: ERSPAN frames carry no GRE key; the collector tells sessions apart by erspan.sessionId (${r.erspan?.sessionId ?? 0})`, { reason: 'InvalidSpec' });
  }
  const version = r.erspan?.version ?? 1;
  return {
    name, remote: r.address,
    erspan: { version, sessionId: r.erspan?.sessionId ?? 0, ...(version === 1 ? {} : { direction: direction === 'egress' ? 'egress' as const : 'ingress' as const }) },
  };
}

/**
 * The BPF text of a source. A node interface mirrored to a remote would see the encapsulated
 * copies (VXLAN, GRE) leave through it and mirror them again, without end: those are left out.
 */
export function mirrorFilterText(kind: 'pod' | 'interface', user: string | undefined, remote: { address: string; protocol: string; port?: number } | undefined): string {
  if (remote && isIP(remote.address) === 0) throw new Error(`destination address '${remote.address}' is not an IP address`);
  const guard = kind !== 'interface' || !remote ? ''
    : remote.protocol === 'vxlan' ? `not (dst host ${remote.address} and udp dst port ${remote.port ?? VXLAN_DEFAULT_PORT})`
      : `not (dst host ${remote.address} and proto 47)`; // GRE, under gretap and erspan alike

  const u = user?.trim() ?? '';
  return guard && u ? `(${guard}) and (${u})` : guard || u;
}

export function sameProg(a: BpfInsn[] | undefined, b: BpfInsn[]): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x.code === b[i]!.code && x.jt === b[i]!.jt && x.jf === b[i]!.jf && x.k === b[i]!.k);
}

/** What one pass must do on one hook of one device, from the filters found there. */
export function planHook(found: TcFilter[], cookie: string, want: { prog: BpfInsn[]; dest: string; redirect?: boolean } | undefined): { keep?: TcFilter; remove: TcFilter[]; add: boolean } {
  const ours = found.filter((f) => f.actions.some((a) => a.cookie === cookie));
  if (!want) return { remove: ours, add: false };
  const keep = ours.find((f) => f.kind === 'bpf' && f.pref === MIRROR_PRIO && sameProg(f.insns, want.prog) && f.actions.length === 1 && f.actions[0]!.toDev === want.dest
    && (want.redirect ? f.actions[0]!.mirror === 'mirred:redirect' : f.actions[0]!.mirror === 'mirred:mirror' && f.actions[0]!.control === 'continue'));
  return { ...(keep ? { keep } : {}), remove: ours.filter((f) => f !== keep), add: !keep };
}

export class TcMirrorDriver implements Driver {
  readonly name = 'tcmirror';
  private caps?: NodeCapabilities;

  async probe(caps: NodeCapabilities): Promise<{ ok: boolean; reason?: string }> {
    this.caps = caps;
    return caps.tcMirror.available ? { ok: true } : { ok: false, ...(caps.tcMirror.reason ? { reason: caps.tcMirror.reason } : {}) };
  }

  async remove(): Promise<void> {}

  handles(spec: NodeTaskSpec): boolean {
    return spec.portMirror !== undefined;
  }

  async start(spec: NodeTaskSpec, ctx: TaskContext): Promise<DriverTask> {
    const t = new PortMirrorTask(spec, ctx, this.caps);
    await t.start();
    return t;
  }
}

interface Source { key: string; label: string; kind: 'pod' | 'interface'; pod?: ResolvedPod; ifname?: string }
interface Counts { packets: number; bytes: number; drops: number }

class PortMirrorTask implements DriverTask {
  private work: PortMirrorWork;
  private readonly cookie: string;
  private readonly devs: { tx: string; rx: string };
  private timer?: NodeJS.Timeout;
  private pass = Promise.resolve();
  private stopped = false;
  private progs = new Map<string, { sampling: number; insns: BpfInsn[] }>();
  /** The senders the receive chain was last written for (rewritten only when they change). */
  private rxSenders?: string;
  /** Per source: the device it resolved to, its last counts, its state. */
  private seen = new Map<string, { dev?: string; counts: Counts; state: NodeTaskTarget['state']; message?: string }>();
  /** Counts of filters that are gone (pods that left or restarted): totals never go backwards. */
  private retired: Counts = { packets: 0, bytes: 0, drops: 0 };
  private adopted = false;
  private lastReport = '';
  private fatal?: { message: string; reason: ConditionReason };
  private startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  constructor(private spec: NodeTaskSpec, private ctx: TaskContext, private caps: NodeCapabilities | undefined) {
    this.work = spec.portMirror!;
    this.cookie = mirrorCookie(spec.parent.uid);
    this.devs = deviceNames(spec.parent.uid);
  }

  async start(): Promise<void> {
    if (this.spec.cleanup) return; // started only to clean up (see stop)
    await this.runPass();
    this.timer = setInterval(() => void this.runPass(), RESOLVE_INTERVAL_MS);
  }

  async update(spec: NodeTaskSpec): Promise<void> {
    this.spec = spec;
    this.work = spec.portMirror!;
    await this.runPass(true);
  }

  async stop(opts: { cleanup: boolean }): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pass;
    if (opts.cleanup) await this.removeAll();
  }

  private runPass(sweep = false): Promise<void> {
    this.pass = this.pass.then(() => (this.stopped ? undefined : this.reconcile(sweep))).catch((err: unknown) => {
      this.ctx.reporter.log.warn({ err }, 'mirror pass failed; will retry');
    });
    return this.pass;
  }

  private sources(): Source[] {
    return this.work.sources.map((s) => (s.pod
      ? { key: `pod/${s.pod.uid}`, label: `pod/${s.pod.namespace}/${s.pod.name}`, kind: 'pod' as const, pod: s.pod }
      : { key: `if/${s.interface!}`, label: `interface/${s.interface!}`, kind: 'interface' as const, ifname: s.interface! }));
  }

  private async hostVeth(pod: ResolvedPod, podIfname = 'eth0'): Promise<string> {
    if (pod.hostVeth) return pod.hostVeth;
    const ns = await resolvePodNetns(pod.uid);
    return findHostVeth(ns.netnsPath, podIfname);
  }

  /** The device copies are sent out of on this node, creating the agent's VXLAN device if needed. */
  private async destination(links: Map<string, import('./tc.js').Link>): Promise<{ dev: string; owned: Set<string> }> {
    const d = this.work.destination;
    const owned = new Set<string>();
    if (d.interface) {
      if (!links.has(d.interface.name)) throw Object.assign(new Error(`destination interface ${d.interface.name} does not exist on this node`), { code: 'ERR_RINGTAP_NO_SUCH_INTERFACE' });
      return { dev: d.interface.name, owned };
    }
    if (d.pod) {
      if (d.pod.node !== this.ctx.node) throw Object.assign(new Error(`collector pod ${d.pod.name} runs on ${d.pod.node}; the operator should have sent it over VXLAN`), { code: 'ERR_RINGTAP_BAD_DESTINATION' });
      const veth = await this.hostVeth(d.pod, d.pod.interface);
      // The receive side for source nodes elsewhere: decapsulate and hand to the collector.
      const vni = mirrorVni(this.spec.parent.uid);
      // Only the mirror's source nodes may send to it: the VNI is no secret (it is the UID's).
      const senders = JSON.stringify(d.pod.receiveFrom ?? []);
      if (senders !== this.rxSenders) {
        await ensureRxFilter(rxChain(this.spec.parent.uid), vni, VXLAN_DEFAULT_PORT, d.pod.receiveFrom ?? []);
        this.rxSenders = senders;
      }
      await ensureVxlan({ name: this.devs.rx, vni, port: VXLAN_DEFAULT_PORT }, links.get(this.devs.rx));
      owned.add(this.devs.rx);
      await ensureClsact(this.devs.rx);
      await this.ensureFilters(this.devs.rx, new Map([['ingress', { prog: MATCH_ALL, dest: veth, redirect: true }]]));
      return { dev: veth, owned };
    }
    const r = d.remote!;
    if (r.protocol !== 'vxlan') {
      const cap = r.protocol === 'gre' ? this.caps?.gre : this.caps?.erspan;
      if (this.caps && !cap?.available) throw capabilityMissing(`${r.protocol} is not available on this node${cap?.reason ? ` (${cap.reason})` : ''}`);
      const g = greSpec(this.devs.tx, r, this.work.direction);
      // Found again every pass: a changed route moves the device to the new source address.
      if (isIP(r.address) === 6) g.local = await routeSource(r.address);
      await ensureGre(g, links.get(this.devs.tx)).catch((err: unknown) => {
        // An IPv6 remote on a kernel with IPv4 GRE only (no ip6_gre): nothing a retry mends.
        if (/Unknown device type/i.test((err as Error).message)) throw capabilityMissing(`${r.protocol} to ${r.address} is not available on this node: ${(err as Error).message}`);
        throw err;
      });
      owned.add(this.devs.tx);
      return { dev: this.devs.tx, owned };
    }
    if (this.caps && !this.caps.vxlan.available) throw capabilityMissing(`vxlan is not available on this node (${this.caps.vxlan.reason ?? ''})`);
    await ensureVxlan({ name: this.devs.tx, vni: r.vni ?? 0, port: r.port ?? VXLAN_DEFAULT_PORT, remote: r.address }, links.get(this.devs.tx));
    owned.add(this.devs.tx);
    return { dev: this.devs.tx, owned };
  }

  private async program(kind: 'pod' | 'interface'): Promise<BpfInsn[]> {
    const text = mirrorFilterText(kind, this.work.filter, this.work.destination.remote);
    const sampling = this.work.sampling ?? 1;
    let p = this.progs.get(text);
    if (!p || p.sampling !== sampling) this.progs.set(text, (p = { sampling, insns: withSampling(compileBpf(text), sampling) }));
    return p.insns;
  }

  /** Makes the hooks of one device carry exactly the wanted filters of ours; returns our live counts. */
  private async ensureFilters(dev: string, want: Map<Hook, { prog: BpfInsn[]; dest: string; redirect?: boolean }>): Promise<Counts> {
    const counts: Counts = { packets: 0, bytes: 0, drops: 0 };
    if (want.size > 0) await ensureClsact(dev);
    for (const hook of ['ingress', 'egress'] as Hook[]) {
      const w = want.get(hook);
      const found = await listFilters(dev, hook);
      const plan = planHook(found, this.cookie, w);
      for (const f of plan.remove) await deleteFilter(dev, hook, f);
      if (plan.add && w) await addMirrorFilter({ dev, hook, prio: MIRROR_PRIO, prog: w.prog, dest: w.dest, cookie: this.cookie, ...(w.redirect ? { redirect: true } : {}) });
      for (const a of plan.keep?.actions ?? []) {
        counts.packets += a.packets;
        counts.bytes += a.bytes;
        counts.drops += a.drops;
      }
    }
    return counts;
  }

  private async reconcile(sweep: boolean): Promise<void> {
    const log = this.ctx.reporter.log;
    const links = new Map((await listLinks()).map((l) => [l.ifname, l]));
    const sources = this.sources();
    let dest: string | undefined;
    let owned = new Set<string>();
    let destError: string | undefined;
    if (!this.fatal) {
      try {
        ({ dev: dest, owned } = await this.destination(links));
      } catch (err) {
        destError = (err as Error).message ?? String(err);
        const reason = errorReason(err);
        if (reason) this.fatal = { message: destError, reason };
      }
    }
    if (this.fatal) {
      clearInterval(this.timer); // nothing will change until the spec does
      this.ctx.reporter.update({
        phase: 'Failed', reason: this.fatal.reason, message: this.fatal.message,
        targets: sources.map((s) => ({ name: s.label, state: 'Failed' as const, message: this.fatal!.message })),
      }, true);
      return;
    }
    const wantedDevs = new Set<string>();
    const live: Counts = { packets: 0, bytes: 0, drops: 0 };
    for (const s of sources) {
      const prev = this.seen.get(s.key);
      let dev: string | undefined;
      try {
        dev = s.kind === 'pod' ? await this.hostVeth(s.pod!) : s.ifname!;
        if (!links.has(dev)) throw Object.assign(new Error(`interface ${dev} does not exist`), { code: 'ERR_RINGTAP_NO_SUCH_INTERFACE' });
        if (!dest) throw new Error(destError ?? 'no destination');
        if (dev === dest) throw new Error(`source ${dev} is the destination: refusing a mirror loop`);
        const prog = await this.program(s.kind);
        const want = new Map(hooksFor(this.work.direction, s.kind).map((h) => [h, { prog, dest: dest! }]));
        const c = await this.ensureFilters(dev, want);
        wantedDevs.add(dev);
        if (prev?.dev && prev.dev !== dev) this.retire(prev.counts); // a restarted pod: a new veth
        // A filter that was replaced starts from 0: keep what the old one counted.
        if (prev?.dev === dev && (c.packets < prev.counts.packets || c.bytes < prev.counts.bytes)) this.retire(prev.counts);
        if (prev?.state !== 'Attached' || prev.dev !== dev) log.info({ source: s.label, device: dev, destination: dest, hooks: [...want.keys()] }, 'source attached');
        this.seen.set(s.key, { dev, counts: c, state: 'Attached', message: `device=${dev} hooks=${[...want.keys()].join(',')}${s.pod ? ` uid=${s.pod.uid}` : ''}` });
        live.packets += c.packets;
        live.bytes += c.bytes;
        live.drops += c.drops;
      } catch (err) {
        const e = err as { code?: string; message?: string };
        const msg = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
        if (prev?.message !== msg) log.warn({ source: s.label, err: msg }, 'source not attached; will retry');
        if (prev?.dev) this.retire(prev.counts);
        // Failed, with the reason: tried and refused (it is tried again every pass). The operator
        // reads a mirror whose sources all failed as Stalled, not as Attaching forever.
        this.seen.set(s.key, { counts: { packets: 0, bytes: 0, drops: 0 }, state: 'Failed', message: msg });
      }
    }
    // Sources that left: remove their filters (their devices may be gone already).
    for (const [key, v] of [...this.seen]) {
      if (sources.some((s) => s.key === key)) continue;
      this.seen.delete(key);
      if (v.dev && !wantedDevs.has(v.dev)) await this.removeFrom(v.dev);
      this.retire(v.counts);
    }
    if (!this.adopted || sweep) {
      // Adoption after a restart and after spec changes: filters of ours on devices that are no
      // longer sources, and devices of ours no longer needed, go.
      if (!this.adopted && this.ctx.previous?.counters) {
        const p = this.ctx.previous.counters;
        this.retired = { packets: Math.max(0, (p.packets ?? 0) - live.packets), bytes: Math.max(0, (p.bytes ?? 0) - live.bytes), drops: Math.max(0, (p.drops ?? 0) - live.drops) };
      }
      this.adopted = true;
      for (const l of links.keys()) {
        if (wantedDevs.has(l) || owned.has(l)) continue;
        if (l === this.devs.tx || l === this.devs.rx) {
          await deleteLink(l).catch(() => undefined);
          continue;
        }
        await this.removeFrom(l, true);
      }
    }
    const targets: NodeTaskTarget[] = sources.map((s) => {
      const v = this.seen.get(s.key)!;
      return { name: s.label, state: v.state, ...(v.message ? { message: v.message } : {}) };
    });
    const report = {
      phase: 'Running' as const,
      startTime: this.ctx.previous?.startTime ?? this.startedAt,
      message: `${targets.filter((t) => t.state === 'Attached').length}/${targets.length} source(s) attached, mirroring to ${dest}`,
      counters: { packets: this.retired.packets + live.packets, bytes: this.retired.bytes + live.bytes, drops: this.retired.drops + live.drops },
      targets,
    };
    // An idle mirror costs the API server nothing: write only what changed.
    const json = JSON.stringify(report);
    if (json === this.lastReport) return;
    this.lastReport = json;
    this.ctx.reporter.update(report);
  }

  private retire(c: Counts): void {
    this.retired.packets += c.packets;
    this.retired.bytes += c.bytes;
    this.retired.drops += c.drops;
  }

  /** Removes this mirror's filters from one device; the clsact goes only if nothing is left on it. */
  private async removeFrom(dev: string, onlyIfOurs = false): Promise<void> {
    let removed = 0;
    for (const hook of ['ingress', 'egress'] as Hook[]) {
      for (const f of planHook(await listFilters(dev, hook), this.cookie, undefined).remove) {
        await deleteFilter(dev, hook, f).catch(() => undefined);
        removed++;
      }
    }
    if (removed > 0 || !onlyIfOurs) await removeClsactIfEmpty(dev).catch(() => undefined);
  }

  /** Cleanup: every filter of ours on every device of this node, and our VXLAN devices. */
  private async removeAll(): Promise<void> {
    const links = await listLinks().catch(() => []);
    for (const l of links) {
      if (l.ifname === this.devs.tx || l.ifname === this.devs.rx) continue;
      await this.removeFrom(l.ifname, true).catch(() => undefined);
    }
    for (const d of [this.devs.tx, this.devs.rx]) if (links.some((l) => l.ifname === d)) await deleteLink(d).catch(() => undefined);
    await removeRxFilter(rxChain(this.spec.parent.uid), mirrorVni(this.spec.parent.uid), VXLAN_DEFAULT_PORT);
    this.ctx.reporter.log.info('mirror removed: filters and devices of ours are gone');
  }
}
