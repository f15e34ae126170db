/**
 * IPv4 address ranges as [first, last] integer pairs: what nftables interval sets hold. ipBlock
 * `cidr` minus its `except` list becomes plain ranges here, and every peer set is the sorted union of
 * its ranges, so nft never sees overlapping intervals (which it rejects) and one set element stands
 * for a whole CIDR however many pods it holds.
 */
export type Range = readonly [number, number];

export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] << 24) >>> 0) + (o[1] << 16) + (o[2] << 8) + o[3];
}

export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** "10.0.0.0/8" → its range; undefined for anything else (IPv6 included: weft is IPv4-only). */
export function cidrRange(cidr: string): Range | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  const base = m ? parseIpv4(m[1]) : undefined;
  const len = m ? Number(m[2]) : NaN;
  if (base === undefined || !(len >= 0 && len <= 32)) return undefined;
  const size = 2 ** (32 - len);
  const first = base - (base % size);
  return [first, first + size - 1];
}

/** Sorted union of ranges, adjacent ones joined. */
export function union(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** `from` minus every range of `holes`. */
export function subtract(from: Range, holes: readonly Range[]): Range[] {
  let pieces: Range[] = [from];
  for (const [ha, hb] of holes) {
    const next: Range[] = [];
    for (const [a, b] of pieces) {
      if (hb < a || ha > b) next.push([a, b]);
      else {
        if (ha > a) next.push([a, ha - 1]);
        if (hb < b) next.push([hb + 1, b]);
      }
    }
    pieces = next;
  }
  return pieces;
}

/** nft set element text: "10.0.0.1" or "10.0.0.0-10.0.0.255". */
export function rangeElement([a, b]: Range): string {
  return a === b ? formatIpv4(a) : `${formatIpv4(a)}-${formatIpv4(b)}`;
}
