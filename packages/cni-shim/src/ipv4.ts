/**
 * The IPv4 facts the plugin needs, in the plugin's words: dotted quads <-> unsigned 32-bit numbers (undefined for
 * bad input: the plugin words its own CNI errors), and "a.b.c.d/len" prefixes with host bits kept. The one
 * implementation is @weft/netbase's, which loads node: builtins only, so the plugin's start-up stays small.
 */
import { type Ipv4Prefix, containsAddress, lastAddress, prefixBlock } from '@weft/netbase';

export {
  type Ipv4Prefix,
  formatIpv4,
  formatIpv4Prefix,
  tryParseIpv4 as parseIpv4,
  tryParseIpv4Prefix as parseIpv4Prefix,
} from '@weft/netbase';

/** The network address of the block `p` lies in. */
export function networkAddress(p: Ipv4Prefix): number {
  return prefixBlock(p).base;
}

/** The last address of the block (its broadcast address). */
export function broadcastAddress(p: Ipv4Prefix): number {
  return lastAddress(prefixBlock(p));
}

/** True when `addr` lies in the block of `p`. */
export function prefixContains(p: Ipv4Prefix, addr: number): boolean {
  return containsAddress(prefixBlock(p), addr);
}
