/**
 * The underlay: which interface carries VXLAN, its address and MTU, and the PublicIP other nodes send to.
 *
 * flannel's rules: `--iface` (a name or an address; several may be given, the first that exists wins),
 * else the interface of the default route. PublicIP is `--public-ip` when given (a NATed node may
 * advertise an address it does not hold), else the interface's first global IPv4 address. The VTEP MTU
 * is the interface MTU − 50 (VXLAN over IPv4) unless the network config sets one.
 */
import { parseIpv4 } from '@weft/netbase';
import { mustRunHostTool } from './host-tool.js';

export interface Underlay {
  iface: string;
  /** The interface's own address: where the VXLAN socket binds. */
  ifaceAddr: string;
  /** What peers send to (lease PublicIP). */
  publicIp: string;
  mtu: number;
}

export interface IpLinkAddrs {
  ifname: string;
  mtu: number;
  addr_info?: Array<{ family: string; local: string; scope?: string }>;
}

/** What `ip` tells us; a parameter so tests can give fixed answers. */
export interface UnderlayProbe {
  addresses(): Promise<IpLinkAddrs[]>;
  defaultRouteDev(): Promise<string | undefined>;
}

export const hostUnderlayProbe: UnderlayProbe = {
  async addresses() {
    return JSON.parse((await mustRunHostTool('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as IpLinkAddrs[];
  },
  async defaultRouteDev() {
    const routes = JSON.parse((await mustRunHostTool('ip', ['-j', '-4', 'route', 'show', 'default'])) || '[]') as Array<{ dev?: string }>;
    return routes.find((r) => r.dev)?.dev;
  },
};

export async function findUnderlay(
  o: { ifaces: readonly string[]; publicIp?: string },
  probe: UnderlayProbe = hostUnderlayProbe,
): Promise<Underlay> {
  if (o.publicIp !== undefined) checkIpv4('--public-ip', o.publicIp);
  const links = await probe.addresses();
  let link: IpLinkAddrs | undefined;
  if (o.ifaces.length > 0) {
    for (const want of o.ifaces) {
      link = links.find((l) => l.ifname === want || l.addr_info?.some((a) => a.family === 'inet' && a.local === want));
      if (link) break;
    }
    if (!link) throw new Error(`--iface: none of ${o.ifaces.join(', ')} is an interface or IPv4 address of this node`);
  } else {
    const dev = await probe.defaultRouteDev();
    if (!dev) throw new Error('--iface not given and there is no default route to pick an interface from');
    link = links.find((l) => l.ifname === dev);
    if (!link) throw new Error(`the default route's interface ${dev} has no IPv4 address (give --iface)`);
  }
  const wanted = o.ifaces.find((w) => /^\d+\.\d+\.\d+\.\d+$/.test(w));
  const addrs = (link.addr_info ?? []).filter((a) => a.family === 'inet' && (a.scope ?? 'global') === 'global').map((a) => a.local);
  const ifaceAddr = wanted && addrs.includes(wanted) ? wanted : addrs[0];
  if (!ifaceAddr) throw new Error(`interface ${link.ifname} has no global IPv4 address`);
  return { iface: link.ifname, ifaceAddr, publicIp: o.publicIp ?? ifaceAddr, mtu: link.mtu };
}

function checkIpv4(field: string, v: string): void {
  try {
    parseIpv4(v);
  } catch {
    throw new Error(`${field}: ${JSON.stringify(v)} is not an IPv4 address`);
  }
}
