/**
 * IPv4 addresses as unsigned 32-bit numbers in host order: what the datapath's hot path compares and stores,
 * what the subnet allocator steps through, what the CNI plugin's IPAM counts with. Dotted quads only
 * ("10.244.1.5"); no leading "+", no hex, no shortened forms, each octet 0-255.
 *
 * Two parsers with one grammar: `parseIpv4` throws an Error naming the text (configuration, flags, leases
 * already known to be well-formed), `tryParseIpv4` returns undefined (input whose failure the caller words itself).
 */

const QUAD_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The address as a number, or undefined when `text` is not a dotted quad. */
export function tryParseIpv4(text: string): number | undefined {
  const m = QUAD_RE.exec(text);
  if (!m) return undefined;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

/** The address as a number; throws `invalid IPv4 address "text"`. */
export function parseIpv4(text: string): number {
  const value = tryParseIpv4(text);
  if (value === undefined) throw new Error(`invalid IPv4 address ${JSON.stringify(text)}`);
  return value;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** True for a dotted quad. */
export function isIpv4(text: string): boolean {
  return tryParseIpv4(text) !== undefined;
}
