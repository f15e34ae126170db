/**
 * flannel's subnet file (`/run/flannel/subnet.env`), the one contract between weftd (writes it) and the CNI plugin
 * (reads it), in flannel's exact format so flannel's own plugin reads weft's file and the other way round:
 *
 *   FLANNEL_NETWORK=10.244.0.0/16   the cluster network
 *   FLANNEL_SUBNET=10.244.1.1/24    this node's subnet, written as its first usable address: the gateway (cni0)
 *   FLANNEL_MTU=1450                the overlay MTU, what pods get
 *   FLANNEL_IPMASQ=true             weftd masquerades traffic leaving the cluster network
 *
 * `formatSubnetEnv` and `parseSubnetEnv` are each other's inverse (tested both ways). Parse errors name the line
 * and the cause; the callers add the path and their own error type. IPv6 keys are ignored.
 */
import {
  type Ipv4Cidr,
  type Ipv4Prefix,
  containsAddress,
  firstUsable,
  formatIpv4Cidr,
  formatIpv4Prefix,
  parseIpv4Cidr,
  prefixBlock,
  tryParseIpv4Prefix,
} from './ipv4-cidr';

export interface SubnetEnv {
  /** FLANNEL_NETWORK, masked. */
  network: Ipv4Cidr;
  /** This node's subnet (FLANNEL_SUBNET's block). */
  subnet: Ipv4Cidr;
  /** FLANNEL_SUBNET as written: `addr` is the gateway (cni0's address), `len` the subnet length. */
  gateway: Ipv4Prefix;
  mtu: number;
  ipMasq: boolean;
}

/** The lowest MTU an IPv4 host must accept (RFC 791) and the highest weft configures. */
export const MIN_MTU = 576;
export const MAX_SUBNET_ENV_MTU = 65535;

/** The file's text for a node with `subnet` (a block, e.g. "10.244.1.0/24") in `network`. */
export function formatSubnetEnv(c: { network: string; subnet: string; mtu: number; ipMasq: boolean }): string {
  const s = parseIpv4Cidr(c.subnet);
  return [
    `FLANNEL_NETWORK=${c.network}`,
    `FLANNEL_SUBNET=${formatIpv4Prefix({ addr: firstUsable(s), len: s.prefixLen })}`,
    `FLANNEL_MTU=${c.mtu}`,
    `FLANNEL_IPMASQ=${c.ipMasq}`,
    '',
  ].join('\n');
}

export class SubnetEnvError extends Error {
  override readonly name = 'SubnetEnvError';
}

/** Parses and checks the file's text; throws SubnetEnvError naming the line and the cause. */
export function parseSubnetEnv(text: string): SubnetEnv {
  const vars = parseEnvLines(text);
  const get = (key: string): { value: string; line: number } => {
    const v = vars.get(key);
    if (!v) throw new SubnetEnvError(`${key} is missing`);
    return v;
  };
  const network = prefixBlock(prefixVar('FLANNEL_NETWORK', get('FLANNEL_NETWORK')));
  const gateway = prefixVar('FLANNEL_SUBNET', get('FLANNEL_SUBNET'));
  const subnet = prefixBlock(gateway);
  const gw = formatIpv4Prefix(gateway);
  if (gateway.len > 30) throw new SubnetEnvError(`FLANNEL_SUBNET ${gw} leaves no room for pods (a /30 or larger is needed)`);
  if (gateway.addr === subnet.base)
    throw new SubnetEnvError(`FLANNEL_SUBNET ${gw} is a network address; weftd writes the first usable address (the gateway)`);
  if (gateway.len < network.prefixLen || !containsAddress(network, gateway.addr)) {
    throw new SubnetEnvError(`FLANNEL_SUBNET ${gw} is not inside FLANNEL_NETWORK ${formatIpv4Cidr(network)}`);
  }
  const mtuVar = get('FLANNEL_MTU');
  const mtu = Number(mtuVar.value);
  if (!/^\d+$/.test(mtuVar.value) || mtu < MIN_MTU || mtu > MAX_SUBNET_ENV_MTU) {
    throw new SubnetEnvError(
      `FLANNEL_MTU ${JSON.stringify(mtuVar.value)} (line ${mtuVar.line}) is not an MTU from ${MIN_MTU} to ${MAX_SUBNET_ENV_MTU}`,
    );
  }
  const masq = vars.get('FLANNEL_IPMASQ')?.value ?? 'false';
  if (masq !== 'true' && masq !== 'false') throw new SubnetEnvError(`FLANNEL_IPMASQ ${JSON.stringify(masq)} is not true or false`);
  return { network, subnet, gateway, mtu, ipMasq: masq === 'true' };
}

/** KEY=VALUE lines, comments and blank lines skipped; anything else is an error naming the line. */
export function parseEnvLines(text: string): Map<string, { value: string; line: number }> {
  const vars = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new SubnetEnvError(`line ${i + 1} ${JSON.stringify(line)} is not KEY=VALUE`);
    vars.set(line.slice(0, eq), { value: line.slice(eq + 1), line: i + 1 });
  });
  return vars;
}

function prefixVar(key: string, v: { value: string; line: number }): Ipv4Prefix {
  const p = tryParseIpv4Prefix(v.value);
  if (!p) throw new SubnetEnvError(`${key} ${JSON.stringify(v.value)} (line ${v.line}) is not an IPv4 prefix a.b.c.d/len`);
  return p;
}
