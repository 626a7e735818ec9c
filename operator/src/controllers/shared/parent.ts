// What every parent kind's controller does the same way: name and label its NodeTasks (all in
// the operator's namespace), compare specs, add its finalizer, write its status (server-side
// apply, only when it changed, at most once a second) and, on deletion, the cleanup handshake
// with the agents, then the deletion of its NodeTasks, before its finalizer goes.
import { createHash } from 'node:crypto';
import type { Result } from '../../../../lib/kube/controller.js';
import type { Condition, DesiredCondition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import { isConflict, isNotFound, type KubeClient, type KubeObject, type ResourceType } from '../../../../lib/kube/kube.js';
import type { Logger } from '../../../../lib/observe/log.js';
import { statusWrites } from '../../../../lib/kube/metrics.js';
import { FINALIZER, LABEL_NODE, LABEL_PARENT_KIND, LABEL_PARENT_NAME, LABEL_PARENT_NAMESPACE, LABEL_PARENT_UID, NodeTaskType, type ParentKind } from '../../../../crds/src/index.js';
import type { NodeTask } from '../../../../lib/kube/objects.js';

const CLEANUP_TIMEOUT_MS = 60_000;
const STATUS_MIN_INTERVAL_MS = 1_000;

/** Who a NodeTask is for: a parent's kind, namespace (none when cluster-scoped) and name. */
export interface TaskParent { kind: ParentKind; namespace?: string | undefined; name: string }

const KIND_PREFIX: Record<ParentKind, string> = { PacketCapture: 'pc', PortMirror: 'pm', PPPBridge: 'ppp', IPAMonitor: 'ipa' };

/**
 * A NodeTask's name in the operator's namespace, where the tasks of every namespace's parents
 * live together: stable per (kind, namespace, name, node), at most 63 characters whatever their
 * lengths. The readable part is cut short; the hash of all four (64 bits) keeps two parents
 * whose names share the readable part (the same name in two namespaces, a long name's prefix)
 * apart. Dots become dashes, so the name is also a DNS label.
 */
export function taskName(parent: TaskParent, node: string): string {
  const h = createHash('sha256').update([parent.kind, parent.namespace ?? '', parent.name, node].join('\0')).digest('hex').slice(0, 16);
  const part = (s: string, n: number) => s.slice(0, n).replace(/\./g, '-');
  const parts = [KIND_PREFIX[parent.kind], ...(parent.namespace ? [part(parent.namespace, 12)] : []), part(parent.name, parent.namespace ? 18 : 31), part(node, 10), h];
  return parts.join('-').replace(/-+/g, '-');
}

/** A JSON value's text with keys sorted and empty lists left out (the API server drops them). */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || (Array.isArray(x) && x.length === 0)) continue;
        out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(value));
}

/** Deep equality of JSON values, ignoring key order and empty lists. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The labels every NodeTask carries: its node and its parent (a label value holds at most 63
 * characters: a longer parent name is cut; the UID says exactly which parent).
 */
export function taskLabels(kind: ParentKind, parent: KubeObject, node: string): Record<string, string> {
  return {
    [LABEL_NODE]: node, [LABEL_PARENT_KIND]: kind, [LABEL_PARENT_NAME]: parent.metadata.name.slice(0, 63),
    ...(parent.metadata.namespace ? { [LABEL_PARENT_NAMESPACE]: parent.metadata.namespace } : {}),
    [LABEL_PARENT_UID]: parent.metadata.uid!,
  };
}

export type { FilterValidator } from './filters.js';

/**
 * Adds the finalizer when the object lacks it (a merge patch guarded by its resourceVersion).
 * Returns the patched object when it patched (truthy: the caller may return and let the update
 * event bring it back, or go on with the answer), undefined when the finalizer was there.
 */
export async function ensureFinalizer(client: KubeClient, type: ResourceType, obj: KubeObject): Promise<KubeObject | undefined> {
  if (obj.metadata.finalizers?.includes(FINALIZER)) return undefined;
  return client.mergePatch(type, obj.metadata.namespace, obj.metadata.name, {
    metadata: { finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER], resourceVersion: obj.metadata.resourceVersion },
  });
}

/** Status equality that ignores key order and when conditions last changed. */
function comparable(s: Record<string, unknown>): string {
  return canonicalJson({ ...s, conditions: (s.conditions as Condition[] | undefined)?.map((c) => ({ ...c, lastTransitionTime: '' })) });
}

/** Where a reconciler looks nodes up (its Node informer). */
export interface NodeLookup { get(namespace: undefined, name: string): unknown }

export class ParentStatusWriter {
  private lastWrite = new Map<string, number>();

  /** observe: given the API server's answer to each status write (the informer's observe()). */
  constructor(private client: KubeClient, private type: ResourceType, private observe?: (written: KubeObject) => void) {}

  /**
   * Applies status if it differs from what the object has. Returns 'unchanged', 'written', or a
   * Result to come back later (coalescing, or a conflict).
   */
  async write(obj: KubeObject & { status?: object }, status: Record<string, unknown>): Promise<'unchanged' | 'written' | 'gone' | Result> {
    if (comparable(status) === comparable((obj.status ?? {}) as Record<string, unknown>)) return 'unchanged';
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    const since = Date.now() - (this.lastWrite.get(key) ?? 0);
    if (since < STATUS_MIN_INTERVAL_MS) return { requeueAfterMs: STATUS_MIN_INTERVAL_MS - since };
    try {
      // Not `this.observe?.(await apply(...))`: an optional call skips evaluating its arguments
      // when there is no callback, and the status would never be written.
      const applied = await this.client.apply(this.type, { metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace }, status } as KubeObject, { subresource: 'status' });
      this.observe?.(applied);
    } catch (err) {
      if (isNotFound(err)) return 'gone';
      if (isConflict(err)) return { requeueAfterMs: 100 };
      throw err;
    }
    this.lastWrite.set(key, Date.now());
    statusWrites.inc({ kind: this.type.kind });
    return 'written';
  }

  /**
   * write(), then, when the phase changed, a log line and an Event from the Stalled condition
   * (Warning) or else the Ready one (Normal). Returns what the reconcile should return: `then`
   * (e.g. come back at a deadline) once the status is in place.
   */
  async writeAndAnnounce(
    obj: KubeObject & { status?: { phase?: string } }, status: Record<string, unknown>,
    d: { phase: string; conditions: readonly DesiredCondition[] }, events: EventRecorder, log: Logger, then?: Result,
  ): Promise<Result | void> {
    const written = await this.write(obj, status);
    if (written === 'gone') return;
    if (written === 'unchanged') return then;
    if (written !== 'written') return written;
    const before = obj.status?.phase;
    // An Event per change of phase; a new object's first phase, Pending, is no change (its status
    // says so), and would cost the API server one more write per object in a burst.
    if (before === d.phase || (before === undefined && d.phase === 'Pending')) return then;
    log.info({ from: obj.status?.phase ?? '', to: d.phase }, 'phase changed');
    const stalled = d.conditions.find((x) => x.type === 'Stalled')!;
    const c = stalled.status === 'True' ? stalled : d.conditions.find((x) => x.type === 'Ready')!;
    // Events of a cluster-scoped object go to the default namespace, as Kubernetes does.
    void events.record({ ...obj, apiVersion: `${this.type.group}/${this.type.version}`, kind: this.type.kind }, stalled.status === 'True' ? 'Warning' : 'Normal', c.reason, `${d.phase}: ${c.message}`);
    return then;
  }

  /**
   * Deletion of a parent: the cleanup handshake with the agents of its nodes (cleanupHandshake),
   * then its write times are forgotten. Returns what the reconcile should return.
   */
  async cleanup(obj: KubeObject, tasks: NodeTask[], nodes: NodeLookup, log: Logger, what: string): Promise<Result | void> {
    const r = await cleanupHandshake({ client: this.client, type: this.type, obj, tasks, log, what, nodeExists: (n) => nodes.get(undefined, n) !== undefined });
    if (!r) this.forget(obj);
    return r;
  }

  forget(obj: KubeObject): void {
    this.lastWrite.delete(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`);
  }
}

/**
 * Deletion of a parent: ask each agent to clean up (spec.cleanup), wait for them to say so
 * (status.cleanedUp; bounded, and never for a node that is gone), delete the NodeTasks (they
 * live in the operator's namespace: no owner reference takes them with the parent), then
 * remove the finalizer.
 */
export async function cleanupHandshake(args: {
  client: KubeClient; type: ResourceType; obj: KubeObject; tasks: NodeTask[];
  nodeExists: (name: string) => boolean; log: Logger; what: string;
}): Promise<Result | void> {
  const { client, type, obj, tasks, log } = args;
  if (!obj.metadata.finalizers?.includes(FINALIZER)) return;
  const pending: string[] = [];
  for (const t of tasks) {
    if (t.status?.cleanedUp) continue;
    // An agent that is gone (its node deleted) cannot acknowledge: do not wait for it.
    if (!args.nodeExists(t.spec.node)) continue;
    pending.push(t.spec.node);
    // A merge patch of this one field: an apply would have to restate the whole object.
    if (!t.spec.cleanup) await client.mergePatch(NodeTaskType, t.metadata.namespace, t.metadata.name, { spec: { cleanup: true } });
  }
  const waited = Date.now() - Date.parse(obj.metadata.deletionTimestamp!);
  if (pending.length > 0 && waited < CLEANUP_TIMEOUT_MS) {
    log.info({ waitingFor: pending }, `waiting for agents to ${args.what}`);
    return { requeueAfterMs: 1_000 };
  }
  if (pending.length > 0) log.warn({ nodes: pending, waitedMs: waited }, 'agents did not acknowledge cleanup in time; removing the finalizer anyway');
  // Before the finalizer goes: once the parent is gone, only the orphan sweep (orphans.ts) would find them.
  for (const t of tasks) await deleteTask(client, t);
  const finalizers = obj.metadata.finalizers.filter((f) => f !== FINALIZER);
  await client.mergePatch(type, obj.metadata.namespace, obj.metadata.name, { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } });
  log.info('finalizer removed');
}

/** Deletes a NodeTask, that very object (by UID): one gone, or replaced by a new one of the same name (a conflict), is left alone. */
export async function deleteTask(client: KubeClient, t: NodeTask): Promise<void> {
  try {
    await client.delete(NodeTaskType, t.metadata.namespace, t.metadata.name, { uid: t.metadata.uid });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}
