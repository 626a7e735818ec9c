// Writing an object the operator owns whole (a NodeTask) at the least cost to the API server.
// Server-side apply costs the server more than a create of the same object (it merges the
// applied configuration into the live object and recomputes managedFields on every call, even
// one that changes nothing), and a burst of new captures is almost all creates. So: a create when
// the cache has no such object, a JSON merge patch of what differs when it has one, nothing when
// nothing differs (docs/adr/0010-operator-scale.md).
import { isAlreadyExists, isConflict, type KubeClient, type KubeObject, type ResourceType } from './kube.js';

/** The informer's side of a write: what it holds, and the answer to a write (Informer.observe). */
export interface WriteCache<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  observe(written: T): void;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Absent, or an empty list: the same to us (the server may store either for an empty field). */
const empty = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0);

/** A value's JSON with object keys sorted and empty lists left out: equal for equal content. */
function canonical(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(norm);
    if (!isObject(x)) return x;
    return Object.fromEntries(Object.keys(x).sort().filter((k) => !empty(x[k])).map((k) => [k, norm(x[k])]));
  };
  return JSON.stringify(norm(v));
}

/**
 * The JSON merge patch (RFC 7386) that turns `from` into `to`, or undefined when they are equal:
 * objects are compared key by key (in any order), a key of `from` missing from `to` becomes
 * null, anything else that differs (lists included: a merge patch replaces them whole) is `to`'s
 * value. An absent field and an empty list are equal.
 */
export function mergePatchBetween(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return canonical(from) === canonical(to) ? undefined : (to ?? null);
  const patch: Json = {};
  for (const k of Object.keys(from)) if (empty(to[k]) && !empty(from[k])) patch[k] = to[k] ?? null;
  for (const [k, v] of Object.entries(to)) {
    if (empty(v)) continue;
    const d = from[k] === undefined ? v : mergePatchBetween(from[k], v);
    if (d !== undefined) patch[k] = d;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * The patch that makes `live` what `desired` says: each field desired gives of every top-level
 * object other than metadata (a spec) becomes exactly desired's (below it, keys desired lacks
 * are removed); fields of the spec that desired does not name stay (one another writer sets,
 * such as a NodeTask's spec.cleanup, or a default the server filled in); of the metadata,
 * the labels and annotations desired names get its values (others' keys stay) and its
 * ownerReferences, when it gives them, replace the live ones. Guarded by live's
 * resourceVersion: a live object that changed since makes it a 409, not a blind overwrite.
 */
function patchFor(live: KubeObject, desired: KubeObject): Json | undefined {
  const patch: Json = {};
  const meta: Json = {};
  const d = desired.metadata, l = live.metadata;
  for (const f of ['labels', 'annotations'] as const) {
    const want = d[f];
    if (!want) continue;
    const changed = Object.entries(want).filter(([k, v]) => l[f]?.[k] !== v);
    if (changed.length > 0) meta[f] = Object.fromEntries(changed);
  }
  if (d.ownerReferences && JSON.stringify(d.ownerReferences) !== JSON.stringify(l.ownerReferences ?? [])) meta.ownerReferences = d.ownerReferences;
  for (const [k, v] of Object.entries(desired)) {
    if (k === 'metadata' || k === 'apiVersion' || k === 'kind' || k === 'status' || v === undefined) continue;
    const was = (live as unknown as Json)[k];
    // The fields desired names are made exactly what it says; the spec's other fields stay.
    const p = isObject(v) && isObject(was)
      ? Object.fromEntries(Object.entries(v).map(([f, x]) => [f, mergePatchBetween(was[f], x)]).filter(([, x]) => x !== undefined))
      : mergePatchBetween(was, v);
    if (p !== undefined && !(isObject(p) && Object.keys(p).length === 0)) patch[k] = p;
  }
  if (Object.keys(meta).length === 0 && Object.keys(patch).length === 0) return undefined;
  return { ...patch, metadata: { ...meta, resourceVersion: l.resourceVersion } };
}

/**
 * Writes `desired` (its name, namespace, labels, owner references and spec fields): a create
 * when the cache holds no object of its name, a merge patch of the difference when it holds
 * one, nothing when they agree. The API server's answer goes into the cache (observe). A cache
 * that is behind (the object exists, or changed since) costs one GET of the live object and
 * the patch against it; a second conflict is thrown, for the caller's retry.
 * Returns the object as the server has it, and whether this call wrote.
 */
export async function createOrPatch<T extends KubeObject>(
  client: KubeClient, type: ResourceType, cache: WriteCache<T>, desired: T,
): Promise<{ object: T; written: boolean }> {
  const { namespace, name } = desired.metadata;
  let live = cache.get(namespace, name);
  if (!live) {
    try {
      const created = await client.create<T>(type, desired);
      cache.observe(created);
      return { object: created, written: true };
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      live = await client.get<T>(type, namespace, name);
    }
  }
  for (let attempt = 0; ; attempt++) {
    const patch = patchFor(live, desired);
    if (!patch) return { object: live, written: false };
    try {
      const patched = await client.mergePatch<T>(type, namespace, name, patch);
      cache.observe(patched);
      return { object: patched, written: true };
    } catch (err) {
      if (!isConflict(err) || attempt > 0) throw err;
      live = await client.get<T>(type, namespace, name);
    }
  }
}
