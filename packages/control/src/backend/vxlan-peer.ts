/**
 * A remote node as the vxlan backend sees it: decoded and validated from its lease.
 *
 * Only the vxlan backend reads BackendData (flannel's split): `{VNI, VtepMAC}`. Everything that ends
 * up in a kernel table or the FDB is checked here (subnet aligned to its prefix, PublicIP a dotted
 * quad, VtepMAC a unicast MAC, VNI ours), so a malformed lease is one warning and one skipped peer,
 * never a half-programmed node or a broken `ip -batch` line.
 */
import { formatIpv4, parseIpv4, parseMac, isGroupMac, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';
import type { Lease } from '../subnet/types.js';

export interface VxlanPeer {
  /** "10.244.2.0/24" */
  subnet: string;
  /** The subnet's network address, the route's onlink gateway and the permanent neighbour: "10.244.2.0". */
  gateway: string;
  vtepMac: string;
  publicIp: string;
}

/** `badMac`: the lease fails on its VtepMAC (missing, not a MAC, a group or the zero address). */
export type PeerDecode = { ok: true; peer: VxlanPeer } | { ok: false; reason: string; badMac?: true };

export function decodeVxlanPeer(lease: Lease, vni: number): PeerDecode {
  const a = lease.attrs;
  if (a.BackendType !== 'vxlan') return { ok: false, reason: `BackendType ${JSON.stringify(a.BackendType)} is not vxlan` };
  let subnet: Ipv4Cidr;
  try {
    subnet = parseIpv4Cidr(lease.subnet);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const data = a.BackendData as { VNI?: unknown; VtepMAC?: unknown } | null;
  if (typeof data !== 'object' || data === null) return { ok: false, reason: 'BackendData is not an object' };
  if (data.VNI !== undefined && data.VNI !== vni)
    return { ok: false, reason: `BackendData.VNI ${JSON.stringify(data.VNI)} is not this network's VNI ${vni}` };
  if (typeof data.VtepMAC !== 'string') return { ok: false, reason: 'BackendData.VtepMAC is missing', badMac: true };
  try {
    const mac = parseMac(data.VtepMAC);
    if (isGroupMac(mac.hi)) return { ok: false, reason: `BackendData.VtepMAC ${data.VtepMAC} is a group address`, badMac: true };
    if (mac.hi === 0 && mac.lo === 0) return { ok: false, reason: 'BackendData.VtepMAC is the zero address', badMac: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message, badMac: true };
  }
  try {
    parseIpv4(String(a.PublicIP));
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return {
    ok: true,
    peer: { subnet: formatIpv4Cidr(subnet), gateway: formatIpv4(subnet.base), vtepMac: data.VtepMAC.toLowerCase(), publicIp: a.PublicIP },
  };
}

export function samePeer(a: VxlanPeer, b: VxlanPeer): boolean {
  return a.subnet === b.subnet && a.gateway === b.gateway && a.vtepMac === b.vtepMac && a.publicIp === b.publicIp;
}
