// The afpacket driver: carries out a NodeTask's packetCapture with the native ring engine.
// Targets (pods' interfaces inside their network namespaces, their host-side veths, or node
// interfaces) become interfaces of one RingCapture, each with its own IDB. Targets that are
// not there yet, or went away, are looked for again every couple of seconds: a restarted pod
// or a recreated interface joins the same capture with a new IDB.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { NodeTaskSpec, PacketCaptureWork, ResolvedPod, StopReason as ApiStopReason } from '../../../../crds/src/index.js';
import type { NodeCapabilities } from '../../node/capabilities.js';
import { captureDir, listCaptureFiles, nextSequence, removeCaptureDir, retentionVictims } from '../../node/files.js';
import { RingCapture, repairCaptureFile, type CaptureEvent, type InterfaceSpec, type StopReason } from '../../native.js';
import { findHostVeth, podInterfaces, resolvePodNetns } from '../../node/podnetns.js';
import { guarded, type Driver, type DriverTask, type LinkEvent, type TaskContext } from '../driver.js';
import { MAX_TIMER_MS } from '../../../../lib/timer.js';
import { captureBytes, captureDrops, captureFiles, captureFreezes, capturePackets, streamDrops } from '../../metrics.js';
import { formatBytes, RingBudget, ringFloor, ringGeometry, type RingGeometry } from '../../runner/ringbudget.js';
import { RingtapError } from '../../../../lib/errors.js';

const RESOLVE_INTERVAL_MS = 2_000;
const STATS_INTERVAL_MS = 1_000;
/**
 * The spill queue between a capture's rings and its writer holds this many rings' worth, within
 * the engine's bounds (1 MiB to its default of 128 MiB). It is the agent's own memory, charged to
 * its cgroup, and fills when the writer falls behind: sized from the ring, 200 small captures on
 * a slow disk hold 200 MiB at most, not 200 times 128 MiB.
 */
const SPILL_RINGS = 8;
const SPILL_MIN = 1 << 20;
const SPILL_MAX = 128 << 20;

export class AfPacketDriver implements Driver {
  readonly name = 'afpacket';

  /** @param rings the node's ring budget, shared by every capture of this agent */
  constructor(private readonly rings: RingBudget = new RingBudget()) {}

  async probe(caps: NodeCapabilities): Promise<{ ok: boolean; reason?: string }> {
    return caps.tpacketV3.available ? { ok: true } : { ok: false, ...(caps.tpacketV3.reason ? { reason: caps.tpacketV3.reason } : {}) };
  }

  async remove(): Promise<void> {}

  private tasks = new Set<PacketCaptureTask>();

  onLink(ev: LinkEvent): void {
    for (const t of this.tasks) t.onLink(ev);
  }

  handles(spec: NodeTaskSpec): boolean {
    return spec.packetCapture !== undefined;
  }

  async start(spec: NodeTaskSpec, ctx: TaskContext): Promise<DriverTask> {
    const t = new PacketCaptureTask(spec, ctx, this.rings, () => this.tasks.delete(t));
    this.tasks.add(t);
    await t.start();
    return t;
  }
}

/** One wanted target: a pod (by UID) or a node interface. */
interface Target { key: string; label: string; pod?: ResolvedPod; nodeInterface?: string }
interface Attached { ids: Map<string, number>; netns?: string }

const API_STOP_REASON: Record<StopReason, ApiStopReason | undefined> = {
  'packet-limit': 'PacketLimitReached', 'byte-limit': 'ByteLimitReached', duration: 'DurationReached',
  'disk-full': 'Failed', error: 'Failed', stopped: undefined, closed: undefined,
};

class PacketCaptureTask implements DriverTask {
  private work: PacketCaptureWork;
  private capture?: RingCapture;
  private attached = new Map<string, Attached>();
  private failures = new Map<string, string>();
  private resolveTimer?: NodeJS.Timeout;
  private statsTimer?: NodeJS.Timeout;
  private readonly dir: string;
  private readonly prefix: string;
  private base: { packets: number; bytes: number; drops: number; freezes: number };
  private finished = false;
  private diskFull?: string;
  private startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  /** Bytes of each ring of this capture (one per attached interface), its floor, and how many the budget holds for it. */
  private ringBytes = 0;
  private ringFloorBytes = 0;
  private ringsHeld = 0;

  constructor(private spec: NodeTaskSpec, private ctx: TaskContext, private readonly budget: RingBudget, private onStopped: () => void = () => undefined) {
    this.work = spec.packetCapture!;
    const p = spec.parent;
    this.dir = captureDir(ctx.dataDir, p.namespace ?? '_cluster', p.name, ctx.node);
    this.prefix = p.name;
    // Counts never go backwards: a restarted agent adds to what the task already reported.
    const c = ctx.previous?.counters ?? {};
    this.base = { packets: c.packets ?? 0, bytes: c.bytes ?? 0, drops: c.drops ?? 0, freezes: c.freezes ?? 0 };
  }

  async start(): Promise<void> {
    if (this.spec.cleanup) return; // started only to clean up (see stop)
    mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const files = listCaptureFiles(this.dir, this.prefix);
    // A previous agent may have died mid-write: keep its whole records, drop a torn tail.
    const last = files[files.length - 1];
    if (last) {
      try {
        repairCaptureFile(last.path);
      } catch (err) {
        this.ctx.reporter.log.warn({ file: last.path, err }, 'could not repair the last capture file');
      }
    }
    const w = this.work;
    const limits: { packets?: number; bytes?: number; durationSeconds?: number } = {};
    let done: ApiStopReason | undefined;
    if (w.limits?.maxPackets !== undefined) {
      limits.packets = w.limits.maxPackets - this.base.packets;
      if (limits.packets <= 0) done = 'PacketLimitReached';
    }
    if (w.limits?.maxBytes !== undefined) {
      limits.bytes = w.limits.maxBytes - this.base.bytes;
      if (limits.bytes <= 0) done = 'ByteLimitReached';
    }
    // The duration is kept here, not in the engine: its deadline (stopAt) arrives from the
    // operator after the capture started, and moving it must not cut a new file segment.
    const deadline = this.deadline();
    if (deadline !== undefined && deadline <= Date.now()) done = 'DurationReached';
    if (done) {
      this.finish(done, 'the limit was reached before this segment could start');
      return;
    }
    // The ring size is fixed for the capture when it starts: its share of the node's budget now.
    // One ring is held from the start (the capture's floor); each further interface takes one more.
    // Its size follows the snap length: a capture of short packets needs a smaller ring for as many.
    const share = this.budget.share(w.snapLength);
    const floor = ringFloor(w.snapLength);
    const geometry = ringGeometry(share ?? floor, w.snapLength);
    const size = geometry.blockSize * geometry.blockCount;
    if (share === undefined || !this.budget.reserve(size, floor)) {
      const b = this.budget.stats();
      throw new RingtapError('ERR_RINGTAP_RING_BUDGET_EXHAUSTED',
        `the node's packet ring budget is exhausted: ${b.rings} rings hold ${formatBytes(b.usedBytes)} of ${formatBytes(b.budgetBytes)} (agent RINGTAP_RING_BUDGET, chart value agent.ringBudget); no room for another ring`,
        { reason: 'RingBudgetExhausted' });
    }
    this.ringBytes = size;
    this.ringFloorBytes = floor;
    this.ringsHeld = 1;
    try {
      this.startEngine(geometry, files, limits);
    } catch (err) {
      // A capture that never ran (a filter that does not compile...) holds no ring.
      this.releaseRings(0);
      throw err;
    }
    // Targets start Detached: what a previous agent reported attached is not attached here yet.
    const targets = this.wanted().map((t) => ({ name: t.label, state: 'Detached' as const, ...(t.pod ? { message: `uid=${t.pod.uid}` } : {}) }));
    this.ctx.reporter.update({
      phase: 'Running', startTime: this.ctx.previous?.startTime ?? this.startedAt, counters: { ...this.base }, targets,
      message: `ring ${formatBytes(size)} per interface (${geometry.blockCount} x ${formatBytes(geometry.blockSize)} blocks), from the node's ring budget`,
    }, true);
    await this.resolveTargets();
    this.resolveTimer = setInterval(guarded(this.ctx.reporter, () => this.resolveTargets()), RESOLVE_INTERVAL_MS);
    this.statsTimer = setInterval(guarded(this.ctx.reporter, () => this.report()), STATS_INTERVAL_MS);
    this.armDeadline();
  }

  private startEngine(ring: RingGeometry, files: ReturnType<typeof listCaptureFiles>, limits: { packets?: number; bytes?: number }): void {
    const w = this.work;
    this.capture = new RingCapture({
      filter: w.filter ?? '',
      ring,
      snaplen: w.snapLength,
      spillBytes: Math.min(SPILL_MAX, Math.max(SPILL_MIN, SPILL_RINGS * ring.blockSize * ring.blockCount)),
      format: w.output.format,
      output: {
        directory: this.dir,
        prefix: this.prefix,
        startSequence: nextSequence(files),
        ...(w.rotation?.fileSizeBytes ? { rotateBytes: w.rotation.fileSizeBytes } : {}),
        ...(w.rotation?.fileDurationSeconds ? { rotateSeconds: w.rotation.fileDurationSeconds } : {}),
        ...(w.retention?.maxFiles ? { maxFiles: w.retention.maxFiles } : {}),
      },
      limits,
    });
    this.capture.on('event', guarded(this.ctx.reporter, (e: CaptureEvent) => this.onEvent(e)));
    this.capture.start();
  }

  private deadlineTimer?: NodeJS.Timeout;
  private firstStart = Date.now();

  /** When the capture must stop (ms since the epoch): the operator's stopAt, else the duration from our start. */
  private deadline(): number | undefined {
    const l = this.work.limits;
    if (l?.stopAt) return Date.parse(l.stopAt);
    if (l?.durationSeconds === undefined) return undefined;
    const start = this.ctx.previous?.startTime ? Date.parse(this.ctx.previous.startTime) : this.firstStart;
    return start + l.durationSeconds * 1000;
  }

  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const d = this.deadline();
    if (d === undefined || this.finished) return;
    // A duration longer than a timer can hold (600 h) is waited for in steps.
    const left = d - Date.now();
    this.deadlineTimer = left > MAX_TIMER_MS
      ? setTimeout(() => this.armDeadline(), MAX_TIMER_MS)
      : setTimeout(guarded(this.ctx.reporter, () => this.expire()), Math.max(0, left));
  }

  /** The duration is over: drain the rings, close the files, report the final counts. */
  private async expire(): Promise<void> {
    if (this.finished || !this.capture) return;
    const cap = this.capture;
    cap.removeAllListeners('event'); // its 'stopped' (reason "stopped") is ours to interpret
    await cap.stop();
    this.finish('DurationReached', undefined);
  }

  /** A node interface we want came (back) or came up: attach it now rather than at the next poll. */
  onLink(ev: LinkEvent): void {
    if (ev.netns !== '' || this.finished) return;
    if ((ev.type === 'add' || ev.type === 'up' || ev.type === 'rename') && this.work.interfaces?.includes(ev.name)) guarded(this.ctx.reporter, () => this.resolveTargets())();
  }

  openStream(): Readable | undefined {
    if (!this.capture || this.finished) return undefined;
    return this.capture.openStream({ maxBytes: 32 << 20 });
  }

  async update(spec: NodeTaskSpec): Promise<void> {
    // What the engine was started with; the deadline is kept here and re-armed instead.
    const engineConfig = (w: PacketCaptureWork) => JSON.stringify([w.limits?.maxPackets, w.limits?.maxBytes, w.rotation ?? {}, w.retention ?? {}]);
    const changed = engineConfig(this.work) !== engineConfig(spec.packetCapture!);
    this.spec = spec;
    this.work = spec.packetCapture!;
    this.armDeadline();
    if (changed && this.capture && !this.finished) {
      // Limits, rotation or retention changed on a running capture: close this segment and go
      // on in a new one with the new settings; the counts carry over.
      this.ctx.reporter.log.info('limits, rotation or retention changed; continuing in a new file segment');
      clearInterval(this.resolveTimer);
      clearInterval(this.statsTimer);
      const old = this.capture;
      this.capture = undefined;
      old.removeAllListeners('event'); // its own 'stopped' does not end the task
      await old.stop();
      this.closeEngine(old);
      this.attached.clear();
      await this.start();
      return;
    }
    await this.resolveTargets();
  }

  private wanted(): Target[] {
    const t: Target[] = [];
    for (const pod of this.work.pods ?? []) t.push({ key: `pod:${pod.uid}`, label: `${pod.namespace}/${pod.name}`, pod });
    for (const name of this.work.interfaces ?? []) t.push({ key: `if:${name}`, label: name, nodeInterface: name });
    return t;
  }

  private resolving: Promise<void> = Promise.resolve();

  /** Attaches wanted targets that are not attached yet; detaches those no longer wanted. One pass at a time. */
  private resolveTargets(): Promise<void> {
    this.resolving = this.resolving.then(() => this.resolveOnce(), () => this.resolveOnce());
    return this.resolving;
  }

  private async resolveOnce(): Promise<void> {
    const cap = this.capture;
    if (!cap || this.finished) return;
    const wanted = this.wanted();
    const keys = new Set(wanted.map((t) => t.key));
    for (const [key, a] of this.attached) {
      if (keys.has(key)) continue;
      for (const id of a.ids.values()) {
        try { cap.removeInterface(id); } catch { /* already gone */ }
      }
      this.attached.delete(key);
    }
    for (const target of wanted) {
      const have = this.attached.get(target.key);
      if (have && have.ids.size > 0) continue;
      try {
        const specs = await this.interfacesOf(target);
        this.holdRings(this.attachedInterfaces() + specs.length);
        const a: Attached = { ids: new Map(), ...(specs[0]?.netns ? { netns: specs[0].netns } : {}) };
        for (const s of specs) a.ids.set(s.name, cap.addInterface(s));
        this.attached.set(target.key, a);
        this.failures.delete(target.key);
        this.ctx.reporter.log.info({ target: target.label, interfaces: specs.map((s) => s.name) }, 'target attached');
      } catch (err) {
        const e = err as { code?: string; message?: string };
        const msg = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
        if (this.failures.get(target.key) !== msg) this.ctx.reporter.log.warn({ target: target.label, err: msg }, 'target not attached; will retry');
        this.failures.set(target.key, msg);
      }
    }
    this.releaseRings(Math.max(1, this.attachedInterfaces()));
    this.report();
  }

  private attachedInterfaces(): number {
    let n = 0;
    for (const a of this.attached.values()) n += a.ids.size;
    return n;
  }

  /** Holds budget for `count` rings of this capture, or throws RingBudgetExhausted (the target fails and is retried). */
  private holdRings(count: number): void {
    const more = count - this.ringsHeld;
    if (more <= 0) return;
    if (!this.budget.reserve(this.ringBytes, this.ringFloorBytes, more)) {
      const b = this.budget.stats();
      throw new RingtapError('ERR_RINGTAP_RING_BUDGET_EXHAUSTED',
        `${more} more ring(s) of ${formatBytes(this.ringBytes)} do not fit in the node's packet ring budget (${formatBytes(b.usedBytes)} of ${formatBytes(b.budgetBytes)} held by ${b.rings} rings)`,
        { reason: 'RingBudgetExhausted' });
    }
    this.ringsHeld = count;
  }

  /** Gives back to the budget what this capture holds beyond `keep` rings. */
  private releaseRings(keep: number): void {
    if (this.ringsHeld <= keep) return;
    this.budget.release(this.ringBytes, this.ringFloorBytes, this.ringsHeld - keep);
    this.ringsHeld = keep;
  }

  private async interfacesOf(t: Target): Promise<InterfaceSpec[]> {
    const node = this.ctx.node;
    if (t.nodeInterface) {
      // The agent runs in the node's network namespace; /sys/class/net shows its interfaces.
      if (!existsSync(`/sys/class/net/${t.nodeInterface}`)) {
        throw Object.assign(new Error(`node interface ${t.nodeInterface} does not exist`), { code: 'ERR_RINGTAP_NO_SUCH_INTERFACE' });
      }
      return [{ name: t.nodeInterface, description: `node=${node} interface=${t.nodeInterface}`, timestamps: this.work.timestamps }];
    }
    const pod = t.pod!;
    const ns = await resolvePodNetns(pod.uid);
    const desc = (ifname: string) => `node=${node} pod=${pod.namespace}/${pod.name} uid=${pod.uid} interface=${ifname}`;
    if (this.work.capturePoint === 'hostVeth') {
      const veth = await findHostVeth(ns.netnsPath, 'eth0');
      return [{ name: veth, description: desc(`${veth} (host side of eth0)`), timestamps: this.work.timestamps }];
    }
    const only = this.work.podInterfaces?.length ? new Set(this.work.podInterfaces) : undefined;
    const ifs = (await podInterfaces(ns.netnsPath)).filter((i) => (only ? only.has(i.name) : i.name !== 'lo'));
    if (ifs.length === 0) throw Object.assign(new Error(`pod ${pod.namespace}/${pod.name} has no interface to capture`), { code: 'ERR_RINGTAP_NO_SUCH_INTERFACE' });
    return ifs.map((i) => ({ name: i.name, netns: ns.netnsPath, description: desc(i.name), timestamps: this.work.timestamps }));
  }

  private onEvent(e: CaptureEvent): void {
    const log = this.ctx.reporter.log;
    switch (e.type) {
      case 'interface-removed':
        for (const [key, a] of this.attached) {
          for (const [name, id] of a.ids) if (id === e.interfaceId) a.ids.delete(name);
          if (a.ids.size === 0) this.attached.delete(key);
        }
        if (!this.finished) this.releaseRings(Math.max(1, this.attachedInterfaces()));
        if (e.reason === 'gone') log.info({ interface: e.interfaceName }, 'interface gone; its ring is closed, the file stays valid');
        break;
      case 'error':
        if (/ENOSPC|EDQUOT|no space|quota/i.test(`${e.code} ${e.message}`)) this.diskFull = e.message;
        log.error({ code: e.code, err: e.message, path: e.path }, 'capture error');
        break;
      case 'file-rotated':
        this.applyRetention();
        break;
      case 'stopped': {
        const reason = API_STOP_REASON[e.reason];
        if (e.reason === 'disk-full') this.finish('Failed', `DiskFull: the disk of ${this.dir} is full; the capture stopped and its files are complete up to the last whole packet${this.diskFull ? ` (${this.diskFull})` : ''}`);
        else if (e.reason === 'error') this.finish('Failed', 'the capture stopped on an error; see the agent log');
        else if (reason) this.finish(reason, undefined);
        break;
      }
      default:
        break;
    }
  }

  private applyRetention(): void {
    const r = this.work.retention;
    if (!r) return;
    const files = listCaptureFiles(this.dir, this.prefix);
    const current = this.capture?.stats().currentFile;
    for (const f of retentionVictims(files, { ...(r.maxFiles !== undefined ? { maxFiles: r.maxFiles } : {}), ...(r.maxTotalBytes !== undefined ? { maxTotalBytes: r.maxTotalBytes } : {}), ...(r.maxAgeSeconds !== undefined ? { maxAgeMs: r.maxAgeSeconds * 1000 } : {}) }, Date.now(), current)) {
      rmSync(f.path, { force: true });
    }
  }

  private report(urgent = false): void {
    const s = this.capture?.stats();
    const files = listCaptureFiles(this.dir, this.prefix).slice(-64).map((f) => ({ name: f.name, size: f.size }));
    const targets = this.wanted().map((t) => {
      const a = this.attached.get(t.key);
      const fail = this.failures.get(t.key);
      // The message names the pod's UID: a restarted pod keeps its name but not its UID.
      const who = t.pod ? `uid=${t.pod.uid} ` : '';
      return a && a.ids.size > 0
        ? { name: t.label, state: 'Attached' as const, message: `${who}interfaces=${[...a.ids.keys()].join(',')}` }
        : { name: t.label, state: fail ? 'Failed' as const : 'Detached' as const, ...(fail || who ? { message: `${who}${fail ?? ''}`.slice(0, 512) } : {}) };
    }).slice(0, 256);
    const labels = { namespace: this.spec.parent.namespace ?? '', capture: this.spec.parent.name };
    capturePackets.set(labels, this.base.packets + (s?.packetsWritten ?? 0));
    captureBytes.set(labels, this.base.bytes + (s?.bytes ?? 0));
    captureDrops.set(labels, this.base.drops + (s?.kernelDrops ?? 0) + (s?.spillDrops ?? 0));
    captureFreezes.set(labels, this.base.freezes + (s?.freezes ?? 0));
    captureFiles.set(labels, files.length);
    streamDrops.set(labels, s?.streamDrops ?? 0);
    this.ctx.reporter.update({
      counters: {
        // Packets written, not seen: a block may carry packets past a limit, which are not kept.
        packets: this.base.packets + (s?.packetsWritten ?? 0),
        bytes: this.base.bytes + (s?.bytes ?? 0),
        drops: this.base.drops + (s?.kernelDrops ?? 0) + (s?.spillDrops ?? 0),
        freezes: this.base.freezes + (s?.freezes ?? 0),
      },
      files,
      targets,
    }, urgent);
  }

  private finish(reason: ApiStopReason, message: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.deadlineTimer);
    clearInterval(this.resolveTimer);
    clearInterval(this.statsTimer);
    this.report();
    this.ctx.reporter.update({
      phase: reason === 'Failed' ? 'Failed' : 'Completed', stopReason: reason,
      ...(message ? { message } : { message: '' }),
    }, true);
    void this.closeFinished().catch((err: unknown) => this.ctx.reporter.log.warn({ err }, 'closing a finished capture failed'));
  }

  /**
   * A capture that finished by itself (a limit, the deadline, a full disk) is closed once its
   * engine has stopped and its live streams have sent their last bytes, so that its rings go
   * back to the node's budget: a Completed capture that nobody deletes held them until its task
   * was stopped, and a tenant's many finished captures shrank every other capture's ring. Its
   * counts stay in the status (folded into base); its files stay until the task's cleanup.
   */
  private async closeFinished(): Promise<void> {
    const c = this.capture;
    if (!c) return;
    await c.stop();
    if (c.openStreams > 0) await new Promise<void>((resolve) => c.once('streams-ended', resolve));
    if (this.capture !== c) return; // the task was stopped meanwhile, and closed it
    this.capture = undefined;
    c.removeAllListeners('event');
    this.closeEngine(c);
  }

  /** Closes an engine that has stopped; its rings go back to the budget, its counts into base. */
  private closeEngine(c: RingCapture): void {
    const s = c.stats();
    c.close();
    this.releaseRings(0);
    this.base = {
      packets: this.base.packets + s.packetsWritten, bytes: this.base.bytes + s.bytes,
      drops: this.base.drops + s.kernelDrops + s.spillDrops, freezes: this.base.freezes + s.freezes,
    };
  }

  async stop(opts: { cleanup: boolean }): Promise<void> {
    this.onStopped();
    clearTimeout(this.deadlineTimer);
    clearInterval(this.resolveTimer);
    clearInterval(this.statsTimer);
    const c = this.capture;
    if (c) {
      const wasFinished = this.finished;
      this.finished = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([c.stop(), new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
      if (!wasFinished && !opts.cleanup) this.report(true);
      this.capture = undefined;
      this.closeEngine(c);
    }
    // Closed, its rings are freed (a capture that finished by itself was closed already: closeFinished).
    this.releaseRings(0);
    if (opts.cleanup) {
      removeCaptureDir(this.dir, this.ctx.dataDir);
      const labels = { namespace: this.spec.parent.namespace ?? '', capture: this.spec.parent.name };
      for (const g of [capturePackets, captureBytes, captureDrops, captureFreezes, captureFiles, streamDrops]) g.remove(labels);
    }
  }
}
