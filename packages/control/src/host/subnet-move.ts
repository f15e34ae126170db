/**
 * A change of this node's own subnet (its lease was lost and the subnet it got back differs), seen from
 * the pods: those still holding an address of the old subnet cannot be reached any more (no peer routes
 * that subnet here) and reach nothing either. Until they are gone the node is not ready, and /readyz
 * says how many are left on which subnet.
 *
 * Where the pods are: the CNI IPAM store (host-local's layout, shared by weft's cni-shim):
 * `<ipamDir>/<network name>/<IPv4 address>`, one file per address in use. Reading a directory per
 * readiness probe is cheap; nothing is cached, so a pod deleted is seen at the next probe.
 */
import { readdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parseIpv4, containsAddress, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';

export const DEFAULT_CNI_IPAM_DIR = '/var/lib/cni/networks';

/** Addresses reserved in the IPAM store (every network under `ipamDir`) that lie in `subnet`. */
export async function podAddressesIn(ipamDir: string, subnet: Ipv4Cidr): Promise<string[]> {
  const networks = await readdir(ipamDir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const n of networks) {
    if (!n.isDirectory()) continue;
    for (const f of await readdir(`${ipamDir}/${n.name}`).catch(() => [] as string[])) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
      try {
        if (containsAddress(subnet, parseIpv4(f))) found.push(f);
      } catch {
        // not an address file
      }
    }
  }
  return found;
}

export class SubnetMove {
  private drained = false;
  private readonly old: Ipv4Cidr;

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly ipamDir: string,
    private readonly log: Logger,
  ) {
    this.old = parseIpv4Cidr(from);
    log.warn({ from, to, ipamDir }, 'our subnet changed: not ready until no pod is left on the old subnet');
  }

  /** Pods (addresses) still on the old subnet; logs once when the last one is gone. */
  async podsLeft(): Promise<string[]> {
    if (this.drained) return [];
    const left = await podAddressesIn(this.ipamDir, this.old);
    if (left.length === 0) {
      this.drained = true;
      this.log.info({ from: this.from, to: this.to }, 'no pod is left on the old subnet: ready again');
    }
    return left;
  }
}
