/**
 * The VTEP MAC of this node: derived, not random, so it is the same after every restart and reboot.
 *
 * flannel lets the kernel pick a random MAC for flannel.1; after a reboot the MAC differs from the one
 * its peers programmed, and traffic to the node blackholes until every peer sees the new lease
 * (flannel #533 #1036 #1330 #1795 #1828). weft derives the MAC from what identifies the node in the
 * cluster (its PublicIP, the same key flannel uses to give a restarted node its old lease) and the VNI:
 * sha256 → first 6 bytes → locally administered unicast. No state file is needed, so it also survives a
 * wiped /var/lib or a reinstalled node with the same address; a node that changes its address gets a
 * new lease anyway, and with it a new MAC that peers learn from that lease.
 */
import { createHash } from 'node:crypto';
import { macFromBytes } from '@weft/netbase';

export function deriveVtepMac(publicIp: string, vni: number): string {
  const digest = createHash('sha256').update(`weft-vtep-mac\0${publicIp}\0${vni}`).digest();
  return macFromBytes(digest);
}

/** The device name weft uses for a VNI (flannel uses `flannel.<VNI>`). */
export function vtepDeviceName(vni: number): string {
  return `weft.${vni}`;
}
