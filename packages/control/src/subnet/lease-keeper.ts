/**
 * Keeps this node's lease alive (flannel's CompleteLease loop), and gets a new one when it is lost.
 *
 * - Renews `renewMargin` (default 60 min) before the lease expires; a failed renewal is retried
 *   every `retryInterval` (default 1 min). An unreachable etcd only means retrying: the keeper never
 *   touches the node, so the datapath and every route keep working (flannel: an etcd outage only
 *   blocks joins). When etcd comes back, the next attempt settles it.
 * - Our lease deleted or expired is noticed two ways: a renewal refused (the key no longer holds our
 *   value: LeaseLostError), or the watch (`observe`: a `removed` for our subnet, a snapshot without it,
 *   another node's lease on it). A watch hint is checked with an immediate renewal first, so a stale
 *   event cannot make us give up a lease that is still ours.
 * - Lost → log it, re-acquire (the manager prefers the subnet we just had, so it comes back unless
 *   someone took it), emit `reacquired` so weftd can re-program the node (the subnet may differ).
 *   flannel shuts down here ("Lease has been revoked"); re-acquiring keeps the node up instead.
 * Attempts never overlap: a request arriving during one runs after it.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Lease, LeaseEvent, SubnetManager } from './types.js';
import { LeaseLostError } from './lease-errors.js';

export const DEFAULT_RENEW_MARGIN_MS = 60 * 60 * 1000;
export const DEFAULT_RENEW_RETRY_MS = 60 * 1000;
/** Longest wait between attempts to re-acquire a lost lease. */
export const REACQUIRE_RETRY_MS = 5 * 1000;
/** setTimeout's largest delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LeaseKeeperOptions {
  manager: SubnetManager;
  /** The lease acquireLease returned. */
  lease: Lease;
  /** Renew this long before expiry (--subnet-lease-renew-margin); default 60 min. */
  renewMarginMs?: number;
  /** Wait between failed attempts; default 1 min. */
  retryIntervalMs?: number;
  logger: Logger;
}

export interface LeaseKeeperEvents {
  /** The lease was extended. */
  renewed: [lease: Lease];
  /** Our lease is gone (deleted, expired, or taken); a re-acquire is under way. */
  lost: [lease: Lease, reason: string];
  /** A new lease replaces the lost one: re-program the node from it (the subnet may differ). */
  reacquired: [lease: Lease, previous: Lease];
}

export class LeaseKeeper extends EventEmitter<LeaseKeeperEvents> {
  private current: Lease;
  private readonly margin: number;
  private readonly retry: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private lostLease: Lease | undefined;
  private stopped = true;

  constructor(private readonly opts: LeaseKeeperOptions) {
    super();
    this.current = opts.lease;
    this.margin = opts.renewMarginMs ?? DEFAULT_RENEW_MARGIN_MS;
    this.retry = opts.retryIntervalMs ?? DEFAULT_RENEW_RETRY_MS;
    this.log = opts.logger.child({ component: 'lease-keeper' });
  }

  /** The lease we hold now (changes on renewal and re-acquire). */
  get lease(): Lease {
    return this.current;
  }

  /** True between losing the lease and getting a new one. */
  get isLost(): boolean {
    return this.lostLease !== undefined;
  }

  start(): void {
    this.stopped = false;
    this.scheduleRenewal();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Feed every batch from watchLeases here: it looks for signs that our lease is gone. */
  observe(events: LeaseEvent[]): void {
    if (this.stopped || this.lostLease) return;
    const hint = events.map((e) => this.lossHint(e)).find((h) => h !== undefined);
    if (hint) {
      this.log.warn({ subnet: this.current.subnet, hint }, 'watch suggests our lease is gone: checking with a renewal');
      this.kick();
    }
  }

  private lossHint(e: LeaseEvent): string | undefined {
    const mine = this.current;
    if (e.type === 'unusable' || e.type === 'usable') return undefined;
    if (e.type === 'removed') return e.lease.subnet === mine.subnet ? 'lease removed' : undefined;
    if (e.type === 'added') {
      return e.lease.subnet === mine.subnet && e.lease.attrs.PublicIP !== mine.attrs.PublicIP
        ? `subnet now held by ${e.lease.attrs.PublicIP}`
        : undefined;
    }
    if (e.historyReset) return `etcd history reset (${e.historyReset}): re-asserting our lease`;
    const there = e.leases.find((l) => l.subnet === mine.subnet);
    if (!there) return 'lease missing from snapshot';
    return there.attrs.PublicIP !== mine.attrs.PublicIP ? `subnet now held by ${there.attrs.PublicIP}` : undefined;
  }

  /** Runs an attempt now (or right after the one in progress). */
  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.attempt();
  }

  private async attempt(): Promise<void> {
    this.running = true;
    try {
      if (this.lostLease) await this.reacquire(this.lostLease);
      else await this.renew();
    } finally {
      this.running = false;
    }
    if (this.again && !this.stopped) {
      this.again = false;
      this.kick();
    }
  }

  private async renew(): Promise<void> {
    try {
      this.current = await this.opts.manager.renewLease(this.current);
      this.log.info({ subnet: this.current.subnet, expiration: this.current.expiration }, 'lease renewed');
      this.emit('renewed', this.current);
      this.scheduleRenewal();
    } catch (e) {
      if (e instanceof LeaseLostError) {
        this.log.error({ subnet: this.current.subnet, err: e.message }, 'our lease was deleted or expired: re-acquiring');
        this.lostLease = this.current;
        this.emit('lost', this.current, e.message);
        await this.reacquire(this.current);
      } else {
        this.log.warn(
          { subnet: this.current.subnet, err: e, retryMs: this.retry },
          'lease renewal failed: retrying (the node keeps working)',
        );
        this.schedule(this.retry);
      }
    }
  }

  private async reacquire(previous: Lease): Promise<void> {
    if (this.stopped) return;
    try {
      const lease = await this.opts.manager.acquireLease(previous.attrs);
      this.current = lease;
      this.lostLease = undefined;
      const sameSubnet = lease.subnet === previous.subnet;
      this.log.warn({ subnet: lease.subnet, previous: previous.subnet, sameSubnet }, 'lease re-acquired');
      this.emit('reacquired', lease, previous);
      this.scheduleRenewal();
    } catch (e) {
      // Without a lease new peers cannot reach this node: retry sooner than a renewal would.
      const retryMs = Math.min(this.retry, REACQUIRE_RETRY_MS);
      this.log.warn({ err: e, retryMs }, 're-acquiring our lease failed: retrying');
      this.schedule(retryMs);
    }
  }

  /** Renew `margin` before expiry, or halfway there when the margin is longer than what is left. */
  private scheduleRenewal(): void {
    const exp = this.current.expiration;
    if (!exp) return; // a reservation or a Kubernetes lease: nothing expires
    const left = exp.getTime() - Date.now();
    this.schedule(left > this.margin ? left - this.margin : Math.max(0, left / 2));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.min(ms, MAX_TIMER_MS));
  }
}
