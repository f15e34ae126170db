/**
 * Reading the node's lease from the subnet file weftd writes (flannel's /run/flannel/subnet.env):
 *
 *   FLANNEL_NETWORK=10.244.0.0/16   the cluster network
 *   FLANNEL_SUBNET=10.244.1.1/24    this node's subnet, written as its first usable address: the gateway
 *   FLANNEL_MTU=1450                the overlay MTU, what pods get
 *   FLANNEL_IPMASQ=true             weftd masquerades traffic leaving the cluster network
 *
 * A missing file means weftd has not leased a subnet yet: ADD answers 11 (try again later), STATUS 50.
 * A file that does not parse is an error naming the file, the line and the cause (flannel #2232/#2253
 * are about exactly these two situations and their unhelpful messages). IPv6 keys are ignored: weft's
 * pod network is IPv4.
 */
import { readFileSync } from 'node:fs';
import { CNI_ERR, CniError } from './cni-spec.js';
import { formatIpv4Prefix, networkAddress, parseIpv4Prefix, prefixContains, type Ipv4Prefix } from './ipv4.js';

export interface NodeSubnet {
  /** FLANNEL_NETWORK, masked. */
  network: Ipv4Prefix;
  /** FLANNEL_SUBNET as written: `addr` is the gateway (cni0's address), `len` the subnet length. */
  gateway: Ipv4Prefix;
  mtu: number;
  ipMasq: boolean;
}

export class SubnetFileError extends CniError {}

export function readSubnetFile(path: string): NodeSubnet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SubnetFileError(CNI_ERR.tryAgainLater, `subnet file ${path} does not exist: weftd has not leased a subnet for this node yet`, 'start weftd (or wait for it to acquire its lease); it writes this file when the node has a subnet');
    }
    throw new SubnetFileError(CNI_ERR.ioFailure, `cannot read subnet file ${path}: ${(e as Error).message}`);
  }
  return parseSubnetEnv(text, path);
}

export function parseSubnetEnv(text: string, path: string): NodeSubnet {
  const vars = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw bad(path, `line ${i + 1} ${JSON.stringify(line)} is not KEY=VALUE`);
    vars.set(line.slice(0, eq), { value: line.slice(eq + 1), line: i + 1 });
  });
  const get = (key: string): { value: string; line: number } => {
    const v = vars.get(key);
    if (!v) throw bad(path, `${key} is missing`);
    return v;
  };
  const net = prefixVar(path, 'FLANNEL_NETWORK', get('FLANNEL_NETWORK'));
  const network = { addr: networkAddress(net), len: net.len };
  const gateway = prefixVar(path, 'FLANNEL_SUBNET', get('FLANNEL_SUBNET'));
  if (gateway.len > 30) throw bad(path, `FLANNEL_SUBNET ${formatIpv4Prefix(gateway)} leaves no room for pods (a /30 or larger is needed)`);
  if (gateway.addr === networkAddress(gateway)) throw bad(path, `FLANNEL_SUBNET ${formatIpv4Prefix(gateway)} is a network address; weftd writes the first usable address (the gateway)`);
  if (gateway.len < network.len || !prefixContains(network, gateway.addr)) {
    throw bad(path, `FLANNEL_SUBNET ${formatIpv4Prefix(gateway)} is not inside FLANNEL_NETWORK ${formatIpv4Prefix(network)}`);
  }
  const mtuVar = get('FLANNEL_MTU');
  const mtu = Number(mtuVar.value);
  if (!/^\d+$/.test(mtuVar.value) || mtu < 576 || mtu > 65535) throw bad(path, `FLANNEL_MTU ${JSON.stringify(mtuVar.value)} (line ${mtuVar.line}) is not an MTU from 576 to 65535`);
  const masq = vars.get('FLANNEL_IPMASQ')?.value ?? 'false';
  if (masq !== 'true' && masq !== 'false') throw bad(path, `FLANNEL_IPMASQ ${JSON.stringify(masq)} is not true or false`);
  return { network, gateway, mtu, ipMasq: masq === 'true' };
}

function prefixVar(path: string, key: string, v: { value: string; line: number }): Ipv4Prefix {
  const p = parseIpv4Prefix(v.value);
  if (!p) throw bad(path, `${key} ${JSON.stringify(v.value)} (line ${v.line}) is not an IPv4 prefix a.b.c.d/len`);
  return p;
}

function bad(path: string, cause: string): SubnetFileError {
  return new SubnetFileError(CNI_ERR.invalidConfig, `subnet file ${path} is invalid: ${cause}`);
}
