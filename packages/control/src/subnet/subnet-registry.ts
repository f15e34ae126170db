/**
 * The small store interface the etcd subnet manager allocates on (flannel's pkg/subnet/etcd Registry):
 * read the config, list the lease keys with the revision they were read at, create a lease only if
 * the key is free, rewrite/renew, delete, and watch from a revision. Two implementations: etcd
 * (etcd-registry.ts) and memory (memory-registry.ts, for unit tests, with knobs to expire leases,
 * compact history and fail like an unreachable etcd).
 *
 * The registry moves raw key names and values: decoding (and skipping malformed leases with a log
 * line) is the manager's job, so a registry never drops anything silently. Key names are the last
 * path element, "10.244.3.0-24"; the registry owns `<prefix>/subnets/`.
 */

export interface RegistryKv {
  /** "10.244.3.0-24" */
  name: string;
  /** The raw lease value (flannel's JSON, or whatever someone wrote). */
  value: string;
  /** etcd lease id as a decimal string; "0" for a reservation (a key without a lease). */
  lease: string;
  modRevision: number;
  /** Revision the key was created at (lease order: the earliest of two overlapping leases wins). */
  createRevision?: number;
  /** Set (and `value` left empty) when the stored value is larger than MAX_LEASE_VALUE_BYTES. */
  oversizeBytes?: number;
}

/**
 * Largest lease value read: flannel's values are ~150 bytes. A bigger one is never turned into a string
 * or parsed, only counted (20 values of 1.4 MB held whole cost +47 MB of RSS before this limit).
 */
export const MAX_LEASE_VALUE_BYTES = 4096;

/** A key's value as the registry hands it on: bounded, never a string longer than the limit. */
export function boundedValue(value: Buffer): { value: string; oversizeBytes?: number } {
  return value.length > MAX_LEASE_VALUE_BYTES ? { value: '', oversizeBytes: value.length } : { value: value.toString() };
}

export type RegistryEvent = { type: 'put'; kv: RegistryKv } | { type: 'delete'; name: string };

export interface LeaseGrant {
  /** etcd lease id. */
  lease: string;
  expiration: Date;
}

/** Where the lease keys stand, from one small read: compared with a watch, it tells whether the watch is behind. */
export interface SubnetsProgress {
  /** Number of keys under `<prefix>/subnets/`. */
  count: number;
  /** Highest mod revision among them; 0 when there are none. */
  newestModRevision: number;
}

/** The watch's history no longer reaches the requested revision: re-list and start again. */
export class WatchCompactedError extends Error {
  override name = 'WatchCompactedError';
}

export interface SubnetRegistry {
  /** "etcd http://127.0.0.1:2379 prefix /coreos.com/network" */
  readonly description: string;
  /** The text at `<prefix>/config`, undefined when the key does not exist. */
  getNetworkConfig(): Promise<string | undefined>;
  /** `clusterId` (etcd's header cluster_id) tells a wiped or replaced cluster from the one seen before. */
  listSubnets(): Promise<{ kvs: RegistryKv[]; revision: number; clusterId?: string }>;
  /**
   * Creates `name` with a lease of `ttlSec` only if no such key exists (txn `Version(key) == 0`).
   * Resolves with the grant, or undefined when someone else holds the key (the caller retries).
   */
  createSubnet(name: string, value: string, ttlSec: number): Promise<LeaseGrant | undefined>;
  /**
   * Writes `value` with a fresh lease of `ttlSec` (0: no lease, a reservation stays a reservation).
   * With `ifValue`, only when the key still holds exactly that value (our renewals: a deleted or
   * retaken lease must not be resurrected); resolves undefined when that condition fails.
   * `previousLease` (not "0") is revoked after a successful write so renewals do not pile up leases.
   */
  updateSubnet(
    name: string,
    value: string,
    ttlSec: number,
    opts?: { ifValue?: string; previousLease?: string },
  ): Promise<LeaseGrant | undefined>;
  deleteSubnet(name: string): Promise<void>;
  /**
   * Watches every lease key from `fromRevision` and calls `onEvents` with each batch and the
   * revision it brings the watcher to. Resolves when `signal` aborts; rejects with
   * WatchCompactedError when history before `fromRevision` is gone, or with another error when the
   * connection is lost (the caller backs off and lists again: lease-watch.ts).
   */
  watchSubnets(fromRevision: number, onEvents: (events: RegistryEvent[], revision: number) => void, signal: AbortSignal): Promise<void>;
  /**
   * How many lease keys there are and the newest write among them, in one cheap read (etcd: a range of
   * the prefix, keys only, limit 1, newest mod revision first; etcd counts the whole range). The lease
   * watch compares it with what its watch delivered to find a watch that stalled silently.
   */
  subnetsProgress(): Promise<SubnetsProgress>;
  close(): Promise<void>;
}
