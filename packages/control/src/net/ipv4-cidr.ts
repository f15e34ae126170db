/**
 * IPv4 prefixes (CIDR blocks) as plain numbers: a base address (unsigned 32-bit, host order, the same
 * representation as @weft/datapath's parseIpv4/formatIpv4) and a prefix length.
 *
 * The subnet allocator walks SubnetMin..SubnetMax in steps of one subnet and asks "is this block
 * inside the network, does it overlap that lease", so everything here is integer arithmetic on
 * numbers, never string games. Parsing is strict by default: "10.244.1.5/16" is an error that names
 * the network it probably meant; callers that must accept flannel's lenient input (net-conf.json's
 * Network) ask for `allowHostBits` and get the masked block plus the fact that it was masked.
 */
import { formatIpv4, parseIpv4 } from '@weft/datapath';

export interface Ipv4Cidr {
  /** Network address: host bits are zero. */
  readonly base: number;
  readonly prefixLen: number;
}

export interface ParsedCidr extends Ipv4Cidr {
  /** True when the text had host bits set and `allowHostBits` masked them away. */
  readonly hadHostBits: boolean;
}

const CIDR_RE = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,2})$/;

/** The netmask of a prefix length as an unsigned number (0 for /0). */
export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** Number of addresses in a block of this prefix length (2^(32-len)). */
export function blockSize(prefixLen: number): number {
  return 2 ** (32 - prefixLen);
}

/**
 * Parses "a.b.c.d/len". Throws an Error naming the text and the cause; with host bits set it throws
 * unless `allowHostBits`, in which case the block is masked and `hadHostBits` says so.
 */
export function parseIpv4Cidr(text: string, opts: { allowHostBits?: boolean } = {}): ParsedCidr {
  const m = CIDR_RE.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not an IPv4 CIDR (a.b.c.d/len)`);
  const prefixLen = Number(m[2]);
  if (prefixLen > 32) throw new Error(`${JSON.stringify(text)}: prefix length ${prefixLen} is more than 32`);
  const addr = parseIpv4(m[1]!);
  const base = (addr & prefixMask(prefixLen)) >>> 0;
  if (base !== addr && !opts.allowHostBits) {
    throw new Error(`${JSON.stringify(text)} has host bits set (the network is ${formatIpv4(base)}/${prefixLen})`);
  }
  return { base, prefixLen, hadHostBits: base !== addr };
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
  return ((addr & prefixMask(prefixLen)) >>> 0) === addr;
}

/** The /prefixLen blocks whose base runs from `first` to `last` inclusive, in order. */
export function* subnetsBetween(first: number, last: number, prefixLen: number): Generator<Ipv4Cidr> {
  const step = blockSize(prefixLen);
  for (let base = first; base <= last; base += step) yield { base, prefixLen };
}
