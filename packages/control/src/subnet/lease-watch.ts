/**
 * Turns a SubnetRegistry's raw key changes into the LeaseEvent batches the backend programs from,
 * the way flannel's etcd manager watches: list the prefix (delivered as one `snapshot`), watch from
 * the list's revision + 1; when history is compacted away, list again (a new snapshot); when the
 * connection drops, back off 100 ms..5 s and resume from the last revision seen (no snapshot needed:
 * the replayed events cover the gap).
 *
 * It remembers the leases it has delivered, which gives three things flannel's raw watch lacks:
 * a `removed` event carries the attributes the backend needs to take its entries away (an etcd delete
 * has no value); a renewal that rewrites an identical value is not re-delivered; and a lease that
 * turns into another backend type or into junk is reported as removed. Leases of other backend types
 * are never delivered; malformed keys or values are logged and skipped. Expirations are not read
 * (one TimeToLive RPC per lease); only the node's own lease carries one (see lease-keeper.ts).
 */
import type { Logger } from 'pino';
import type { Lease, LeaseEvent } from './types.js';
import type { RegistryEvent, RegistryKv, SubnetRegistry } from './subnet-registry.js';
import { WatchCompactedError } from './subnet-registry.js';
import { decodeLease, parseSubnetKeyName, sameLeaseAttrs } from './lease-codec.js';
import { formatIpv4Cidr } from '../net/ipv4-cidr.js';
import { RetryBackoff, sleep } from '../retry-backoff.js';

export interface LeaseWatchOptions {
  registry: SubnetRegistry;
  /** Only leases of this BackendType are delivered ("vxlan"). */
  backendType: string;
  logger: Logger;
  backoff?: RetryBackoff;
}

export class LeaseWatch {
  /** Delivered leases by subnet ("10.244.3.0/24"). */
  private readonly known = new Map<string, Lease>();
  private readonly backoff: RetryBackoff;

  constructor(private readonly opts: LeaseWatchOptions) {
    this.backoff = opts.backoff ?? new RetryBackoff(100, 5_000);
  }

  /** Runs until `signal` aborts; never rejects for registry trouble (logs and retries). */
  async run(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    const log = this.opts.logger;
    let revision: number | undefined;
    while (!signal.aborted) {
      try {
        if (revision === undefined) revision = await this.relist(onEvents);
        await this.opts.registry.watchSubnets(
          revision + 1,
          (events, rev) => {
            this.backoff.reset();
            revision = rev;
            const batch = this.apply(events);
            if (batch.length > 0) onEvents(batch);
          },
          signal,
        );
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof WatchCompactedError) {
          log.warn({ revision, err: e.message }, 'lease watch fell behind etcd compaction: re-listing');
          revision = undefined;
        } else {
          log.warn({ revision, err: (e as Error).message }, 'lease watch lost its connection: retrying');
        }
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  private async relist(onEvents: (events: LeaseEvent[]) => void): Promise<number> {
    const { kvs, revision } = await this.opts.registry.listSubnets();
    this.known.clear();
    for (const kv of kvs) {
      const lease = this.decode(kv);
      if (lease && lease.attrs.BackendType === this.opts.backendType) this.known.set(lease.subnet, lease);
    }
    this.opts.logger.info({ leases: this.known.size, revision }, 'lease snapshot');
    onEvents([{ type: 'snapshot', leases: [...this.known.values()] }]);
    return revision;
  }

  private apply(events: RegistryEvent[]): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    for (const ev of events) {
      const e = ev.type === 'put' ? this.applyPut(ev.kv) : this.applyDelete(ev.name);
      if (e) out.push(e);
    }
    return out;
  }

  private applyPut(kv: RegistryKv): LeaseEvent | undefined {
    const lease = this.decode(kv);
    if (!lease) return this.forget(kv.name);
    if (lease.attrs.BackendType !== this.opts.backendType) {
      this.opts.logger.debug({ subnet: lease.subnet, backendType: lease.attrs.BackendType }, 'lease of another backend type ignored');
      return this.forget(kv.name);
    }
    const old = this.known.get(lease.subnet);
    if (old && sameLeaseAttrs(old.attrs, lease.attrs)) return undefined;
    this.known.set(lease.subnet, lease);
    return { type: 'added', lease };
  }

  private applyDelete(name: string): LeaseEvent | undefined {
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

  private decode(kv: RegistryKv): Lease | undefined {
    try {
      return decodeLease(kv.name, kv.value);
    } catch (e) {
      this.opts.logger.warn({ key: kv.name, err: (e as Error).message }, 'malformed lease skipped');
      return undefined;
    }
  }
}
