// Leader election on a coordination.k8s.io Lease, with client-go's semantics: a candidate
// takes over only when its own clock has not seen the lease renewed for leaseDuration (the
// remote timestamps are never compared with the local clock); the leader renews every
// retryPeriod and gives up leadership if it cannot renew within renewDeadline; on clean
// shutdown it releases the lease so a successor takes over at once.
import { V1MicroTime } from '@kubernetes/client-node/dist/types.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ILease } from 'kubernetes-models/coordination.k8s.io/v1/Lease';
import type { Logger } from '../observe/log.js';
import { isAlreadyExists, isConflict, isNotFound, LeaseType, type KubeClient, type KubeObject } from './kube.js';
import { leaderGauge } from './metrics.js';

type Lease = KubeObject & Pick<ILease, 'spec'>;

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

const microNow = (): string => new V1MicroTime().toISOString();

export class LeaderElector {
  readonly identity: string;
  private leaseDurationMs: number;
  private renewDeadlineMs: number;
  private retryPeriodMs: number;
  private observed?: { holder: string; renewTime: string; at: number };
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;

  constructor(private client: KubeClient, private opts: LeaderElectionOptions, private log: Logger) {
    this.identity = opts.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until this process leads, then calls onStarted; keeps renewing and calls
   * onStopped (once) if leadership is lost. Resolves when leadership is first acquired.
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!this.stopped && !(await this.tryAcquireOrRenew())) {
      await new Promise((r) => setTimeout(r, this.retryPeriodMs * (1 + Math.random() * 0.2)));
    }
    if (this.stopped) return;
    this.leading = true;
    leaderGauge.set(1);
    this.log.info({ identity: this.identity, lease: `${this.opts.namespace}/${this.opts.name}` }, 'became leader');
    onStarted();
    let lastRenew = Date.now();
    const renew = async () => {
      if (this.stopped) return;
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err }, 'renewing the lease failed');
      }
      if (ok) lastRenew = Date.now();
      if (!ok && Date.now() - lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        leaderGauge.set(0);
        this.log.error({ identity: this.identity }, 'lost leadership: could not renew the lease within the renew deadline');
        onStopped();
        return;
      }
      this.timer = setTimeout(() => void renew(), this.retryPeriodMs);
    };
    this.timer = setTimeout(() => void renew(), this.retryPeriodMs);
  }

  /** Stops campaigning and, if leading, releases the lease. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    leaderGauge.set(0);
    try {
      const lease = await this.client.get<Lease>(LeaseType, this.opts.namespace, this.opts.name);
      if (lease.spec?.holderIdentity !== this.identity) return;
      // A replace without holderIdentity clears it, as client-go's release writes an empty holder.
      const { holderIdentity: _held, ...spec } = lease.spec;
      await this.client.replace<Lease>(LeaseType, { ...lease, spec: { ...spec, leaseDurationSeconds: 1, renewTime: microNow() } });
      this.log.info({ identity: this.identity }, 'released the lease');
    } catch (err) {
      this.log.warn({ err }, 'releasing the lease failed');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.opts;
    const now = microNow();
    const durationS = Math.ceil(this.leaseDurationMs / 1000);
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(LeaseType, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.client.create<Lease>(LeaseType, {
          metadata: { name, namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: durationS, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return true;
      } catch (e) {
        if (isAlreadyExists(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    // Observe changes by our own clock.
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== (spec.renewTime ?? '')) {
      this.observed = { holder, renewTime: spec.renewTime ?? '', at: Date.now() };
    }
    const heldByOther = holder !== '' && holder !== this.identity;
    const theirDurationMs = (spec.leaseDurationSeconds ?? durationS) * 1000;
    if (heldByOther && Date.now() - this.observed.at < theirDurationMs) return false;

    const transitions = (spec.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    const body: Lease = {
      ...lease,
      spec: {
        holderIdentity: this.identity,
        leaseDurationSeconds: durationS,
        acquireTime: holder === this.identity ? spec.acquireTime ?? now : now,
        renewTime: now,
        leaseTransitions: transitions,
      },
    };
    try {
      // PUT with the read resourceVersion: a concurrent writer makes this a 409, never a double leader.
      await this.client.replace<Lease>(LeaseType, body);
      this.observed = { holder: this.identity, renewTime: now, at: Date.now() };
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
