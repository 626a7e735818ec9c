// A list-then-watch cache that assumes watches die silently: it lists, watches from the
// list's resourceVersion with bookmarks, relists on 410 Gone, restarts on any error with
// jittered backoff, and relists when the stream has been quiet for longer than it may be.
// Every failure is counted (ringtap_watch_restarts_total) and logged.
//
// The cache keeps what the controllers read, not what the API server sent: every object passes
// through a transform before it is stored (by default the one controller-runtime applies:
// managedFields dropped). An update that leaves the transformed object as it was, apart from its
// resourceVersion, is stored but not emitted: a pod's container status ticking over does not
// wake a controller that reads only its labels and IP. Lookups by namespace and by secondary
// indexes (the informer's `indexers`) are maps, not scans.
import type { Logger } from '../observe/log.js';
import { isGone, KubeError, resourcePath, type KubeClient, type KubeList, type KubeObject, type ResourceType } from './kube.js';
import { relists, watchRestarts } from './metrics.js';

export type ChangeType = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (type: ChangeType, obj: T, old?: T) => void;

/** The index values of an object under one index (several, or none). */
export type IndexFunc<T> = (obj: T) => string[];

export interface InformerOptions<T extends KubeObject = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout; the server closes the stream cleanly after it. */
  watchTimeoutSeconds?: number;
  /** With no event, bookmark or reconnect for this long, the stream is presumed dead: relist. */
  livenessMs?: number;
  /** What the cache keeps of each object; default: all but metadata.managedFields. */
  transform?: (obj: T) => T;
  /** Secondary indexes by name, queried with byIndex(). */
  indexers?: Record<string, IndexFunc<T>>;
}

/** The transform controller-runtime applies by default: managedFields is large and no controller reads it. */
export function dropManagedFields<T extends KubeObject>(obj: T): T {
  if (!('managedFields' in obj.metadata)) return obj;
  const metadata: KubeObject['metadata'] & { managedFields?: unknown } = { ...obj.metadata };
  delete metadata.managedFields;
  return { ...obj, metadata };
}

/**
 * Orders two resourceVersions: negative when a is older, 0 when equal, positive when newer;
 * undefined when either is not the decimal integer that Kubernetes 1.35+ guarantees
 * (KEP-5504, comparable resource versions), so callers can fall back to not comparing.
 */
export function compareResourceVersion(a: string | undefined, b: string | undefined): number | undefined {
  const decimal = /^[1-9][0-9]*$/;
  if (!a || !b || !decimal.test(a) || !decimal.test(b)) return undefined;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Deletions remembered so that the answer to an earlier write cannot bring a deleted object back. */
const TOMBSTONES = 10_000;

/** True when two versions of an object differ in nothing but their resourceVersion. */
export function sameButVersion(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: '' } });
  return strip(a) === strip(b);
}

export const objectKey = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

/** Objects by key, by namespace and by each secondary index; set and delete keep all of them in step. */
export class Store<T extends KubeObject> {
  private objects = new Map<string, T>();
  private namespaces = new Map<string, Map<string, T>>();
  private indexes = new Map<string, Map<string, Map<string, T>>>();

  constructor(private readonly indexers: Record<string, IndexFunc<T>> = {}) {
    for (const name of Object.keys(indexers)) this.indexes.set(name, new Map());
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  entries(): IterableIterator<[string, T]> {
    return this.objects.entries();
  }

  /** Stores obj under key; returns the object it replaced. */
  set(key: string, obj: T): T | undefined {
    const prev = this.delete(key);
    this.objects.set(key, obj);
    this.add(this.namespaces, obj.metadata.namespace ?? '', key, obj);
    for (const [name, index] of this.indexes) for (const v of this.indexers[name]!(obj)) this.add(index, v, key, obj);
    return prev;
  }

  delete(key: string): T | undefined {
    const prev = this.objects.get(key);
    if (!prev) return undefined;
    this.objects.delete(key);
    this.remove(this.namespaces, prev.metadata.namespace ?? '', key);
    for (const [name, index] of this.indexes) for (const v of this.indexers[name]!(prev)) this.remove(index, v, key);
    return prev;
  }

  list(namespace?: string): T[] {
    return [...(namespace === undefined ? this.objects : this.namespaces.get(namespace) ?? []).values()];
  }

  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`no index named ${name}`);
    return [...(index.get(value)?.values() ?? [])];
  }

  /** How many objects one index value holds, without copying them. */
  countByIndex(name: string, value: string): number {
    return this.indexes.get(name)?.get(value)?.size ?? 0;
  }

  private add(index: Map<string, Map<string, T>>, value: string, key: string, obj: T): void {
    let m = index.get(value);
    if (!m) index.set(value, (m = new Map()));
    m.set(key, obj);
  }

  private remove(index: Map<string, Map<string, T>>, value: string, key: string): void {
    const m = index.get(value);
    if (!m) return;
    m.delete(key);
    if (m.size === 0) index.delete(value);
  }
}

export class Informer<T extends KubeObject> {
  private store: Store<T>;
  private readonly transform: (obj: T) => T;
  private tombstones = new Map<string, string>();
  private handlers: ChangeHandler<T>[] = [];
  private resourceVersion = '';
  private stopped = false;
  private abort?: AbortController;
  private failures = 0;
  private lastActivity = Date.now();
  private livenessTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private readonly name: string;

  constructor(private client: KubeClient, readonly type: ResourceType, private log: Logger, private opts: InformerOptions<T> = {}) {
    this.name = type.group ? `${type.plural}.${type.group}` : type.plural;
    this.transform = opts.transform ?? dropManagedFields;
    this.store = new Store<T>(opts.indexers);
    // The server closes each watch after watchTimeoutSeconds (60 s); a stream with no byte for
    // 90 s is dead without anyone having said so, and the client aborts it.
    (client.watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 90_000;
  }

  onChange(h: ChangeHandler<T>): void {
    this.handlers.push(h);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the list/watch loop; resolves after the first successful list. */
  start(): Promise<void> {
    this.stopped = false;
    const livenessMs = this.opts.livenessMs ?? 120_000;
    this.livenessTimer = setInterval(() => {
      if (Date.now() - this.lastActivity > livenessMs) {
        this.log.warn({ resource: this.name, quietMs: Date.now() - this.lastActivity }, 'watch quiet for too long; relisting');
        watchRestarts.inc({ resource: this.name, reason: 'stale' });
        this.resourceVersion = '';
        this.abort?.abort();
        this.lastActivity = Date.now();
      }
    }, Math.min(livenessMs, 10_000));
    this.livenessTimer.unref();
    void this.loop();
    return new Promise((resolve) => (this.synced ? resolve() : this.syncWaiters.push(resolve)));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.livenessTimer);
    clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    return this.store.list(namespace);
  }

  /**
   * Puts into the cache an object this process has just written (the API server's answer), unless
   * the cache holds that version or a newer one, or saw the object deleted since: the reconcile
   * that follows its own write then sees it, even before the watch brings it, and does not write
   * it again. Emits nothing; when the watch delivers that version it is recognised as unchanged,
   * and older versions of a key the cache holds newer are skipped. Objects must be within the
   * informer's selection. Without comparable resourceVersions it does nothing.
   */
  observe(written: T): void {
    if (this.opts.namespace !== undefined && written.metadata.namespace !== this.opts.namespace) return;
    const obj = this.transform(written);
    const key = objectKey(obj);
    const rv = obj.metadata.resourceVersion;
    const cur = this.store.get(key)?.metadata.resourceVersion ?? this.tombstones.get(key);
    if (cur === undefined ? compareResourceVersion(rv, rv) === undefined : !((compareResourceVersion(cur, rv) ?? 0) < 0)) return;
    this.store.set(key, obj);
  }

  /** The objects whose index `name` includes value. */
  byIndex(name: string, value: string): T[] {
    return this.store.byIndex(name, value);
  }

  countByIndex(name: string, value: string): number {
    return this.store.countByIndex(name, value);
  }

  private emit(type: ChangeType, obj: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.log.error({ err, resource: this.name }, 'change handler threw');
      }
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist(this.synced ? 'gone' : 'initial');
        const reason = await this.watchOnce();
        this.failures = 0;
        if (reason !== 'closed') watchRestarts.inc({ resource: this.name, reason });
      } catch (err) {
        if (this.stopped) return;
        if (isGone(err)) {
          this.resourceVersion = '';
          watchRestarts.inc({ resource: this.name, reason: 'expired' });
          continue;
        }
        this.failures += 1;
        watchRestarts.inc({ resource: this.name, reason: 'error' });
        // Jittered exponential backoff: 0.5 s doubling to 30 s, +-50 %.
        const base = Math.min(500 * 2 ** (this.failures - 1), 30_000);
        const delay = Math.round(base * (0.5 + Math.random()));
        this.log.warn({ err, resource: this.name, failures: this.failures, delayMs: delay }, 'list/watch failed; retrying');
        await new Promise<void>((r) => { this.retryTimer = setTimeout(r, delay); });
      }
    }
  }

  private async relist(reason: string): Promise<void> {
    relists.inc({ resource: this.name, reason });
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      const page: KubeList<T> = await this.client.list<T>(this.type, this.opts.namespace, {
        labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, limit: 500, continue: cont,
      });
      // List items carry no apiVersion/kind; fill them in so handlers see whole objects. Each
      // page is transformed as it comes: the untransformed list is never held whole.
      const apiVersion = this.type.group ? `${this.type.group}/${this.type.version}` : this.type.version;
      for (const it of page.items) items.push(this.transform({ ...it, apiVersion, kind: this.type.kind }));
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    const fresh = new Store<T>(this.opts.indexers);
    for (const obj of items) fresh.set(objectKey(obj), obj);
    const old = this.store;
    this.store = fresh;
    for (const [k, o] of old.entries()) if (!fresh.get(k)) this.emit('delete', o);
    for (const [k, o] of fresh.entries()) {
      const prev = old.get(k);
      if (!prev) this.emit('add', o);
      else if (prev.metadata.resourceVersion !== o.metadata.resourceVersion && !sameButVersion(prev, o)) this.emit('update', o, prev);
    }
    this.resourceVersion = rv;
    this.lastActivity = Date.now();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private tombstone(key: string, rv: string): void {
    this.tombstones.delete(key);
    this.tombstones.set(key, rv);
    if (this.tombstones.size > TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  /** One watch stream; resolves with why it ended, rejects on an error. */
  private watchOnce(): Promise<'closed'> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve('closed');
      };
      const path = resourcePath(this.type, this.opts.namespace);
      this.client.watcher
        .watch(path, {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.opts.watchTimeoutSeconds ?? 60,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        }, (phase, raw: T & { code?: number; message?: string; reason?: string }) => {
          this.lastActivity = Date.now();
          if (phase === 'ERROR') {
            const code = raw.code ?? 500;
            this.abort?.abort();
            finish(new KubeError(code, raw.reason ?? 'WatchError', raw.message ?? 'watch error'));
            return;
          }
          const rv = raw.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (phase === 'BOOKMARK') return;
          const obj = this.transform(raw);
          const key = objectKey(obj);
          if (phase === 'DELETED') {
            this.store.delete(key);
            if (rv) this.tombstone(key, rv);
            this.emit('delete', obj);
          } else {
            // The cache may be ahead of the stream: it holds this process's own later write.
            if ((compareResourceVersion(this.store.get(key)?.metadata.resourceVersion, rv) ?? 0) > 0) return;
            const prev = this.store.set(key, obj);
            if (prev && sameButVersion(prev, obj)) return;
            this.emit(prev ? 'update' : 'add', obj, prev);
          }
        }, (err: unknown) => finish(err ?? undefined))
        .then((ac) => {
          this.abort = ac;
          if (this.stopped) ac.abort();
        }, finish);
    });
  }
}
