/**
 * Flow entropy (RFC 7348 §5): the outer UDP source port is chosen from a hash of the inner flow, so
 * an underlay's ECMP and a receiving NIC's RSS spread a node pair's flows instead of pinning them all
 * to one path and one queue. Linux vxlan hashes the inner flow into the ephemeral port range.
 *
 * weft sends from a small set of UDP sockets bound to distinct (ephemeral) ports, one per "source",
 * and picks the socket by this hash: one flow always leaves from one port (no reordering), distinct
 * flows mostly from distinct ports. Inner IPv4: addresses, protocol and, for unfragmented TCP/UDP,
 * the ports; anything else: the two MAC addresses. Allocation-free; a few DataView reads per frame.
 */
const ETH_P_IP = 0x0800;

/** Index in [0, sources) of the socket that sends the inner Ethernet frame at `f` (`len` bytes). */
export function flowSource(dv: DataView, f: number, len: number, sources: number): number {
  let h: number;
  if (len >= 34 && dv.getUint16(f + 12) === ETH_P_IP) {
    const ip = f + 14;
    const ihl = (dv.getUint8(ip) & 0xf) * 4;
    const proto = dv.getUint8(ip + 9);
    h = mix(mix(dv.getUint32(ip + 12), dv.getUint32(ip + 16)), proto);
    const fragmented = (dv.getUint16(ip + 6) & 0x3fff) !== 0;
    if ((proto === 6 || proto === 17) && !fragmented && len >= 14 + ihl + 4) h = mix(h, dv.getUint32(ip + ihl));
  } else {
    h = mix(mix(dv.getUint32(f), dv.getUint32(f + 4)), dv.getUint32(f + 8));
  }
  return (h >>> 0) % sources;
}

/** A murmur3-style 32-bit mixing step. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h, 5) + 0xe6546b64;
  h ^= h >>> 16;
  return Math.imul(h, 0x85ebca6b);
}
