/**
 * struct virtio_net_hdr: the 10 bytes in front of every frame on a TAP opened with IFF_VNET_HDR
 * (include/uapi/linux/virtio_net.h). On read it says what the kernel left for us to do (segment a
 * TSO super-frame, complete a partial checksum); on write it tells the kernel what we hand it (a
 * coalesced super-frame, or nothing special: all zeros).
 *
 *   0 flags  1 gso_type  2 hdr_len  4 gso_size  6 csum_start  8 csum_offset     (u16 fields)
 *
 * Why 10 bytes and not 12: the 12-byte form adds `num_buffers`, which only means something for
 * virtio's mergeable receive buffers; a TAP reader or writer never uses it. 10 is the kernel's
 * default (TUNSETVNETHDRSZ is still set explicitly) and what wireguard-go uses.
 * The u16 fields are little-endian: the TAP is switched to little-endian headers (TUNSETVNETLE),
 * which is also the legacy default on every little-endian host.
 */

export const VNET_HDR_LEN = 10;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

export const VH_FLAGS = 0;
export const VH_GSO_TYPE = 1;
export const VH_HDR_LEN = 2;
export const VH_GSO_SIZE = 4;
export const VH_CSUM_START = 6;
export const VH_CSUM_OFFSET = 8;

export function writeVnetHdr(
  dv: DataView,
  off: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  dv.setUint8(off + VH_FLAGS, flags);
  dv.setUint8(off + VH_GSO_TYPE, gsoType);
  dv.setUint16(off + VH_HDR_LEN, hdrLen, true);
  dv.setUint16(off + VH_GSO_SIZE, gsoSize, true);
  dv.setUint16(off + VH_CSUM_START, csumStart, true);
  dv.setUint16(off + VH_CSUM_OFFSET, csumOffset, true);
}

export function vnetGsoSize(dv: DataView, off: number): number {
  return dv.getUint16(off + VH_GSO_SIZE, true);
}

export function vnetCsumStart(dv: DataView, off: number): number {
  return dv.getUint16(off + VH_CSUM_START, true);
}

export function vnetCsumOffset(dv: DataView, off: number): number {
  return dv.getUint16(off + VH_CSUM_OFFSET, true);
}
