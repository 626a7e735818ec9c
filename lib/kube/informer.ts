// A list-then-watch cache that assumes watches die silently: it lists, watches from the
// list's resourceVersion with bookmarks, relists on 410 Gone, restarts on any error with
// jittered backoff, and relists when the stream has been quiet for longer than it may be.
// Every failure is counted (ringtap_watch_restarts_total) and logged.
import type { Logger } from '../observe/log.js';
import { isGone, KubeError, resourcePath, type KubeClient, type KubeList, type KubeObject, type ResourceType } from './kube.js';
import { relists, watchRestarts } from './metrics.js';

export type ChangeType = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (type: ChangeType, obj: T, old?: T) => void;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout; the server closes the stream cleanly after it. */
  watchTimeoutSeconds?: number;
  /** With no event, bookmark or reconnect for this long, the stream is presumed dead: relist. */
  livenessMs?: number;
}

export const objectKey = (o: KubeObject): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class Informer<T extends KubeObject> {
  private store = new Map<string, T>();
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

  constructor(private client: KubeClient, readonly type: ResourceType, private log: Logger, private opts: InformerOptions = {}) {
    this.name = type.group ? `${type.plural}.${type.group}` : type.plural;
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
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
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
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    const fresh = new Map<string, T>();
    for (const it of items) {
      // List items carry no apiVersion/kind; fill them in so handlers see whole objects.
      const obj = { ...it, apiVersion: this.type.group ? `${this.type.group}/${this.type.version}` : this.type.version, kind: this.type.kind } as T;
      fresh.set(objectKey(obj), obj);
    }
    const old = this.store;
    this.store = fresh;
    for (const [k, o] of old) if (!fresh.has(k)) this.emit('delete', o);
    for (const [k, o] of fresh) {
      const prev = old.get(k);
      if (!prev) this.emit('add', o);
      else if (prev.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, prev);
    }
    this.resourceVersion = rv;
    this.lastActivity = Date.now();
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
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
        }, (phase, obj: T & { code?: number; message?: string; reason?: string }) => {
          this.lastActivity = Date.now();
          if (phase === 'ERROR') {
            const code = obj.code ?? 500;
            this.abort?.abort();
            finish(new KubeError(code, obj.reason ?? 'WatchError', obj.message ?? 'watch error'));
            return;
          }
          const rv = obj.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (phase === 'BOOKMARK') return;
          const key = objectKey(obj);
          const prev = this.store.get(key);
          if (phase === 'DELETED') {
            this.store.delete(key);
            this.emit('delete', obj);
          } else {
            this.store.set(key, obj);
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
