/**
 * IPv4 prefixes as plain numbers, in two shapes that mean different things on a node:
 *
 * - `Ipv4Cidr` {base, prefixLen}: a block, host bits zero (Network, a lease's subnet, a route's destination).
 *   `parseIpv4Cidr` is strict: "10.244.1.5/16" is an error naming the network it probably meant, unless the caller
 *   accepts flannel's lenient input (`allowHostBits`: masked, and `hadHostBits` says so).
 * - `Ipv4Prefix` {addr, len}: an address with its prefix length, host bits kept (an interface address, or
 *   FLANNEL_SUBNET=10.244.1.1/24, which is the gateway of 10.244.1.0/24).
 *
 * Everything is integer arithmetic on numbers, never string games: the allocator walks SubnetMin..SubnetMax in steps
 * of one subnet and asks "is this block inside the network, does it overlap that lease".
 */
import { formatIpv4, parseIpv4, tryParseIpv4 } from './ipv4';

export interface Ipv4Cidr {
  /** Network address: host bits are zero. */
  readonly base: number;
  readonly prefixLen: number;
}

export interface ParsedCidr extends Ipv4Cidr {
  /** True when the text had host bits set and `allowHostBits` masked them away. */
  readonly hadHostBits: boolean;
}

export interface Ipv4Prefix {
  /** The address as written (for FLANNEL_SUBNET: the first usable address, the gateway). */
  readonly addr: number;
  readonly len: number;
}

/** The netmask of a prefix length as an unsigned number (0 for /0). */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** Number of addresses in a block of this prefix length (2^(32-len)). */
export function blockSize(prefixLen: number): number {
  return 2 ** (32 - prefixLen);
}

/** "a.b.c.d/len" with host bits allowed (an interface address), or undefined. */
export function tryParseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = tryParseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  return len <= 32 ? { addr, len } : undefined;
}

export function formatIpv4Prefix(p: Ipv4Prefix): string {
  return `${formatIpv4(p.addr)}/${p.len}`;
}

/** The block an interface address lies in. */
export function prefixBlock(p: Ipv4Prefix): Ipv4Cidr {
  return { base: (p.addr & prefixMask(p.len)) >>> 0, prefixLen: p.len };
}

/**
 * Parses "a.b.c.d/len". Throws an Error naming the text and the cause; with host bits set it throws
 * unless `allowHostBits`, in which case the block is masked and `hadHostBits` says so.
 */
export function parseIpv4Cidr(text: string, opts: { allowHostBits?: boolean } = {}): ParsedCidr {
  const p = tryParseIpv4Prefix(text);
  if (!p) {
    const m = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/.exec(text);
    if (m) {
      parseIpv4(m[1]); // throws `invalid IPv4 address "…"` for an octet above 255
      throw new Error(`${JSON.stringify(text)}: prefix length ${m[2]} is more than 32`);
    }
    throw new Error(`${JSON.stringify(text)} is not an IPv4 CIDR (a.b.c.d/len)`);
  }
  const { base, prefixLen } = prefixBlock(p);
  if (base !== p.addr && !opts.allowHostBits) {
    throw new Error(`${JSON.stringify(text)} has host bits set (the network is ${formatIpv4(base)}/${prefixLen})`);
  }
  return { base, prefixLen, hadHostBits: base !== p.addr };
}

/** `parseIpv4Cidr` without the throw: undefined for anything that is not a block with zero host bits. */
export function tryParseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const p = tryParseIpv4Prefix(text);
  if (!p) return undefined;
  const block = prefixBlock(p);
  return block.base === p.addr ? block : undefined;
}

export function formatIpv4Cidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefixLen}`;
}

/** Last address of the block (the broadcast address for prefixes shorter than /31). */
export function lastAddress(c: Ipv4Cidr): number {
  return c.base + blockSize(c.prefixLen) - 1;
}

/** First usable host address: network + 1 (flannel's FLANNEL_SUBNET address and cni0's gateway). */
export function firstUsable(c: Ipv4Cidr): number {
  return c.base + 1;
}

/** True when `addr` lies in `c`. */
export function containsAddress(c: Ipv4Cidr, addr: number): boolean {
  return addr >= c.base && addr <= lastAddress(c);
}

/** True when `inner` lies entirely in `outer` (same or longer prefix, base inside). */
export function containsCidr(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  return inner.prefixLen >= outer.prefixLen && containsAddress(outer, inner.base);
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

export function sameCidr(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base === b.base && a.prefixLen === b.prefixLen;
}

/** True when `addr` is the first address of a /prefixLen block. */
export function isAligned(addr: number, prefixLen: number): boolean {
  return (addr & prefixMask(prefixLen)) >>> 0 === addr;
}

/** The /prefixLen blocks whose base runs from `first` to `last` inclusive, in order. */
export function* subnetsBetween(first: number, last: number, prefixLen: number): Generator<Ipv4Cidr> {
  const step = blockSize(prefixLen);
  for (let base = first; base <= last; base += step) yield { base, prefixLen };
}
