// A controller: a work queue of keys and N workers calling a level-based reconcile.
// Reconcile returns a Result (optionally requeue after a delay) or throws to be retried with
// backoff. A spec the reconciler cannot act on is not an error here: the reconciler reports it
// in status (Stalled with a reason) and returns; the next change of the object requeues it.
import type { Logger } from '../observe/log.js';
import { queueDepth, reconcileDuration, reconcileErrors, reconcileTotal } from './metrics.js';
import { WorkQueue } from './queue.js';

export interface Result { requeueAfterMs?: number }
export type Reconciler = (key: string, log: Logger) => Promise<Result | void>;

export class Controller {
  readonly queue = new WorkQueue();
  private running: Promise<void>[] = [];
  private depthTimer?: NodeJS.Timeout;

  constructor(readonly name: string, private reconcile: Reconciler, private log: Logger, private workers = 2) {}

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    this.depthTimer = setInterval(() => queueDepth.set({ controller: this.name }, this.queue.length), 1000);
    this.depthTimer.unref();
    for (let i = 0; i < this.workers; i++) this.running.push(this.worker());
  }

  async stop(): Promise<void> {
    clearInterval(this.depthTimer);
    this.queue.shutdown();
    await Promise.all(this.running);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const [ns, name] = key.includes('/') ? key.split('/', 2) : [undefined, key];
      const log = this.log.child({ controller: this.name, namespace: ns, name });
      const end = reconcileDuration.startTimer({ controller: this.name });
      try {
        const r = (await this.reconcile(key, log)) ?? {};
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined) {
          reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
          this.queue.addAfter(key, r.requeueAfterMs);
        } else {
          reconcileTotal.inc({ controller: this.name, result: 'success' });
        }
      } catch (err) {
        reconcileErrors.inc({ controller: this.name });
        reconcileTotal.inc({ controller: this.name, result: 'error' });
        const delay = this.queue.nextDelay(key);
        log.warn({ err, retryInMs: delay }, 'reconcile failed; retrying');
        this.queue.addAfter(key, delay);
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
