/**
 * The few IPv4 facts the plugin needs: dotted quads <-> unsigned 32-bit numbers, and "a.b.c.d/len"
 * prefixes. Kept here rather than imported from @weft/datapath or @weft/control because the plugin is
 * a short-lived process whose start-up time is the product: it may load node: builtins only, and both
 * of those packages pull native modules and loggers on import.
 */

export interface Ipv4Prefix {
  /** The address as written (for FLANNEL_SUBNET: the first usable address, the gateway). */
  readonly addr: number;
  readonly len: number;
}

const QUAD_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The address as a number, or undefined when `text` is not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  const m = QUAD_RE.exec(text);
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** "a.b.c.d/len" (host bits allowed) or undefined. */
export function parseIpv4Prefix(text: string): Ipv4Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIpv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const len = Number(lenText);
  return len <= 32 ? { addr, len } : undefined;
}

export function formatIpv4Prefix(p: Ipv4Prefix): string {
  return `${formatIpv4(p.addr)}/${p.len}`;
}

/** The network address of the block `p` lies in. */
export function networkAddress(p: Ipv4Prefix): number {
  return p.len === 0 ? 0 : (p.addr & (0xffffffff << (32 - p.len))) >>> 0;
}

/** The last address of the block (its broadcast address). */
export function broadcastAddress(p: Ipv4Prefix): number {
  return networkAddress(p) + 2 ** (32 - p.len) - 1;
}

/** True when `addr` lies in the block of `p`. */
export function prefixContains(p: Ipv4Prefix, addr: number): boolean {
  return addr >= networkAddress(p) && addr <= broadcastAddress(p);
}
