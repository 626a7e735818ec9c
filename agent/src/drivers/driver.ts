// The agent's driver framework, in the shape of the sfc driverlink: a primary (the agent)
// and secondary drivers that it probes and removes, tells about link state, MTU and renames,
// and hands work (NodeTasks) to. A driver declares what it can handle and what the node must
// have for it; the agent publishes every driver's capabilities on the Node.
import type { ConditionReason, NodeTaskSpec, NodeTaskStatus } from '../../../crds/src/index.js';
import type { Logger } from '../../../lib/observe/log.js';
import type { NodeCapabilities } from '../node/capabilities.js';

export interface LinkEvent {
  type: 'add' | 'delete' | 'up' | 'down' | 'rename' | 'mtu';
  /** The network namespace the link lives in ('' for the agent's own). */
  netns: string;
  ifindex: number;
  name: string;
  previousName?: string;
  mtu?: number;
}

/** What a running task reports upward; the runner coalesces it into NodeTask status writes. */
export interface TaskReporter {
  /** Replace the task's observed status (merged over the last one). */
  update(status: Partial<NodeTaskStatus>, urgent?: boolean): void;
  log: Logger;
  /**
   * The task broke on something its driver did not foresee (a bug, a hostile spec, a file that
   * vanished): the runner fails and stops this task only; the agent and other tasks go on.
   */
  fail?(err: unknown): void;
}

/** The message a task failure carries in its status: the error's code, if any, and message. */
export function failureMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e?.message === 'string' ? e.message : String(err);
  return `TaskError: ${typeof e?.code === 'string' ? `${e.code}: ` : ''}${text}`.slice(0, 1024);
}

/**
 * Wraps a callback a task schedules for itself (a timer, an event listener, a promise it does
 * not await) so that what it throws, or the promise it returns rejects with, fails that task
 * instead of reaching the process as an uncaught exception.
 */
export function guarded<A extends unknown[]>(reporter: TaskReporter, fn: (...args: A) => unknown): (...args: A) => void {
  const fail = (err: unknown) => {
    if (reporter.fail) return reporter.fail(err);
    reporter.log.error({ err }, 'task failed');
    reporter.update({ phase: 'Failed', message: failureMessage(err) }, true);
  };
  return (...args: A) => {
    try {
      const r = fn(...args);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/** One NodeTask being carried out by a driver. */
export interface DriverTask {
  /** The NodeTask's spec changed (e.g. pods joined or left). */
  update(spec: NodeTaskSpec): Promise<void>;
  /** Stop the work; with cleanup, also remove what it left (files, tc state, sockets). */
  stop(opts: { cleanup: boolean }): Promise<void>;
  onLink?(ev: LinkEvent): void;
  /** A live byte stream of the task's output (packet captures: pcapng), if it has one now. */
  openStream?(): import('node:stream').Readable | undefined;
}

export interface TaskContext {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  dataDir: string;
  /** The status the NodeTask carried when this agent took it over (restart safety). */
  previous?: NodeTaskStatus;
  reporter: TaskReporter;
}

export interface Driver {
  readonly name: string;
  /** Called once at start: may the driver run on this node? */
  probe(caps: NodeCapabilities): Promise<{ ok: boolean; reason?: string }>;
  /** Called on shutdown, after every task of the driver stopped. */
  remove(): Promise<void>;
  handles(spec: NodeTaskSpec): boolean;
  start(spec: NodeTaskSpec, ctx: TaskContext): Promise<DriverTask>;
  onLink?(ev: LinkEvent): void;
}

export class DriverRegistry {
  private drivers: { driver: Driver; ok: boolean; reason?: string }[] = [];

  constructor(private log: Logger) {}

  async register(driver: Driver, caps: NodeCapabilities): Promise<void> {
    const r = await driver.probe(caps);
    this.drivers.push({ driver, ...r });
    this.log.info({ driver: driver.name, usable: r.ok, reason: r.reason }, 'driver probed');
  }

  /** The driver for a task, or why there is none. */
  driverFor(spec: NodeTaskSpec): { driver?: Driver; reason?: string; why?: ConditionReason } {
    const d = this.drivers.find((x) => x.driver.handles(spec));
    if (!d) return { reason: 'no driver on this agent handles this kind of task', why: 'Failed' };
    if (!d.ok) return { reason: `driver ${d.driver.name} cannot run on this node: ${d.reason ?? 'probe failed'}`, why: 'CapabilityMissing' };
    return { driver: d.driver };
  }

  link(ev: LinkEvent): void {
    for (const d of this.drivers) if (d.ok) d.driver.onLink?.(ev);
  }

  async removeAll(): Promise<void> {
    for (const d of this.drivers) await d.driver.remove().catch((err: unknown) => this.log.warn({ driver: d.driver.name, err }, 'driver remove failed'));
  }
}
