/**
 * Picking a node's subnet, flannel's way (pkg/subnet/etcd/local_manager.go allocateSubnet):
 * walk SubnetMin..SubnetMax in SubnetLen steps, collect up to 100 blocks that overlap no existing
 * lease, pick one at random. Random among a bounded window keeps concurrent joiners from all racing
 * for the same first free block (the txn create settles the rare collision) without scanning a /8.
 * Taken blocks are swept in address order, so a crowded network costs O(leases log leases), not
 * O(subnets × leases).
 */
import { parseIpv4, containsCidr, lastAddress, parseIpv4Cidr, subnetsBetween, type Ipv4Cidr } from '@weft/netbase';
import type { NetworkConfig } from './types.js';

/** flannel's window of free candidates to choose from. */
export const MAX_CANDIDATES = 100;

export interface SubnetRange {
  network: Ipv4Cidr;
  subnetLen: number;
  /** Base address of the first and last allocatable subnet. */
  min: number;
  max: number;
}

export function subnetRange(config: NetworkConfig): SubnetRange {
  return {
    network: parseIpv4Cidr(config.network),
    subnetLen: config.subnetLen,
    min: parseIpv4(config.subnetMin),
    max: parseIpv4(config.subnetMax),
  };
}

/** flannel's isSubnetConfigCompat: the right length, inside Network, between SubnetMin and SubnetMax. */
export function isSubnetCompatible(range: SubnetRange, subnet: Ipv4Cidr): boolean {
  return (
    subnet.prefixLen === range.subnetLen && containsCidr(range.network, subnet) && subnet.base >= range.min && subnet.base <= range.max
  );
}

/** Free blocks in address order, at most `limit` of them. */
export function freeSubnets(range: SubnetRange, taken: readonly Ipv4Cidr[], limit = MAX_CANDIDATES): Ipv4Cidr[] {
  const sorted = [...taken].sort((a, b) => a.base - b.base);
  const free: Ipv4Cidr[] = [];
  let j = 0;
  for (const candidate of subnetsBetween(range.min, range.max, range.subnetLen)) {
    while (j < sorted.length && lastAddress(sorted[j]) < candidate.base) j++;
    const overlaps = j < sorted.length && sorted[j].base <= lastAddress(candidate);
    if (!overlaps) free.push(candidate);
    if (free.length >= limit) break;
  }
  return free;
}

/** A random free subnet among the first MAX_CANDIDATES, or undefined when the range is full. */
export function pickFreeSubnet(range: SubnetRange, taken: readonly Ipv4Cidr[], random: () => number = Math.random): Ipv4Cidr | undefined {
  const free = freeSubnets(range, taken);
  if (free.length === 0) return undefined;
  return free[Math.min(free.length - 1, Math.floor(random() * free.length))];
}
