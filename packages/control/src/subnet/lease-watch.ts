/**
 * Turns a SubnetRegistry's raw key changes into the LeaseEvent batches the backend programs from,
 * the way flannel's etcd manager watches: list the prefix (delivered as one `snapshot`), watch from
 * the list's revision + 1; when history is compacted away, list again (a new snapshot); when the
 * connection drops, back off 100 ms..5 s and list again (below: why not resume).
 *
 * It remembers the leases it has delivered, which gives three things flannel's raw watch lacks:
 * a `removed` event carries the attributes the backend needs to take its entries away (an etcd delete
 * has no value); a renewal that rewrites an identical value is not re-delivered; and a lease that
 * turns into another backend type or into junk is reported as removed. Leases of other backend types
 * are never delivered; malformed or oversized values (more than MAX_LEASE_VALUE_BYTES, never parsed)
 * are delivered as `unusable` once per change of the key, with one log line. Expirations are not read
 * (one TimeToLive RPC per lease); only the node's own lease carries one (see lease-keeper.ts).
 *
 * History going backwards (etcd wiped, or restored from an older backup): a watch resumed at a
 * revision the store has not reached yet waits silently for ever, and one resumed after other writers
 * pushed a restored store past it silently misses what the restore took away. So a lost connection is
 * never resumed: the watch re-lists (one range read; the backend reconciles against the snapshot).
 * A listed revision below the last one seen, or another cluster id, is logged as a history reset and
 * flagged on the snapshot (`historyReset`), which makes the lease keeper re-assert the node's lease at
 * once. Compaction past the watch is answered the same way.
 *
 * A watch that stays open but delivers nothing (a stream the client thinks is alive while the
 * connection under it is dead: weft sets no gRPC keepalive, and a quiet watch sends nothing that would
 * notice) would leave the node blind to its peers until the next lost connection. So every `progressCheckMs` one small range
 * read (keys only, limit 1: how many lease keys there are and the newest write among them) is compared
 * with what the watch has delivered: a newer write, or another number of keys, means the watch is
 * behind. Behind at two checks in a row with nothing delivered in between is a stall: logged
 * ("lease watch stalled: re-listing"), the watch torn down and the prefix listed again. A watch that is
 * merely slow delivers between the two checks; a quiet healthy one is never behind. Writes elsewhere in
 * etcd move the store's revision but not these keys, so they cannot make a quiet watch look stalled.
 */
import type { Logger } from 'pino';
import type { Lease, LeaseEvent } from './types.js';
import type { RegistryEvent, RegistryKv, SubnetRegistry, SubnetsProgress } from './subnet-registry.js';
import { MAX_LEASE_VALUE_BYTES, WatchCompactedError } from './subnet-registry.js';
import { decodeLease, parseSubnetKeyName, sameLeaseAttrs } from './lease-codec.js';
import { formatIpv4Cidr } from '@weft/netbase';
import { RetryBackoff, sleep } from '../retry-backoff.js';

export interface LeaseWatchOptions {
  registry: SubnetRegistry;
  /** Only leases of this BackendType are delivered ("vxlan"). */
  backendType: string;
  logger: Logger;
  backoff?: RetryBackoff;
  /**
   * How often the watch is compared with the store (one range read, keys only, limit 1); a stall is
   * found after two such checks. Default 10 s; 0 turns the check off.
   */
  progressCheckMs?: number;
}

export const DEFAULT_PROGRESS_CHECK_MS = 10_000;

/** What a progress check found: the watch behind the store, and by what. */
interface Behind {
  store: SubnetsProgress;
  /** Deliveries counted when this was seen: a later check with the same count saw nothing arrive. */
  deliveries: number;
}

export class LeaseWatch {
  /** Delivered leases by subnet ("10.244.3.0/24"). */
  private readonly known = new Map<string, Lease>();
  /** Keys whose value is unusable, with the reason text delivered (so a re-put of the same junk is not re-reported). */
  private readonly unusable = new Map<string, string>();
  private readonly backoff: RetryBackoff;
  /** Highest revision and the cluster id seen: what a history reset is measured against. */
  private seenRevision = 0;
  private clusterId: string | undefined;
  /** Where the current watch stands: the revision it brought us to and every key name it has shown. */
  private revision = 0;
  private readonly keys = new Set<string>();
  /** Batches delivered by the registry since the start (progress checks compare two readings). */
  private deliveries = 0;

  constructor(private readonly opts: LeaseWatchOptions) {
    this.backoff = opts.backoff ?? new RetryBackoff(100, 5_000);
  }

  /** Runs until `signal` aborts; never rejects for registry trouble (logs and retries). */
  async run(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    const log = this.opts.logger;
    let compacted: string | undefined;
    while (!signal.aborted) {
      try {
        this.revision = await this.relist(onEvents, compacted);
        compacted = undefined;
        await this.watchUntilStalled(onEvents, signal);
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof WatchCompactedError) {
          log.warn({ revision: this.revision, err: e.message }, 'lease watch fell behind etcd compaction: re-listing');
          compacted = `compacted past revision ${this.revision}`;
        } else {
          log.warn({ revision: this.revision, err: e }, 'lease watch lost its connection: re-listing when it is back');
        }
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  /** Watches from the listed revision until `signal` aborts or the progress check finds the watch stalled. */
  private async watchUntilStalled(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const watch = new AbortController();
    const stop = (): void => watch.abort();
    signal.addEventListener('abort', stop);
    const checker = this.checkProgressEvery(watch);
    try {
      await this.opts.registry.watchSubnets(
        this.revision + 1,
        (events, rev) => {
          this.backoff.reset();
          this.deliveries++;
          this.revision = rev;
          this.seenRevision = Math.max(this.seenRevision, rev);
          const batch = this.apply(events);
          if (batch.length > 0) onEvents(batch);
        },
        watch.signal,
      );
    } finally {
      clearInterval(checker);
      signal.removeEventListener('abort', stop);
      watch.abort();
    }
  }

  /** Starts the periodic progress check of one watch; aborts `watch` when it finds it stalled. */
  private checkProgressEvery(watch: AbortController): NodeJS.Timeout | undefined {
    const every = this.opts.progressCheckMs ?? DEFAULT_PROGRESS_CHECK_MS;
    if (every <= 0) return undefined;
    let behind: Behind | undefined;
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      // behind() never rejects: a failed read is "not behind" (a lost connection ends the watch by itself).
      void this.behind().then((now) => {
        checking = false;
        if (watch.signal.aborted) return;
        if (now && behind && behind.deliveries === this.deliveries) this.stalled(now.store, every, watch);
        behind = now;
      });
    }, every);
    timer.unref();
    return timer;
  }

  /** Reads the lease keys' progress; what the watch has not shown yet, or undefined (also when the read fails). */
  private async behind(): Promise<Behind | undefined> {
    const deliveries = this.deliveries;
    let store: SubnetsProgress;
    try {
      store = await this.opts.registry.subnetsProgress();
    } catch (e) {
      this.opts.logger.debug({ err: e }, 'lease watch progress check failed (the watch reports its own connection)');
      return undefined;
    }
    if (store.newestModRevision <= this.revision && store.count === this.keys.size) return undefined;
    this.opts.logger.debug({ revision: this.revision, keys: this.keys.size, store }, 'lease watch behind the store: checking again');
    return { store, deliveries };
  }

  private stalled(store: SubnetsProgress, every: number, watch: AbortController): void {
    this.opts.logger.warn(
      { revision: this.revision, keys: this.keys.size, store, checkedEveryMs: every },
      'lease watch stalled: re-listing',
    );
    watch.abort();
  }

  /** Why the store's history no longer continues the one we watched (wiped, restored), or undefined. */
  private historyReset(revision: number, clusterId: string | undefined): string | undefined {
    if (this.seenRevision === 0) return undefined;
    if (this.clusterId !== undefined && clusterId !== undefined && clusterId !== this.clusterId)
      return `cluster id ${this.clusterId} → ${clusterId}`;
    if (revision < this.seenRevision) return `revision ${revision} is below the ${this.seenRevision} already seen`;
    return undefined;
  }

  private async relist(onEvents: (events: LeaseEvent[]) => void, compacted?: string): Promise<number> {
    const { kvs, revision, clusterId } = await this.opts.registry.listSubnets();
    const reset = this.historyReset(revision, clusterId);
    if (reset)
      this.opts.logger.warn(
        { reason: reset, revision, seen: this.seenRevision },
        'etcd history went backwards (wiped or restored): re-listing and re-asserting our lease',
      );
    this.known.clear();
    this.keys.clear();
    for (const kv of kvs) this.keys.add(kv.name);
    const unusable: Array<{ key: string; reason: 'malformed' | 'oversize'; detail: string }> = [];
    const wasUnusable = new Map(this.unusable);
    this.unusable.clear();
    for (const kv of kvs) {
      const d = this.decode(kv, wasUnusable.get(kv.name));
      if ('unusable' in d) unusable.push(d.unusable);
      else if (d.lease.attrs.BackendType === this.opts.backendType) this.known.set(d.lease.subnet, d.lease);
    }
    this.seenRevision = reset ? revision : Math.max(this.seenRevision, revision);
    if (clusterId !== undefined) this.clusterId = clusterId;
    const historyReset = reset ?? compacted;
    this.opts.logger.info({ leases: this.known.size, unusable: unusable.length, revision }, 'lease snapshot');
    onEvents([
      {
        type: 'snapshot',
        leases: [...this.known.values()],
        ...(unusable.length ? { unusable } : {}),
        ...(historyReset ? { historyReset } : {}),
      },
    ]);
    return revision;
  }

  private apply(events: RegistryEvent[]): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    for (const ev of events) {
      if (ev.type === 'put') {
        this.keys.add(ev.kv.name);
        out.push(...this.applyPut(ev.kv));
      } else {
        this.keys.delete(ev.name);
        const e = this.applyDelete(ev.name);
        if (e) out.push(e);
      }
    }
    return out;
  }

  private applyPut(kv: RegistryKv): LeaseEvent[] {
    const said = this.unusable.get(kv.name);
    const d = this.decode(kv, said);
    if ('unusable' in d) {
      const gone = this.forget(kv.name);
      return [...(gone ? [gone] : []), ...(said === d.unusable.detail ? [] : [{ type: 'unusable' as const, ...d.unusable }])];
    }
    const lease = d.lease;
    const usable: LeaseEvent[] = this.unusable.delete(kv.name) ? [{ type: 'usable', key: kv.name }] : [];
    if (lease.attrs.BackendType !== this.opts.backendType) {
      this.opts.logger.debug({ subnet: lease.subnet, backendType: lease.attrs.BackendType }, 'lease of another backend type ignored');
      const gone = this.forget(kv.name);
      return [...usable, ...(gone ? [gone] : [])];
    }
    const old = this.known.get(lease.subnet);
    if (old && sameLeaseAttrs(old.attrs, lease.attrs)) return usable;
    this.known.set(lease.subnet, lease);
    return [...usable, { type: 'added', lease }];
  }

  private applyDelete(name: string): LeaseEvent | undefined {
    if (this.unusable.delete(name)) return { type: 'usable', key: name };
    return this.forget(name);
  }

  /** The key no longer holds a lease we deliver: `removed` with what we delivered, if anything. */
  private forget(name: string): LeaseEvent | undefined {
    let subnet: string;
    try {
      subnet = formatIpv4Cidr(parseSubnetKeyName(name));
    } catch {
      return undefined;
    }
    const old = this.known.get(subnet);
    if (!old) return undefined;
    this.known.delete(subnet);
    return { type: 'removed', lease: old };
  }

  /** A lease, or why the key holds none; logs a key's trouble once (`reported` is what was said last). */
  private decode(
    kv: RegistryKv,
    reported: string | undefined,
  ): { lease: Lease } | { unusable: { key: string; reason: 'malformed' | 'oversize'; detail: string } } {
    let unusable: { key: string; reason: 'malformed' | 'oversize'; detail: string };
    if (kv.oversizeBytes !== undefined) {
      unusable = {
        key: kv.name,
        reason: 'oversize',
        detail: `value of ${kv.oversizeBytes} bytes is over the ${MAX_LEASE_VALUE_BYTES}-byte limit (not parsed)`,
      };
    } else {
      try {
        const lease = decodeLease(kv.name, kv.value);
        return { lease: kv.createRevision !== undefined ? { ...lease, order: kv.createRevision } : lease };
      } catch (e) {
        unusable = { key: kv.name, reason: 'malformed', detail: (e as Error).message };
      }
    }
    if (reported !== unusable.detail)
      this.opts.logger.warn({ key: kv.name, reason: unusable.reason, err: unusable.detail }, 'lease rejected: unusable value');
    this.unusable.set(kv.name, unusable.detail);
    return { unusable };
  }
}
