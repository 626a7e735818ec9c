// What every parent kind's controller does the same way: name its NodeTasks, compare specs,
// add its finalizer, write its status (server-side apply, only when it changed, at most once a
// second) and, on deletion, the cleanup handshake with the agents before its finalizer goes.
import { createHash } from 'node:crypto';
import type { Result } from '../../../../lib/kube/controller.js';
import type { Condition, DesiredCondition } from '../../../../lib/kube/conditions.js';
import type { EventRecorder } from '../../../../lib/kube/events.js';
import { isConflict, isNotFound, type KubeClient, type KubeObject, type OwnerReference, type ResourceType } from '../../../../lib/kube/kube.js';
import type { Logger } from '../../../../lib/observe/log.js';
import { statusWrites } from '../../../../lib/kube/metrics.js';
import { API_VERSION, FINALIZER, LABEL_NODE, LABEL_PARENT_KIND, LABEL_PARENT_NAME, NodeTaskType, type ParentKind } from '../../../../crds/src/index.js';
import type { NodeTask } from '../../../../lib/kube/objects.js';

const CLEANUP_TIMEOUT_MS = 60_000;
const STATUS_MIN_INTERVAL_MS = 1_000;

/** A NodeTask's name: stable per (capture, node), short enough for any node name. */
export function taskName(captureName: string, node: string): string {
  const h = createHash('sha256').update(`${captureName}\0${node}`).digest('hex').slice(0, 8);
  return `${captureName.slice(0, 40)}-${node.slice(0, 12)}-${h}`.replace(/-+/g, '-');
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

/** The controlling owner reference of a parent's NodeTasks: the garbage collector deletes them with it. */
export function ownerOf(kind: ParentKind, obj: KubeObject): OwnerReference {
  return { apiVersion: API_VERSION, kind, name: obj.metadata.name, uid: obj.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** The labels every NodeTask carries (a label value holds at most 63 characters). */
export function taskLabels(kind: ParentKind, parentName: string, node: string): Record<string, string> {
  return { [LABEL_NODE]: node, [LABEL_PARENT_KIND]: kind, [LABEL_PARENT_NAME]: parentName.slice(0, 63) };
}

/** Validates a BPF filter; returns libpcap's message when it does not compile. */
export type FilterValidator = (filter: string, snapLength: number) => string | undefined;

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
 * (status.cleanedUp; bounded, and never for a node that is gone), then remove the finalizer.
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
  const finalizers = obj.metadata.finalizers.filter((f) => f !== FINALIZER);
  await client.mergePatch(type, obj.metadata.namespace, obj.metadata.name, { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } });
  log.info('finalizer removed');
}
