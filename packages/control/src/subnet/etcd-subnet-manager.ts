/**
 * The etcd subnet manager: flannel's LocalManager on a SubnetRegistry, same keys, same JSON, same
 * allocation, so weft and flannel nodes can share one etcd prefix.
 *
 * Acquire (flannel's tryAcquireLease, up to 10 rounds when a create loses a race):
 *   1. a lease already carrying our PublicIP and fitting the config → rewrite it with our attrs and a
 *      fresh TTL (a reservation, i.e. a key without lease, stays one); one that no longer fits → delete;
 *   2. else the previous subnet (the subnet file's, or the one this manager last held) if free and fitting;
 *   3. else a random one of the first 100 free subnets between SubnetMin and SubnetMax;
 *   then create it with txn `Version(key) == 0`; losing the txn means someone else got it → next round.
 * Occupancy is decided by key names, so a lease with an unreadable value still keeps its subnet.
 * Renewal rewrites the value with a fresh TTL only while the key still holds our value; otherwise it
 * throws LeaseLostError (the lease keeper re-acquires). Watching is lease-watch.ts.
 */
import type { Logger } from 'pino';
import type { Lease, LeaseAttrs, LeaseEvent, NetworkConfig, SubnetManager } from './types.js';
import type { RegistryKv, SubnetRegistry } from './subnet-registry.js';
import { DEFAULT_ETCD_ENDPOINTS, DEFAULT_ETCD_PREFIX, EtcdRegistry, type EtcdTlsFiles } from './etcd-registry.js';
import { decodeLeaseAttrs, encodeLeaseAttrs, parseSubnetKeyName, subnetKeyName } from './lease-codec.js';
import { LeaseWatch } from './lease-watch.js';
import { LeaseLostError } from './lease-errors.js';
import { isSubnetCompatible, pickFreeSubnet, subnetRange, type SubnetRange } from './subnet-allocator.js';
import { parseNetConf } from '../config/net-conf.js';
import { cidrsOverlap, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';

export const DEFAULT_LEASE_TTL_SEC = 24 * 60 * 60;
export const ACQUIRE_RACE_RETRIES = 10;

export interface EtcdSubnetManagerOptions {
  /** etcd client URLs; default http://127.0.0.1:2379 (flannel's default). */
  endpoints?: string[];
  /** Default /coreos.com/network. */
  prefix?: string;
  tls?: EtcdTlsFiles;
  /**
   * The subnet this node had before (FLANNEL_SUBNET from an existing subnet file); "10.244.3.1/24"
   * as written there or the network "10.244.3.0/24". Reused when still free.
   */
  previousSubnet?: string;
  /** TTL of the etcd lease behind our key; default 86400 s (flannel's 24 h). */
  leaseTtlSec?: number;
  /** Leases of other backend types are not delivered by watchLeases; default "vxlan". */
  backendType?: string;
  logger: Logger;
  /** Use this registry instead of connecting to etcd (unit tests: MemoryRegistry). */
  registry?: SubnetRegistry;
  /** Random source for the allocator (tests). */
  random?: () => number;
  /** How often the lease watch checks that it keeps up with the store (lease-watch.ts); default 10 s, 0: off. */
  watchProgressCheckMs?: number;
}

/** Our lease is gone or belongs to someone else now: renewal refused. */
export { LeaseLostError };

/** Acquire found no free subnet between SubnetMin and SubnetMax. */
export class NetworkFullError extends Error {
  override name = 'NetworkFullError';
}

interface Entry {
  kv: RegistryKv;
  subnet: Ipv4Cidr;
  attrs: LeaseAttrs | undefined;
}

export class EtcdSubnetManager implements SubnetManager {
  readonly name: string;
  readonly endpoints: readonly string[];
  readonly registry: SubnetRegistry;
  private readonly log: Logger;
  private readonly ttlSec: number;
  private readonly backendType: string;
  /** etcd lease id behind each subnet we hold, so a renewal can revoke the lease it replaces. */
  private readonly heldLeases = new Map<string, string>();
  private readonly random: () => number;
  private readonly progressCheckMs: number | undefined;
  /** Preferred subnet when no lease carries our PublicIP: the subnet file's, then the last one we held. */
  private previous: Ipv4Cidr | undefined;
  private notesLogged = false;

  constructor(opts: EtcdSubnetManagerOptions) {
    this.log = opts.logger;
    this.ttlSec = opts.leaseTtlSec ?? DEFAULT_LEASE_TTL_SEC;
    this.backendType = opts.backendType ?? 'vxlan';
    this.registry =
      opts.registry ??
      new EtcdRegistry({
        endpoints: opts.endpoints ?? DEFAULT_ETCD_ENDPOINTS,
        prefix: opts.prefix ?? DEFAULT_ETCD_PREFIX,
        logger: opts.logger,
        ...(opts.tls ? { tls: opts.tls } : {}),
      });
    this.name = this.registry.description;
    this.endpoints = opts.endpoints ?? DEFAULT_ETCD_ENDPOINTS;
    this.previous = parsePrevious(opts.previousSubnet);
    this.random = opts.random ?? Math.random;
    this.progressCheckMs = opts.watchProgressCheckMs;
  }

  async getNetworkConfig(): Promise<NetworkConfig> {
    const text = await this.registry.getNetworkConfig();
    if (text === undefined) {
      throw new Error(
        `no network config in ${this.name}: write net-conf.json to <prefix>/config (e.g. etcdctl put /coreos.com/network/config ` +
          `'{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')`,
      );
    }
    const { config, notes } = parseNetConf(text, `${this.name} config`);
    if (!this.notesLogged) for (const note of notes) this.log.warn({ source: this.name }, `net-conf: ${note}`);
    this.notesLogged = true;
    return config;
  }

  async acquireLease(attrs: LeaseAttrs, signal?: AbortSignal): Promise<Lease> {
    const range = subnetRange(await this.getNetworkConfig());
    for (let round = 0; round < ACQUIRE_RACE_RETRIES; round++) {
      signal?.throwIfAborted();
      const lease = await this.tryAcquire(range, attrs);
      if (lease) {
        this.previous = parseIpv4Cidr(lease.subnet);
        return lease;
      }
      this.log.info({ round: round + 1 }, 'lost a race for a subnet: trying again');
    }
    throw new Error(`could not acquire a subnet in ${this.name}: lost ${ACQUIRE_RACE_RETRIES} races in a row to other nodes`);
  }

  async renewLease(lease: Lease): Promise<Lease> {
    const name = subnetKeyName(lease.subnet);
    const value = encodeLeaseAttrs(lease.attrs);
    const held = this.heldLeases.get(name);
    const ttl = held === '0' ? 0 : this.ttlSec;
    const grant = await this.registry.updateSubnet(name, value, ttl, { ifValue: value, ...(held ? { previousLease: held } : {}) });
    if (!grant) {
      this.heldLeases.delete(name);
      throw new LeaseLostError(`lease ${lease.subnet} is gone from ${this.name} or held by another node`);
    }
    this.heldLeases.set(name, grant.lease);
    return withExpiration({ subnet: lease.subnet, attrs: lease.attrs }, grant.lease, grant.expiration);
  }

  watchLeases(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void> {
    return new LeaseWatch({
      registry: this.registry,
      backendType: this.backendType,
      logger: this.log,
      ...(this.progressCheckMs !== undefined ? { progressCheckMs: this.progressCheckMs } : {}),
    }).run(onEvents, signal);
  }

  async close(): Promise<void> {
    await this.registry.close();
  }

  /** One round of flannel's acquire; undefined when the create lost a race. */
  private async tryAcquire(range: SubnetRange, attrs: LeaseAttrs): Promise<Lease | undefined> {
    const entries = await this.listEntries();
    // Our previous subnet first when that lease is still ours: another key carrying our PublicIP (a stale
    // or forged one) must not move the node and strand its pods; then flannel's first match.
    const prev = this.previous;
    const ours = entries.filter((e) => e.attrs?.PublicIP === attrs.PublicIP);
    const mine = ours.find((e) => prev !== undefined && e.subnet.base === prev.base && e.subnet.prefixLen === prev.prefixLen) ?? ours[0];
    if (ours.length > 1)
      this.log.warn(
        { leases: ours.map((e) => formatIpv4Cidr(e.subnet)), chosen: formatIpv4Cidr(mine.subnet) },
        'several leases carry our PublicIP: keeping our previous subnet',
      );
    if (mine) {
      if (isSubnetCompatible(range, mine.subnet)) return this.reuse(mine, attrs);
      this.log.warn({ subnet: formatIpv4Cidr(mine.subnet) }, 'lease for our PublicIP does not fit the network config: deleting it');
      await this.registry.deleteSubnet(mine.kv.name);
      entries.splice(entries.indexOf(mine), 1);
    }
    const subnet =
      this.previousIfFree(range, entries) ??
      pickFreeSubnet(
        range,
        entries.map((e) => e.subnet),
        this.random,
      );
    if (!subnet) {
      throw new NetworkFullError(
        `network full: no free /${range.subnetLen} between SubnetMin and SubnetMax in ${this.name} (${entries.length} leases)`,
      );
    }
    const grant = await this.registry.createSubnet(subnetKeyName(subnet), encodeLeaseAttrs(attrs), this.ttlSec);
    if (!grant) return undefined;
    this.heldLeases.set(subnetKeyName(subnet), grant.lease);
    this.log.info({ subnet: formatIpv4Cidr(subnet), publicIp: attrs.PublicIP }, 'allocated a new lease');
    return withExpiration({ subnet: formatIpv4Cidr(subnet), attrs }, grant.lease, grant.expiration);
  }

  private async reuse(mine: Entry, attrs: LeaseAttrs): Promise<Lease> {
    const subnet = formatIpv4Cidr(mine.subnet);
    const ttl = mine.kv.lease === '0' ? 0 : this.ttlSec;
    const grant = await this.registry.updateSubnet(mine.kv.name, encodeLeaseAttrs(attrs), ttl, { previousLease: mine.kv.lease });
    if (!grant) throw new Error(`lease ${subnet}: unconditional update returned nothing`);
    this.heldLeases.set(mine.kv.name, grant.lease);
    this.log.info({ subnet, publicIp: attrs.PublicIP, reservation: ttl === 0 }, 'found the lease for our PublicIP: reusing it');
    return withExpiration({ subnet, attrs }, grant.lease, grant.expiration);
  }

  private previousIfFree(range: SubnetRange, entries: Entry[]): Ipv4Cidr | undefined {
    const prev = this.previous;
    if (!prev) return undefined;
    if (entries.some((e) => cidrsOverlap(e.subnet, prev))) return undefined;
    if (!isSubnetCompatible(range, prev)) {
      this.log.warn({ subnet: formatIpv4Cidr(prev) }, 'previous subnet does not fit the network config: ignoring it');
      return undefined;
    }
    this.log.info({ subnet: formatIpv4Cidr(prev) }, 'previous subnet is free: reusing it');
    return prev;
  }

  /** Every lease key with its subnet; values that do not decode still occupy their subnet. */
  private async listEntries(): Promise<Entry[]> {
    const { kvs } = await this.registry.listSubnets();
    const entries: Entry[] = [];
    for (const kv of kvs) {
      let subnet: Ipv4Cidr;
      try {
        subnet = parseSubnetKeyName(kv.name);
      } catch (e) {
        this.log.warn({ key: kv.name, err: e }, 'ignoring a key that is not a subnet');
        continue;
      }
      let attrs: LeaseAttrs | undefined;
      if (kv.oversizeBytes !== undefined) {
        this.log.warn({ key: kv.name, bytes: kv.oversizeBytes }, 'oversized lease value, not parsed (its subnet stays taken)');
      } else {
        try {
          attrs = decodeLeaseAttrs(kv.value);
        } catch (e) {
          this.log.warn({ key: kv.name, err: e }, 'malformed lease value (its subnet stays taken)');
        }
      }
      entries.push({ kv, subnet, attrs });
    }
    return entries;
  }
}

function withExpiration(lease: Lease, etcdLease: string, expiration: Date): Lease {
  return etcdLease === '0' ? lease : { ...lease, expiration };
}

function parsePrevious(text: string | undefined): Ipv4Cidr | undefined {
  if (!text) return undefined;
  try {
    const c = parseIpv4Cidr(text, { allowHostBits: true });
    return { base: c.base, prefixLen: c.prefixLen };
  } catch (e) {
    throw new Error(`previous subnet ${JSON.stringify(text)} (from the subnet file): ${(e as Error).message}`);
  }
}
