/**
 * Ethernet MAC addresses as two numbers: `hi` (first 2 octets) and `lo` (last 4 octets).
 * The hot path reads a MAC from a frame as (getUint16, getUint32) and never builds a string or a
 * 48-bit number (which V8 would box): tables key on the pair.
 */

export interface MacPair {
  hi: number; // octets 0-1, 16 bits
  lo: number; // octets 2-5, 32 bits unsigned
}

const MAC_RE = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i;

export function parseMac(text: string): MacPair {
  if (!MAC_RE.test(text)) throw new Error(`invalid MAC address ${JSON.stringify(text)} (want aa:bb:cc:dd:ee:ff)`);
  const o = text.split(':').map((h) => parseInt(h, 16));
  return { hi: (o[0]! << 8) | o[1]!, lo: ((o[2]! << 24) | (o[3]! << 16) | (o[4]! << 8) | o[5]!) >>> 0 };
}

export function formatMac(hi: number, lo: number): string {
  const o = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return o.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Group bit (I/G) of the first octet: broadcast and multicast. */
export function isGroupMac(hi: number): boolean {
  return (hi & 0x0100) !== 0;
}

/** A locally administered unicast MAC from arbitrary bytes (for a VTEP MAC derived from a node identity). */
export function macFromBytes(b: Uint8Array): string {
  const o = [(b[0]! & 0xfe) | 0x02, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!];
  return o.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
