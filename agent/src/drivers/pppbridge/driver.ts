// The pppbridge driver: carries out a NodeTask's pppBridge on this node.
//
// Data path. mode kernel bridges the two PPP channels in the kernel (PppKernelBridge:
// PPPIOCBRIDGECHAN, Linux >= 5.11 with PPP, PPPoE and PPPoL2TP); mode userspace runs the
// native relay (PppRelay); mode auto picks kernel where the node's pppKernelBridge capability
// says it can, userspace otherwise. The choice is reported as status.dataPath. mode kernel on a
// node that cannot fails the task at once with reason CapabilityMissing and the capability's reason.
//
// The agent runs in the node's network namespace, so both sessions' sockets are opened in the
// agent's own namespace (no netns path).
//
// Missing interface. A PPPoE interface that does not exist (yet) is not fatal: the task stays
// Pending with reason InterfaceNotFound and is retried every 2 s (and at once when a link
// appears); any other failure fails the task.
//
// MTU. spec.mtu is the largest PPP information field the relay forwards; bigger frames are
// counted as sendError. It changes in place; a new mode re-bridges (a and b are immutable). The
// kernel bridge has no MTU of its own (the links' MTUs apply).
//
// Counters. The relay's per-direction frames, bytes and drops by reason are published every
// second (the runner coalesces writes to one per 2 s). The kernel bridge's come from the
// kernel's L2TP session counters (PPPIOCGL2TPSTATS) and, for a PPPoE session (which the kernel
// keeps none for), from the bridge's eBPF filter on the session's interface (see
// kernelDirectionCounters). They count since the task started: a restarted agent starts from the
// counts its predecessor published, and a re-bridge (mode change) keeps the old ones.
import { L2TP_DEFAULT_PORT, type NodeTaskSpec, type NodeTaskStatus, type PPPBridgeWork, type PPPDirectionCounters, type PPPEndpoint } from '../../../../crds/src/index.js';
import type { NodeCapabilities } from '../../node/capabilities.js';
import { isNativeError, NativeErrorCode, PppKernelBridge, PppRelay, type PppKernelStats, type PppRelayDirectionStats, type PppRelayEndpoint, type PppRelayOptions } from '../../native.js';
import type { Driver, DriverTask, LinkEvent, TaskContext } from '../driver.js';
import { RingtapError } from '../../../../lib/errors.js';

const CAPABILITY_MISSING = 'ERR_RINGTAP_CAPABILITY_MISSING';
const RETRY_MS = 2_000;
const REPORT_MS = 1_000;

export type DataPath = 'kernel' | 'userspace';

/** The data path for a mode on this node, or why there is none. */
export function chooseDataPath(mode: PPPBridgeWork['mode'], caps: NodeCapabilities | undefined): { dataPath: DataPath } | { error: string } {
  const kernel = caps?.pppKernelBridge ?? { available: false, reason: 'capabilities not probed' };
  if (mode === 'userspace') return { dataPath: 'userspace' };
  if (mode === 'kernel') return kernel.available ? { dataPath: 'kernel' } : { error: kernel.reason ?? 'pppKernelBridge unavailable' };
  return { dataPath: kernel.available ? 'kernel' : 'userspace' };
}

/** A resource endpoint as the native engine takes it. */
export function nativeEndpoint(ep: PPPEndpoint): PppRelayEndpoint {
  if (ep.pppoe) {
    const p = ep.pppoe;
    return { type: 'pppoe', interface: p.interface, sessionId: p.sessionId, peerMac: p.peerMAC, ...(p.localMAC ? { localMac: p.localMAC } : {}) };
  }
  const l = ep.l2tp;
  if (!l) throw new Error('endpoint has neither pppoe nor l2tp');
  return {
    type: 'l2tp', localAddress: l.localAddress, localPort: l.localPort ?? L2TP_DEFAULT_PORT, peerAddress: l.peerAddress, peerPort: l.peerPort ?? L2TP_DEFAULT_PORT,
    tunnelId: l.tunnelId, sessionId: l.sessionId, peerTunnelId: l.peerTunnelId, peerSessionId: l.peerSessionId,
  };
}

/** Status counters of one relay direction. */
export function directionCounters(d: PppRelayDirectionStats): PPPDirectionCounters {
  const r = d.drops;
  const drops = r.short + r.badVersion + r.badSession + r.badLength + r.control + r.sendError + r.rxOverflow;
  return { packets: d.frames, bytes: d.bytes, drops, dropReasons: { ...r } };
}

const noDrops = () => ({ short: 0, badVersion: 0, badSession: 0, badLength: 0, control: 0, sendError: 0, rxOverflow: 0 });

/**
 * Status counters of a kernel bridge, per direction: a -> b is what b's session sent to its peer
 * (or, b having no counter, what a's session received from its own), and the other way round.
 * Bytes are the sending session's messages, as the kernel puts them on the wire without the outer
 * headers: an L2TP data message (L2TP header, PPP frame with FF 03) or a PPPoE session packet
 * (PPPoE header, PPP frame) — unlike the relay's PPP-only bytes. An L2TP send the kernel failed is
 * a sendError drop. Neither side counted: undefined.
 */
export function kernelDirectionCounters(s: PppKernelStats): { aToB?: PPPDirectionCounters; bToA?: PPPDirectionCounters } {
  const dir = (from: PppKernelStats['a'], to: PppKernelStats['a']): PPPDirectionCounters | undefined => {
    if (to) {
      const errors = to.type === 'l2tp' ? to.txErrors : 0;
      return { packets: to.txPackets, bytes: to.txBytes, drops: errors, dropReasons: { ...noDrops(), sendError: errors } };
    }
    if (from) return { packets: from.rxPackets, bytes: from.rxBytes, drops: 0, dropReasons: noDrops() };
    return undefined;
  };
  const aToB = dir(s.a, s.b);
  const bToA = dir(s.b, s.a);
  return { ...(aToB ? { aToB } : {}), ...(bToA ? { bToA } : {}) };
}

/** a + b, field by field (drop reasons too); undefined counts as zero. */
export function addCounters(a: PPPDirectionCounters | undefined, b: PPPDirectionCounters | undefined): PPPDirectionCounters {
  const n = (x: number | undefined) => x ?? 0;
  const reasons = noDrops();
  for (const k of Object.keys(reasons) as (keyof typeof reasons)[]) reasons[k] = n(a?.dropReasons?.[k]) + n(b?.dropReasons?.[k]);
  return { packets: n(a?.packets) + n(b?.packets), bytes: n(a?.bytes) + n(b?.bytes), drops: n(a?.drops) + n(b?.drops), dropReasons: reasons };
}

const sessionsOf = (w: PPPBridgeWork) => JSON.stringify([w.a, w.b]);

export class PppBridgeDriver implements Driver {
  readonly name = 'pppbridge';
  private caps?: NodeCapabilities;
  private readonly tasks = new Set<PppBridgeTask>();

  async probe(caps: NodeCapabilities): Promise<{ ok: boolean; reason?: string }> {
    // The userspace relay runs anywhere the agent does; kernel mode is checked per task.
    this.caps = caps;
    return { ok: true };
  }

  async remove(): Promise<void> {
    for (const t of this.tasks) await t.stop({ cleanup: false });
  }

  handles(spec: NodeTaskSpec): boolean {
    return spec.pppBridge !== undefined;
  }

  async start(spec: NodeTaskSpec, ctx: TaskContext): Promise<DriverTask> {
    const t = new PppBridgeTask(spec.pppBridge!, ctx, this.caps, () => this.tasks.delete(t));
    // Sockets die with the agent: a task started only to clean up has nothing to remove.
    if (spec.cleanup) return t;
    this.tasks.add(t);
    await t.start();
    return t;
  }

  onLink(ev: LinkEvent): void {
    if (ev.type === 'add' || ev.type === 'up' || ev.type === 'rename') for (const t of this.tasks) t.linkAppeared();
  }
}

class PppBridgeTask implements DriverTask {
  private relay?: PppRelay;
  private kernel?: PppKernelBridge;
  private dataPath?: DataPath;
  private retry?: NodeJS.Timeout;
  private report?: NodeJS.Timeout;
  private stopped = false;
  private bridgedSince?: string;
  private lastReport = '';
  private warnedUncounted = false;
  private readonly startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  /** Counts of relays that are gone, so totals never go backwards (agent restarts, re-bridges). */
  private retired: { aToB?: PPPDirectionCounters; bToA?: PPPDirectionCounters };

  constructor(private work: PPPBridgeWork, private ctx: TaskContext, private caps: NodeCapabilities | undefined, private onStop: () => void) {
    const p = ctx.previous?.pppBridge;
    this.retired = { ...(p?.aToB ? { aToB: p.aToB } : {}), ...(p?.bToA ? { bToA: p.bToA } : {}) };
  }

  /** Throws (the runner fails the task) for anything but a missing interface. */
  async start(): Promise<void> {
    const choice = chooseDataPath(this.work.mode, this.caps);
    if ('error' in choice) throw new RingtapError(CAPABILITY_MISSING, choice.error, { reason: 'CapabilityMissing' });
    this.dataPath = choice.dataPath;
    this.open(true);
  }

  private options(): PppRelayOptions {
    return { a: nativeEndpoint(this.work.a), b: nativeEndpoint(this.work.b), ...(this.work.mtu ? { mtu: this.work.mtu } : {}) };
  }

  /** One attempt to bridge. First attempt: other errors throw; retries report them as Failed. */
  private open(first: boolean): void {
    if (this.stopped || this.relay || this.kernel) return;
    const log = this.ctx.reporter.log;
    try {
      if (this.dataPath === 'kernel') this.kernel = new PppKernelBridge(this.options());
      else this.relay = new PppRelay(this.options());
    } catch (err) {
      if (isNativeError(err, NativeErrorCode.noSuchInterface)) {
        log.warn({ err, dataPath: this.dataPath }, 'a session interface is missing; retrying');
        this.ctx.reporter.update({ phase: 'Pending', reason: 'InterfaceNotFound', dataPath: this.dataPath!, message: err.message });
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.open(false), RETRY_MS);
        return;
      }
      // The kernel turned out not to do it after all (capabilities read from config can be
      // wrong, e.g. modules not installed): the same condition as a capability known missing.
      const unable = isNativeError(err, NativeErrorCode.kernelLacksPpp) || isNativeError(err, NativeErrorCode.pppBridgeUnsupported);
      const failure = unable ? new RingtapError(CAPABILITY_MISSING, (err as Error).message, { reason: 'CapabilityMissing', cause: err }) : err;
      if (first) throw failure;
      const e = failure as { code?: string; message?: string };
      log.error({ err: failure }, 'bridging failed');
      this.ctx.reporter.update({ phase: 'Failed', reason: unable ? 'CapabilityMissing' : 'BridgeFailed', message: `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}` }, true);
      return;
    }
    clearTimeout(this.retry);
    this.retry = undefined;
    this.bridgedSince = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    log.info({ dataPath: this.dataPath, channels: this.kernel?.channels() }, 'sessions bridged');
    this.publish(true);
    this.report = setInterval(() => this.publish(false), REPORT_MS);
  }

  linkAppeared(): void {
    if (this.retry) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.open(false), 50);
    }
  }

  /** Counters since the task started: those of relays gone (earlier agents, re-bridges) plus the current one's. */
  private counters(): NodeTaskStatus['pppBridge'] {
    const s = this.relay?.stats();
    const k = this.kernel ? this.kernelCounters() : {};
    return {
      aToB: addCounters(this.retired.aToB, s ? directionCounters(s.aToB) : k.aToB),
      bToA: addCounters(this.retired.bToA, s ? directionCounters(s.bToA) : k.bToA),
      ...(this.bridgedSince ? { bridgedSince: this.bridgedSince } : {}),
    };
  }

  /** The kernel bridge's counters; none (logged) if the kernel will not say. */
  private kernelCounters(): ReturnType<typeof kernelDirectionCounters> {
    try {
      const s = this.kernel!.stats();
      if (s.unavailable && !this.warnedUncounted) {
        this.warnedUncounted = true;
        this.ctx.reporter.log.warn({ unavailable: s.unavailable }, 'a PPPoE session of the kernel bridge is not counted');
      }
      return kernelDirectionCounters(s);
    } catch (err) {
      this.ctx.reporter.log.warn({ err }, 'reading the kernel bridge counters failed');
      return {};
    }
  }

  private publish(urgent: boolean): void {
    const p = this.counters()!;
    const json = JSON.stringify(p);
    if (!urgent && json === this.lastReport) return;
    this.lastReport = json;
    const sum = (f: (c: PPPDirectionCounters) => number | undefined) => (f(p.aToB ?? {}) ?? 0) + (f(p.bToA ?? {}) ?? 0);
    this.ctx.reporter.update({
      phase: 'Running',
      dataPath: this.dataPath!,
      // When the work first started on this node (an earlier agent's start survives a restart).
      startTime: this.ctx.previous?.startTime ?? this.startedAt,
      message: `bridged (${this.dataPath}${this.relay && this.work.mtu ? `, mtu ${this.work.mtu}` : ''})`,
      pppBridge: p,
      counters: { packets: sum((c) => c.packets), bytes: sum((c) => c.bytes), drops: sum((c) => c.drops) },
    }, urgent);
  }

  /** Sessions are immutable (a and b): a new MTU applies in place, a new mode re-bridges. */
  async update(spec: NodeTaskSpec): Promise<void> {
    const next = spec.pppBridge;
    if (!next || this.stopped) return;
    const prev = this.work;
    this.work = next;
    if (sessionsOf(prev) === sessionsOf(next) && prev.mode === next.mode) {
      // The MTU changes in place (userspace); the kernel bridge has no MTU of its own.
      if (prev.mtu !== next.mtu) {
        this.relay?.setMtu(next.mtu ?? 0);
        this.ctx.reporter.log.info({ from: prev.mtu, to: next.mtu, dataPath: this.dataPath }, 'MTU changed');
        if (this.relay) this.publish(true);
      }
      return;
    }
    this.ctx.reporter.log.info({ from: prev.mode, to: next.mode }, 're-bridging: the work changed');
    this.close();
    const choice = chooseDataPath(next.mode, this.caps);
    if ('error' in choice) {
      this.ctx.reporter.update({ phase: 'Failed', reason: 'CapabilityMissing', message: choice.error }, true);
      return;
    }
    this.dataPath = choice.dataPath;
    this.open(false);
  }

  private close(): void {
    clearTimeout(this.retry);
    clearInterval(this.report);
    this.retry = undefined;
    this.report = undefined;
    if (this.relay || this.kernel) {
      // Final counts first: the last frames before the stop are reported too.
      this.publish(false);
      this.retired = this.counters()!;
      this.relay?.close();
      this.kernel?.close();
      this.relay = undefined;
      this.kernel = undefined;
    }
  }

  async stop(_opts: { cleanup: boolean }): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.close();
    this.onStop();
  }
}
