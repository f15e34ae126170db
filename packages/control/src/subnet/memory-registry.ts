/**
 * An in-memory SubnetRegistry that behaves like etcd where the manager can tell: one revision per
 * write, leases that expire (real or fake timers), create-if-absent, a history that watches replay
 * from a revision, compaction that cuts that history, an "unreachable" switch that fails every
 * call and breaks every watch, and a switch that mutes the open watches (open and silent, like a
 * stream over a dead connection). Unit tests drive the manager and the lease keeper against it; the
 * test-facing knobs are the public methods below the interface ones.
 */
import type { LeaseGrant, RegistryEvent, RegistryKv, SubnetRegistry, SubnetsProgress } from './subnet-registry.js';
import { WatchCompactedError } from './subnet-registry.js';

interface Watch {
  fromRevision: number;
  onEvents: (events: RegistryEvent[], revision: number) => void;
  fail: (e: Error) => void;
  /** Open but delivering nothing (muteWatches). */
  muted: boolean;
}

export class MemoryRegistry implements SubnetRegistry {
  readonly description = 'memory registry';
  private config: string | undefined;
  private readonly kvs = new Map<string, RegistryKv>();
  private readonly leaseTimers = new Map<string, NodeJS.Timeout>();
  private history: { revision: number; event: RegistryEvent }[] = [];
  private readonly watches = new Set<Watch>();
  private nextLease = 1000;
  private compactedRevision = 0;
  private unreachable = false;
  revision = 1;
  /** etcd's cluster_id: changes when the store is wiped (wipe()). */
  clusterId = '1';
  /** Test hook: runs inside createSubnet before the existence check (inject a racing writer here). */
  beforeCreate: ((name: string) => void) | undefined;
  /** Calls per method, for tests that count round trips. */
  readonly calls = { list: 0, create: 0, update: 0, delete: 0, watch: 0, progress: 0 };

  constructor(config?: string) {
    this.config = config;
  }

  async getNetworkConfig(): Promise<string | undefined> {
    this.check();
    return this.config;
  }

  async listSubnets(): Promise<{ kvs: RegistryKv[]; revision: number; clusterId: string }> {
    this.check();
    this.calls.list++;
    return { kvs: [...this.kvs.values()].map((kv) => ({ ...kv })), revision: this.revision, clusterId: this.clusterId };
  }

  async createSubnet(name: string, value: string, ttlSec: number): Promise<LeaseGrant | undefined> {
    this.check();
    this.calls.create++;
    this.beforeCreate?.(name);
    if (this.kvs.has(name)) return undefined;
    return this.write(name, value, ttlSec);
  }

  async updateSubnet(
    name: string,
    value: string,
    ttlSec: number,
    opts: { ifValue?: string; previousLease?: string } = {},
  ): Promise<LeaseGrant | undefined> {
    this.check();
    this.calls.update++;
    if (opts.ifValue !== undefined && this.kvs.get(name)?.value !== opts.ifValue) return undefined;
    const grant = this.write(name, value, ttlSec);
    if (opts.previousLease && opts.previousLease !== '0') this.clearLeaseTimer(opts.previousLease);
    return grant;
  }

  async deleteSubnet(name: string): Promise<void> {
    this.check();
    this.calls.delete++;
    this.remove(name);
  }

  watchSubnets(fromRevision: number, onEvents: (events: RegistryEvent[], revision: number) => void, signal: AbortSignal): Promise<void> {
    this.calls.watch++;
    return new Promise((resolve, reject) => {
      if (this.unreachable) return reject(new Error('memory registry: unreachable'));
      if (fromRevision < this.compactedRevision) {
        return reject(new WatchCompactedError(`revision ${fromRevision} is compacted (compact revision ${this.compactedRevision})`));
      }
      const w: Watch = { fromRevision, onEvents, fail: (e) => finish(e), muted: false };
      const finish = (e?: Error): void => {
        this.watches.delete(w);
        signal.removeEventListener('abort', onAbort);
        if (e) reject(e);
        else resolve();
      };
      const onAbort = (): void => finish();
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', onAbort);
      this.watches.add(w);
      const backlog = this.history.filter((h) => h.revision >= fromRevision);
      if (backlog.length > 0) {
        const rev = this.revision;
        setImmediate(
          () =>
            this.watches.has(w) &&
            onEvents(
              backlog.map((h) => h.event),
              rev,
            ),
        );
      }
    });
  }

  async subnetsProgress(): Promise<SubnetsProgress> {
    this.check();
    this.calls.progress++;
    let newest = 0;
    for (const kv of this.kvs.values()) newest = Math.max(newest, kv.modRevision);
    return { count: this.kvs.size, newestModRevision: newest };
  }

  async close(): Promise<void> {
    for (const t of this.leaseTimers.values()) clearTimeout(t);
    this.leaseTimers.clear();
    for (const w of [...this.watches]) w.fail(new Error('memory registry: closed'));
  }

  // ---- test knobs ----

  setNetworkConfig(text: string | undefined): void {
    this.config = text;
  }

  /** Writes a key as another agent would (a flannel node, a reservation with lease "0", junk). */
  put(name: string, value: string, ttlSec = 0): void {
    this.write(name, value, ttlSec);
  }

  get(name: string): RegistryKv | undefined {
    const kv = this.kvs.get(name);
    return kv && { ...kv };
  }

  /** Deletes a key (an operator's `etcdctl del`). */
  delete(name: string): void {
    this.remove(name);
  }

  /** Expires the lease holding `name` now (as etcd does when its TTL runs out). */
  expire(name: string): void {
    const kv = this.kvs.get(name);
    if (kv && kv.lease !== '0') this.expireLease(kv.lease);
  }

  /**
   * Drops history before `revision` (default: the current one): a watch started from an older revision then fails
   * with WatchCompactedError.
   */
  compact(revision = this.revision): void {
    this.compactedRevision = revision;
    this.history = this.history.filter((h) => h.revision >= revision);
  }

  /** Stores a raw kv as given (a test writes what a registry could hand on, e.g. an oversize marker). */
  putKv(kv: RegistryKv): void {
    this.kvs.set(kv.name, { ...kv });
    this.emit({ type: 'put', kv: { ...kv, modRevision: ++this.revision } });
  }

  /** Like an etcd wiped and started again: no keys, revision 1, a new cluster id, every watch broken. */
  wipe(): void {
    for (const t of this.leaseTimers.values()) clearTimeout(t);
    this.leaseTimers.clear();
    this.kvs.clear();
    this.history = [];
    this.revision = 1;
    this.compactedRevision = 0;
    this.clusterId = String(Number(this.clusterId) + 1);
    for (const w of [...this.watches]) w.fail(new Error('memory registry: connection lost'));
  }

  /** While true every call rejects and every watch breaks, like an etcd that cannot be reached. */
  setUnreachable(down: boolean): void {
    this.unreachable = down;
    if (down) for (const w of [...this.watches]) w.fail(new Error('memory registry: connection lost'));
  }

  /**
   * The watches open now stay open and deliver nothing from here on, like a stream whose connection died
   * without a word; watches opened later work.
   */
  muteWatches(): void {
    for (const w of this.watches) w.muted = true;
  }

  get watchCount(): number {
    return this.watches.size;
  }

  // ---- internals ----

  private check(): void {
    if (this.unreachable) throw new Error('memory registry: unreachable');
  }

  private write(name: string, value: string, ttlSec: number): LeaseGrant {
    const lease = ttlSec > 0 ? String(this.nextLease++) : '0';
    const old = this.kvs.get(name);
    if (old && old.lease !== '0') this.clearLeaseTimer(old.lease);
    const revision = ++this.revision;
    const kv: RegistryKv = { name, value, lease, modRevision: revision, createRevision: old?.createRevision ?? revision };
    this.kvs.set(name, kv);
    if (ttlSec > 0) {
      const t = setTimeout(() => this.expireLease(lease), ttlSec * 1000);
      t.unref();
      this.leaseTimers.set(lease, t);
    }
    this.emit({ type: 'put', kv: { ...kv } });
    return { lease, expiration: new Date(Date.now() + ttlSec * 1000) };
  }

  private remove(name: string): void {
    const kv = this.kvs.get(name);
    if (!kv) return;
    if (kv.lease !== '0') this.clearLeaseTimer(kv.lease);
    this.kvs.delete(name);
    this.revision++;
    this.emit({ type: 'delete', name });
  }

  private expireLease(lease: string): void {
    this.clearLeaseTimer(lease);
    for (const kv of [...this.kvs.values()]) if (kv.lease === lease) this.remove(kv.name);
  }

  private clearLeaseTimer(lease: string): void {
    const t = this.leaseTimers.get(lease);
    if (t) clearTimeout(t);
    this.leaseTimers.delete(lease);
  }

  private emit(event: RegistryEvent): void {
    const revision = this.revision;
    this.history.push({ revision, event });
    for (const w of this.watches) {
      if (revision < w.fromRevision) continue;
      setImmediate(() => this.watches.has(w) && !w.muted && w.onEvents([event], revision));
    }
  }
}
