/**
 * RFC 7348 §5 VXLAN header, 8 bytes in front of the inner Ethernet frame:
 *
 *   0               1               2               3
 *   |R|R|R|R|I|R|R|R|            Reserved (24)                    |
 *   |                VNI (24)                       | Reserved (8) |
 *
 * The I flag (0x08) must be set. Reserved bits are sent as zero; on receipt the RFC says to ignore
 * them, so weft checks only the I flag and the VNI (Linux drops packets with unknown flag bits; a weft
 * receiver is the more lenient of the two and never sends such bits itself).
 * Both functions work in place on a DataView at a byte offset: no allocation.
 */

export const VXLAN_HEADER_LEN = 8;
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_DEFAULT_PORT = 8472; // Linux and flannel; IANA's is 4789
export const VXLAN_DEFAULT_VNI = 1; // flannel's default
export const VXLAN_MAX_VNI = 0xffffff;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD_V4 = 50;

export function writeVxlanHeader(dv: DataView, off: number, vni: number): void {
  dv.setUint32(off, VXLAN_FLAG_I << 24);
  dv.setUint32(off + 4, vni << 8);
}

/** Header check result: the VNI (>= 0) or a negative reason. */
export const VXLAN_BAD_FLAGS = -1;

/** Returns the VNI carried by the header at `off`, or VXLAN_BAD_FLAGS when the I flag is clear. */
export function readVxlanVni(dv: DataView, off: number): number {
  if ((dv.getUint8(off) & VXLAN_FLAG_I) === 0) return VXLAN_BAD_FLAGS;
  return dv.getUint32(off + 4) >>> 8;
}

export function assertVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < 0 || vni > VXLAN_MAX_VNI) {
    throw new Error(`VNI ${vni} out of range (0..${VXLAN_MAX_VNI})`);
  }
  return vni;
}

export function assertPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`UDP port ${port} out of range (1..65535)`);
  return port;
}
