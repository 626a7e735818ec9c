// The ipa driver: carries out a NodeTask's ipaMonitor. It resolves the node's IPA monitor stream
// and starts one worker thread per task (agent/src/drivers/ipa/thread.ts, worker.ts) that reads it
// (source.ts: a character device, a FIFO or a recorded file), walks and decodes it for the
// node's IPA version (walker.ts), counts it (stats.ts) and, when the capture is enabled, writes
// pcapng segments with rotation and retention (capture.ts): the main thread never touches a
// packet. From the worker's bounded snapshots the driver publishes a summary in NodeTask
// status.ipa, counters in status.counters, the files in status.files, and Prometheus metrics
// (ipa/metrics.ts). A worker that dies turns the task Failed with its message.
//
// Where the stream comes from (spec.device):
//   auto   RINGTAP_IPA_SOURCE if set (a FIFO or file, e.g. a simulated node), else the first of
//          <dev>/qcom_ipa<N>_monitor and <dev>/ipa_adpl (<dev>: RINGTAP_IPA_DEV_DIR, /dev);
//   NAME   <dev>/NAME.
// Its format: RINGTAP_IPA_FORMAT (status|dplv2|dplv3) for a configured source; else what a
// monitor device delivers on this IPA version (DPLv2 below 4.5, DPLv3 from 4.5).
// The version: spec.ipaVersion, else the ipa platform device's `version` in sysfs
// (RINGTAP_IPA_SYSFS_DIR), else RINGTAP_IPA_VERSION; none of them is a configuration error.
// Endpoint names (per SoC, not in the stream): RINGTAP_IPA_ENDPOINT_NAMES="3=AP_LAN_RX,12=MODEM_TX".
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  IPA_MAX_FLOWS, IPA_MAX_NAMED, IPA_MAX_PAIRS, type IPAMonitorWork, type IPATaskStatus, type NodeTaskSpec,
} from '../../../../crds/src/index.js';
import { ipaPaths, probeIPA, type NodeCapabilities } from '../../node/capabilities.js';
import { captureDir, removeCaptureDir } from '../../node/files.js';
import { dplFormatFor, IPA_FORMATS, parseIPAVersion, type IPAFormat } from './decode.js';
import { registerIPAMonitorMetrics, unregisterIPAMonitorMetrics } from './metrics.js';
import type { IPAPipelineOptions, IPASnapshot } from './pipeline.js';
import { carryCounters, carryIPAStatus, type IPATaskCounters } from './carry.js';
import { nodeTaskCounters } from './stats.js';
import { IPAPipelineWorker, type IPAPipelineWorkerOptions, type IPAWorkerData } from './thread.js';
import type { Driver, DriverTask, TaskContext } from '../driver.js';

const TICK_MS = 1_000;
/** stop() waits this long for the worker to close the source and the capture file. */
const STOP_DEADLINE_MS = 5_000;

/** "3=AP_LAN_RX,12=MODEM_TX" -> {3: 'AP_LAN_RX', 12: 'MODEM_TX'}; bad entries are ignored. */
export function parseEndpointNames(text: string | undefined): Record<number, string> {
  const out: Record<number, string> = {};
  for (const part of (text ?? '').split(',')) {
    const m = /^\s*(\d{1,3})\s*=\s*([A-Za-z0-9_.-]{1,48})\s*$/.exec(part);
    if (m && Number(m[1]) <= 255) out[Number(m[1])] = m[2]!;
  }
  return out;
}

/** `netdev`: the stream is frames on this network device (spec.source.netdev); `path` is then its name. */
export interface ResolvedIPASource { path: string; format: IPAFormat; version: string; netdev?: string }

/** Where to read, in which format, for which version; or why not. Pure over the probe and the environment. */
export function resolveIPASource(work: Pick<IPAMonitorWork, 'device' | 'ipaVersion' | 'source'>, probe: { devices: string[]; version?: string }, env: NodeJS.ProcessEnv): ResolvedIPASource | { error: string } {
  const paths = ipaPaths(env);
  let path: string | undefined;
  let configured = false;
  const netdev = work.source?.netdev?.interface;
  if (netdev) path = netdev;
  else if (work.device && work.device !== 'auto') path = join(paths.devDir, work.device);
  else if (paths.source) [path, configured] = [paths.source, true];
  else path = probe.devices.find((d) => d.startsWith(paths.devDir));
  if (!path) return { error: `no IPA monitor device under ${paths.devDir} (qcom_ipa<N>_monitor, ipa_adpl) and no configured source (RINGTAP_IPA_SOURCE)` };
  const version = work.ipaVersion !== 'auto' ? work.ipaVersion : probe.version ?? env.RINGTAP_IPA_VERSION;
  if (!version) return { error: `cannot tell the IPA version: no version attribute of an ipa device under ${paths.sysfsDir}; set spec.ipaVersion` };
  try {
    parseIPAVersion(version);
  } catch {
    return { error: `the IPA version "${version}" is not one the decoder knows` };
  }
  const wanted = env.RINGTAP_IPA_FORMAT;
  if (configured && wanted && !IPA_FORMATS.includes(wanted as IPAFormat)) return { error: `RINGTAP_IPA_FORMAT=${wanted}: want status, dplv2 or dplv3` };
  // A network device carries status elements with their replicas (the RFC's netdev), whatever the version.
  if (netdev) return { path, format: 'status', version, netdev };
  const format = configured && wanted ? (wanted as IPAFormat) : dplFormatFor(version);
  return { path, format, version };
}

/** How the driver starts its workers; tests substitute the entry. */
export type IPAWorkerSettings = Partial<Pick<IPAPipelineWorkerOptions, 'entry' | 'startTimeoutMs'>>;

export class IPADriver implements Driver {
  readonly name = 'ipa';

  constructor(private readonly env: NodeJS.ProcessEnv = process.env, private readonly workers: IPAWorkerSettings = {}) {}

  async probe(caps: NodeCapabilities): Promise<{ ok: boolean; reason?: string }> {
    return caps.ipa.available ? { ok: true } : { ok: false, ...(caps.ipa.reason ? { reason: caps.ipa.reason } : {}) };
  }

  async remove(): Promise<void> {}

  handles(spec: NodeTaskSpec): boolean {
    return spec.ipaMonitor !== undefined;
  }

  async start(spec: NodeTaskSpec, ctx: TaskContext): Promise<DriverTask> {
    const t = new IPAMonitorTask(spec, ctx, this.env, this.workers);
    await t.start();
    return t;
  }
}

class IPAMonitorTask implements DriverTask {
  private work: IPAMonitorWork;
  private readonly dir: string;
  private readonly prefix: string;
  private readonly endpointNames: Record<number, string>;
  private source?: ResolvedIPASource;
  private thread?: IPAPipelineWorker;
  private latest?: IPASnapshot;
  private published = true; // latest is in the status
  private failure?: string;
  private tick?: NodeJS.Timeout;
  private lastPublish = 0;
  private startedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  // What the task published before this worker started (a previous agent's status, or an
  // earlier worker of this task): the published counts are base + the worker's (ipa/carry.ts).
  private base?: IPATaskStatus;
  private baseCounters?: Partial<IPATaskCounters>;
  /** Files written before this worker, with their packet counts: status.files keeps showing them. */
  private knownFiles?: { name: string; packets?: number }[];

  constructor(private spec: NodeTaskSpec, private ctx: TaskContext, private env: NodeJS.ProcessEnv, private workers: IPAWorkerSettings) {
    this.work = spec.ipaMonitor!;
    this.dir = captureDir(join(ctx.dataDir, '_cluster'), 'ipamonitor', spec.parent.name, ctx.node);
    this.prefix = spec.parent.name;
    this.endpointNames = parseEndpointNames(env.RINGTAP_IPA_ENDPOINT_NAMES);
    // Counts never go backwards: a restarted agent adds to what the task already reported.
    if (ctx.previous?.ipa) this.base = ctx.previous.ipa;
    if (ctx.previous?.counters) this.baseCounters = ctx.previous.counters;
    if (ctx.previous?.files) this.knownFiles = ctx.previous.files;
  }

  private get log() {
    return this.ctx.reporter.log;
  }

  async start(): Promise<void> {
    if (this.spec.cleanup) return; // started only to clean up (see stop)
    const r = resolveIPASource(this.work, probeIPA(this.env), this.env);
    if ('error' in r) {
      this.ctx.reporter.update({ phase: 'Failed', reason: 'IPASourceUnavailable', message: r.error }, true);
      return;
    }
    if (!r.netdev && !existsSync(r.path)) {
      this.ctx.reporter.update({ phase: 'Failed', reason: 'IPASourceUnavailable', message: `${r.path} does not exist` }, true);
      return;
    }
    this.source = r;
    const cap = this.work.capture;
    const pipeline: IPAPipelineOptions = {
      source: r.path, format: r.format, version: r.version, endpointNames: this.endpointNames, topPairs: IPA_MAX_PAIRS, topFlows: IPA_MAX_FLOWS,
      ...(this.work.source?.payloadAlignment ? { padAlign: this.work.source.payloadAlignment } : {}),
      ...(r.netdev ? { netdev: { interface: r.netdev } } : {}),
      ...(cap?.enabled ? {
        capture: {
          dir: this.dir, prefix: this.prefix, snapLength: cap.snapLength,
          ...(this.knownFiles?.length ? { knownFiles: this.knownFiles.map((f) => ({ name: f.name, ...(f.packets !== undefined ? { packets: f.packets } : {}) })) } : {}),
          ...(cap.endpoints ? { endpoints: cap.endpoints } : {}), ...(cap.rotation ? { rotation: cap.rotation } : {}), ...(cap.retention ? { retention: cap.retention } : {}),
        },
      } : {}),
    };
    const data: IPAWorkerData = { pipeline, tickMs: TICK_MS };
    try {
      this.thread = await IPAPipelineWorker.start(data, {
        snapshot: (s, urgent) => this.onSnapshot(s, urgent),
        log: (l) => this.log[l.level](l.fields, l.msg),
        failed: (message) => this.onFailed(message),
      }, { ...this.workers, name: `ipa-${this.spec.parent.name}` });
    } catch (err) {
      this.failure = `IPAWorkerFailed: ${(err as Error).message}`;
      this.log.error({ err: (err as Error).message }, 'starting the IPA worker failed');
      this.ctx.reporter.update({ phase: 'Failed', message: this.failure }, true);
      return;
    }
    registerIPAMonitorMetrics(this.spec.parent.name, () => this.latest!.summary); // set by the first snapshot, never unset
    this.log.info({ source: r.path, format: r.format, ipaVersion: r.version, capture: cap?.enabled === true }, 'IPA monitor started');
    this.publish(true, 'Running');
    this.tick = setInterval(() => this.onTick(), TICK_MS);
  }

  private onSnapshot(s: IPASnapshot, urgent: boolean): void {
    this.latest = s;
    this.published = false;
    if (!this.thread) return; // the first one: start() publishes it with the phase
    if (urgent) this.publish(true);
    else if (Date.now() - this.lastPublish >= this.work.metricsIntervalSeconds * 1000) this.publish(false);
  }

  private onFailed(message: string): void {
    this.failure = `IPAWorkerFailed: ${message}`;
    clearInterval(this.tick);
    this.tick = undefined;
    this.thread = undefined;
    this.log.error({ err: message }, 'the IPA worker failed; the task stops');
    this.ctx.reporter.update({ phase: 'Failed', message: this.failure }, true);
  }

  private onTick(): void {
    if (!this.published && Date.now() - this.lastPublish >= this.work.metricsIntervalSeconds * 1000) this.publish(false);
  }

  /** The bounded status.ipa block. */
  ipaStatus(snap: IPASnapshot): IPATaskStatus {
    const s = snap.summary;
    const named = (m: Record<string, { records: number; bytes: number }>) =>
      Object.entries(m).map(([name, c]) => ({ name, records: c.records, bytes: c.bytes }))
        .sort((a, b) => b.records - a.records || a.name.localeCompare(b.name)).slice(0, IPA_MAX_NAMED);
    return {
      format: s.format, source: this.source!.path,
      records: s.records, packets: s.packets, bytes: s.bytes, capturedBytes: s.capturedBytes, truncated: s.truncated,
      exceptions: s.exceptions, unknownExceptions: s.unknownExceptions,
      pairs: s.byPair.slice(0, IPA_MAX_PAIRS).map((p) => ({
        src: p.src, dst: p.dst, ...(p.srcName ? { srcName: p.srcName } : {}), ...(p.dstName ? { dstName: p.dstName } : {}),
        records: p.records, bytes: p.bytes, truncated: p.truncated,
      })),
      otherPairs: { pairs: s.otherPairs.pairs, records: s.otherPairs.records, bytes: s.otherPairs.bytes },
      byOpcode: named(s.byOpcode),
      byException: named(s.byException),
      topFlows: s.topFlows.slice(0, IPA_MAX_FLOWS).map((f) => ({ ...f })),
      flowsApproximate: s.flowsApproximate,
      decodeErrors: { ...s.errors },
      resyncs: s.resyncs,
      skippedBytes: s.skippedBytes,
      reopens: snap.reopens,
    };
  }

  private publish(urgent: boolean, phase?: 'Running'): void {
    const s = this.latest;
    if (!s || !this.source) return;
    this.lastPublish = Date.now();
    this.published = true;
    const message = this.failure ?? s.captureError ??
      (s.readError ? `reading ${this.source.path} failed (${s.readError}); retrying` : s.replayDone ? `replay of ${this.source.path} finished`
        : s.ring ? `reading network device ${this.source.path}: ${s.ring.frames} frames, ${s.ring.drops} lost` : '');
    this.ctx.reporter.update({
      ...(phase ? { phase, startTime: this.ctx.previous?.startTime ?? this.startedAt } : {}),
      ipaVersion: this.source.version,
      counters: carryCounters(this.baseCounters, nodeTaskCounters(s.summary, s.written)),
      ipa: carryIPAStatus(this.base, this.ipaStatus(s)),
      ...(s.files ? { files: s.files } : {}),
      // The reason says what is wrong (the operator reads it, never the message); Monitoring when nothing is.
      reason: this.failure ? 'Failed' : s.captureError ? 'CaptureFailed' : s.readError ? 'IPASourceUnavailable' : 'Monitoring',
      message,
    }, urgent);
  }

  async update(spec: NodeTaskSpec): Promise<void> {
    const before = JSON.stringify([this.work.device, this.work.source ?? {}, this.work.ipaVersion, this.work.capture ?? {}]);
    this.spec = spec;
    this.work = spec.ipaMonitor!;
    if (JSON.stringify([this.work.device, this.work.source ?? {}, this.work.ipaVersion, this.work.capture ?? {}]) !== before && this.thread) {
      // The source or the capture changed: start over with the new settings (files stay, counts carry on).
      this.log.info('device, version or capture changed; restarting the monitor');
      await this.halt();
      if (this.latest && this.source) {
        this.base = carryIPAStatus(this.base, this.ipaStatus(this.latest));
        this.baseCounters = carryCounters(this.baseCounters, nodeTaskCounters(this.latest.summary, this.latest.written));
        if (this.latest.files) this.knownFiles = this.latest.files;
        this.latest = undefined;
      }
      this.failure = undefined;
      await this.start();
    }
  }

  /** Stops the worker: the source and the capture file are closed when this returns (or the deadline passed). */
  private async halt(): Promise<void> {
    clearInterval(this.tick);
    this.tick = undefined;
    const t = this.thread;
    this.thread = undefined;
    if (!t) return;
    const r = await t.stop(STOP_DEADLINE_MS);
    if (r.snapshot) this.latest = r.snapshot;
    if (!r.clean) this.log.warn({ deadlineMs: STOP_DEADLINE_MS }, 'the IPA worker did not stop cleanly; it was terminated');
  }

  async stop(opts: { cleanup: boolean }): Promise<void> {
    const running = this.thread !== undefined;
    await this.halt();
    if (running && !opts.cleanup) this.publish(true);
    unregisterIPAMonitorMetrics(this.spec.parent.name);
    if (opts.cleanup) removeCaptureDir(this.dir, this.ctx.dataDir);
  }
}
