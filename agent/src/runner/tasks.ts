// The NodeTask runner: one per agent. It watches only this node's NodeTasks (field selector
// spec.node), checks each against the world before acting (trust.ts: the pods it names, by
// UID, from a watch of this node's pods), keeps one driver task per NodeTask, and writes only those NodeTasks' status,
// with server-side apply under its own field manager, coalesced to one write per task every
// 2 s (terminal states are written at once).
//
// Every task runs behind a boundary: what its driver throws when started or updated, and what
// escapes from the timers, events and promises it made for itself (they run in its async
// context, which the runner tags with the task's key), fails that task with the error in its
// status. The agent and every other task go on.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { NodeTaskType, TERMINAL_NODE_PHASES, type NodeTaskSpec, type NodeTaskStatus } from '../../../crds/src/index.js';
import { Controller } from '../../../lib/kube/controller.js';
import { Informer } from '../../../lib/kube/informer.js';
import { isNotFound, PodType, type KubeClient, type KubeObject } from '../../../lib/kube/kube.js';
import type { NodeTask } from '../../../lib/kube/objects.js';
import type { Logger } from '../../../lib/observe/log.js';
import { statusWrites } from '../../../lib/kube/metrics.js';
import { kstatusConditions, mergeConditions, type Condition, type DesiredCondition } from '../../../lib/kube/conditions.js';
import { errorReason, RingtapError } from '../../../lib/errors.js';
import { failureMessage, type DriverRegistry, type DriverTask, type TaskReporter } from '../drivers/driver.js';
import { checkTask, type PodFacts, type TrustConfig } from './trust.js';

type Pod = KubeObject & Pick<IPod, 'spec'>;

export type { NodeTask };

const STATUS_INTERVAL_MS = 2_000;
const TERMINAL = new Set<string>(TERMINAL_NODE_PHASES);

/** kstatus conditions of a NodeTask, from the phase its driver reported. */
export function taskConditions(s: NodeTaskStatus): DesiredCondition[] {
  const phase = s.phase ?? 'Pending';
  const message = s.message || `${phase.toLowerCase()}${s.stopReason ? ` (${s.stopReason})` : ''}`;
  return kstatusConditions({
    ready: phase === 'Running' || phase === 'Completed' || phase === 'Stopped',
    reconciling: phase === 'Pending',
    stalled: phase === 'Failed',
    reason: s.reason ?? phase,
    message,
  });
}

/** Accumulates a task's status and applies it, at most once per interval. */
export class StatusReporter implements TaskReporter {
  private current: NodeTaskStatus;
  private lastWrite = 0;
  private timer?: NodeJS.Timeout;
  private writing = Promise.resolve();
  private closed = false;
  /** The last status written, but for its lastUpdateTime: a status that has not changed is not written again. */
  private written?: string;
  /** The NodeTask generation this agent acts on: written as status.observedGeneration (kstatus). */
  generation?: number;

  constructor(
    private client: KubeClient, private ns: string, private name: string, initial: NodeTaskStatus | undefined, readonly log: Logger,
    private onFail?: (err: unknown) => void,
  ) {
    this.current = { ...(initial ?? {}) };
  }

  fail(err: unknown): void {
    if (this.onFail) return this.onFail(err);
    this.log.error({ err }, 'task failed');
    this.update({ phase: 'Failed', reason: errorReason(err) ?? 'Failed', message: failureMessage(err) }, true);
  }

  get status(): NodeTaskStatus {
    return this.current;
  }

  update(status: Partial<NodeTaskStatus>, urgent = false): void {
    if (this.closed) return;
    this.current = { ...this.current, ...status };
    // A reason explains one phase: a new phase without one clears it.
    if (status.phase !== undefined && status.reason === undefined) delete this.current.reason;
    const terminal = TERMINAL.has(this.current.phase ?? '');
    const wait = urgent || terminal ? 0 : Math.max(0, this.lastWrite + STATUS_INTERVAL_MS - Date.now());
    if (wait === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, wait);
    }
  }

  /** Writes what is pending now; resolves when written. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      this.lastWrite = Date.now();
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      this.current.conditions = mergeConditions(this.current.conditions as Condition[] | undefined, taskConditions(this.current), this.generation, now) as NodeTaskStatus['conditions'];
      const status = { ...this.current, ...(this.generation !== undefined ? { observedGeneration: this.generation } : {}), lastUpdateTime: now };
      const content = JSON.stringify({ ...status, lastUpdateTime: undefined });
      if (content === this.written) return;
      try {
        await this.client.apply({ ...NodeTaskType }, { metadata: { name: this.name, namespace: this.ns }, status } as KubeObject, { subresource: 'status' });
        this.written = content;
        statusWrites.inc({ kind: 'NodeTask' });
      } catch (err) {
        if (isNotFound(err)) return;
        this.log.warn({ err }, 'writing NodeTask status failed; will retry');
        if (!this.timer && !this.closed) this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, STATUS_INTERVAL_MS);
      }
    });
    return this.writing;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

interface Running { uid: string; generation: number; specJson: string; task?: DriverTask; reporter: StatusReporter; stopping?: boolean }

export class TaskRunner {
  readonly informer: Informer<NodeTask>;
  private pods: Informer<Pod>;
  private controller: Controller;
  private running = new Map<string, Running>();
  /** The NodeTask key of the code running now, when it was started on a task's behalf. */
  private boundary = new AsyncLocalStorage<string>();
  /** UIDs of tasks failed by the boundary: not started again, though their Failed status may not be written yet. */
  private failed = new Set<string>();

  constructor(
    private client: KubeClient, private registry: DriverRegistry, private node: string, private dataDir: string, private log: Logger,
    private trust: TrustConfig,
  ) {
    // Only the operator's namespace: NodeTasks anywhere else are not the operator's and are
    // never seen (the agent's RBAC reaches no other namespace's NodeTasks either).
    this.informer = new Informer<NodeTask>(client, NodeTaskType, log, { namespace: trust.operatorNamespace, fieldSelector: `spec.node=${node}` });
    this.pods = new Informer<Pod>(client, PodType, log, { fieldSelector: `spec.nodeName=${node}` });
    this.controller = new Controller('nodetask', (key, l) => this.reconcile(key, l), log, 4);
    this.informer.onChange((_t, o) => this.controller.enqueue(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  async start(): Promise<void> {
    await this.pods.start();
    await this.informer.start();
    this.controller.start();
  }

  /**
   * Stops every task and writes final counts. Files always stay (for the next agent, or for
   * users to fetch after an uninstall). The kernel state of mirrors (tc filters, devices,
   * iptables chains) stays too, for the next agent to adopt, unless removeKernelState: the
   * agent is being uninstalled and no agent will come back (agent/src/runner/uninstall.ts).
   */
  async stop(opts: { removeKernelState?: boolean } = {}): Promise<void> {
    await this.controller.stop();
    this.informer.stop();
    this.pods.stop();
    for (const [key, r] of this.running) {
      // A mirror's cleanup removes kernel state only; a capture's would delete its files.
      const cleanup = opts.removeKernelState === true && (JSON.parse(r.specJson) as NodeTaskSpec).portMirror !== undefined;
      await r.task?.stop({ cleanup }).catch((err: unknown) => this.log.warn({ err, task: key }, 'stopping the task failed'));
      await r.reporter.flush();
      r.reporter.close();
    }
    if (opts.removeKernelState) await this.removeIdleMirrors();
  }

  /**
   * The kernel state of this node's mirrors that do not run here (failed, refused, or failed
   * under a previous agent): their filters stay until their NodeTask goes, which an uninstall
   * does not wait for. Start-and-clean, as for a deleted task, without writing their status.
   */
  private async removeIdleMirrors(): Promise<void> {
    for (const t of this.informer.list()) {
      const key = `${t.metadata.namespace}/${t.metadata.name}`;
      if (this.running.has(key) || t.spec.node !== this.node || !t.spec.portMirror) continue;
      const { driver } = this.registry.driverFor(t.spec);
      if (!driver) continue;
      const rep = this.reporterFor(t, this.log.child({ task: key }));
      await this.boundary.run(key, async () => {
        const task = await driver.start({ ...t.spec, cleanup: true }, this.ctx(t, rep));
        await task.stop({ cleanup: true });
      }).catch((err: unknown) => this.log.warn({ err, task: key }, 'removing an idle mirror\'s kernel state failed'));
      rep.close();
    }
  }

  /**
   * An error that escaped to the process (uncaught, or an unhandled rejection): if it came
   * from a task, fail that task and return true; false when it belongs to no task.
   */
  contain(err: unknown): boolean {
    const key = this.boundary.getStore();
    if (key === undefined) return false;
    this.failTask(key, err);
    return true;
  }

  /** Fails one task: its status says why, its driver is stopped (files stay), nothing else is touched. */
  private failTask(key: string, err: unknown, message = failureMessage(err)): void {
    const r = this.running.get(key);
    if (!r) {
      this.log.error({ err, task: key }, 'an error from a task that no longer runs');
      return;
    }
    this.running.delete(key);
    this.failed.add(r.uid);
    r.reporter.log.error({ err }, 'task failed; the agent and its other tasks go on');
    r.reporter.update({ phase: 'Failed', reason: errorReason(err) ?? 'Failed', message }, true);
    void this.boundary.run(key, async () => {
      await r.task?.stop({ cleanup: false }).catch((e: unknown) => r.reporter.log.warn({ err: e }, 'stopping the failed task failed'));
      await r.reporter.flush();
      r.reporter.close();
    });
  }

  private async reconcile(key: string, log: Logger): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const t = this.informer.get(ns, name);
    let r = this.running.get(key);
    if (r && (!t || t.metadata.uid !== r.uid)) {
      // Deleted (or replaced by a new object of the same name): stop and drop what it left.
      log.info('NodeTask gone; stopping and cleaning up');
      this.running.delete(key);
      r.reporter.close();
      const task = r.task;
      await this.boundary.run(key, async () => task?.stop({ cleanup: true }))
        .catch((err: unknown) => log.error({ err }, 'stopping the deleted task failed'));
      r = undefined;
    }
    if (!t) return;
    if (r) r.reporter.generation = t.metadata.generation;
    const spec = t.spec;
    if (spec.node !== this.node) return; // not ours; the field selector should never let this in
    const verdict = checkTask(ns, spec, this.trust, (uid) => this.podFacts(uid));
    if (!verdict.ok && 'forbidden' in verdict) {
      if (r) {
        this.failTask(key, new RingtapError('ERR_RINGTAP_FORBIDDEN', verdict.forbidden, { reason: 'Forbidden' }), verdict.forbidden);
      } else if (t.status?.phase !== 'Failed' || t.status.message !== verdict.forbidden) {
        log.warn({ reason: verdict.forbidden }, 'NodeTask refused');
        const rep = this.reporterFor(t, log);
        rep.update({ phase: 'Failed', reason: 'Forbidden', message: verdict.forbidden }, true);
        await rep.flush();
        rep.close();
      }
      return;
    }
    // A pod the operator saw may reach this agent's watch a moment later: the queue retries.
    if (!verdict.ok && !spec.cleanup) throw new Error(verdict.unknownPod);

    if (spec.cleanup) {
      if (t.status?.cleanedUp && !r) return;
      if (r) {
        this.running.delete(key);
        const task = r.task;
        await this.boundary.run(key, async () => task?.stop({ cleanup: true }))
          .catch((err: unknown) => log.error({ err }, 'cleaning up the task failed'));
        r.reporter.update({ phase: 'Stopped', stopReason: 'Deleted', cleanedUp: true }, true);
        await r.reporter.flush();
        r.reporter.close();
      } else {
        const rep = this.reporterFor(t, log);
        const { driver } = this.registry.driverFor(spec);
        if (driver) {
          // Nothing runs, but a previous agent may have left files: start-and-clean removes them.
          await this.boundary.run(key, async () => {
            const task = await driver.start({ ...spec, cleanup: true }, this.ctx(t, rep)).catch(() => undefined);
            await task?.stop({ cleanup: true });
          }).catch((err: unknown) => log.error({ err }, 'cleaning up after a previous agent failed'));
        }
        rep.update({ phase: 'Stopped', stopReason: 'Deleted', cleanedUp: true }, true);
        await rep.flush();
        rep.close();
      }
      log.info('cleaned up');
      return;
    }

    if (!r) {
      // A task that already finished (before an agent restart) stays finished, and still
      // acknowledges a later spec change: kstatus reads a status behind its generation as in progress.
      if (TERMINAL.has(t.status?.phase ?? '') || this.failed.has(t.metadata.uid!)) {
        if (t.status?.phase && t.status.observedGeneration !== t.metadata.generation) await this.acknowledge(t, log);
        return;
      }
      const reporter = this.reporterFor(t, log, (err) => this.failTask(key, err));
      const { driver, reason, why } = this.registry.driverFor(spec);
      if (!driver) {
        reporter.update({ phase: 'Failed', reason: why, message: reason ?? 'no driver' }, true);
        return;
      }
      r = { uid: t.metadata.uid!, generation: spec.parent.generation, specJson: JSON.stringify(spec), reporter };
      this.running.set(key, r);
      try {
        const task = await this.boundary.run(key, () => driver.start(spec, this.ctx(t, reporter)));
        // The boundary may have failed the task while it started (an event of its own).
        if (this.running.get(key) === r) r.task = task;
        else await task.stop({ cleanup: false }).catch(() => undefined);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        log.error({ err }, 'starting the task failed');
        reporter.update({ phase: 'Failed', reason: errorReason(err) ?? 'Failed', message: `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}` }, true);
        this.running.delete(key);
      }
      return;
    }
    const json = JSON.stringify(spec);
    if (json !== r.specJson && r.task) {
      r.specJson = json;
      const task = r.task;
      try {
        await this.boundary.run(key, () => task.update(spec));
      } catch (err) {
        this.failTask(key, err);
      }
    }
    // The spec is applied (or the task is done): say so, even when nothing else changed.
    if (t.status?.phase && t.status.observedGeneration !== t.metadata.generation) await this.acknowledge(t, log, r);
  }

  /** Writes the task's status with its current generation (a finished task's reporter is closed). */
  private async acknowledge(t: NodeTask, log: Logger, r?: Running): Promise<void> {
    if (r && !TERMINAL.has(t.status?.phase ?? '')) return r.reporter.update({}, true);
    const rep = this.reporterFor(t, log);
    await rep.flush();
    rep.close();
  }

  private podFacts(uid: string): PodFacts | undefined {
    const p = this.pods.list().find((x) => x.metadata.uid === uid);
    return p ? { namespace: p.metadata.namespace!, name: p.metadata.name, hostNetwork: p.spec?.hostNetwork === true } : undefined;
  }

  /** A status reporter for a NodeTask, acting on its current generation. */
  private reporterFor(t: NodeTask, log: Logger, onFail?: (err: unknown) => void): StatusReporter {
    const rep = new StatusReporter(this.client, t.metadata.namespace!, t.metadata.name, t.status, log, onFail);
    rep.generation = t.metadata.generation;
    return rep;
  }

  private ctx(t: NodeTask, reporter: StatusReporter) {
    return {
      namespace: t.metadata.namespace!, name: t.metadata.name, uid: t.metadata.uid!, node: this.node, dataDir: this.dataDir,
      ...(t.status ? { previous: t.status } : {}), reporter,
    };
  }

  /** The live stream of the PacketCapture ns/name running on this node, if any. */
  openStream(namespace: string, name: string): import('node:stream').Readable | undefined {
    for (const [key, r] of this.running) {
      const t = this.informer.get(...(key.split('/') as [string, string]));
      const p = t?.spec.parent;
      if (p?.kind === 'PacketCapture' && p.namespace === namespace && p.name === name) return r.task?.openStream?.();
    }
    return undefined;
  }

  /** Tasks currently running, for metrics and link events. */
  tasks(): DriverTask[] {
    return [...this.running.values()].flatMap((r) => (r.task ? [r.task] : []));
  }
}
