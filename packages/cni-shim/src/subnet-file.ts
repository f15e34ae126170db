/**
 * Reading the node's lease from the subnet file weftd writes (flannel's /run/flannel/subnet.env):
 *
 *   FLANNEL_NETWORK=10.244.0.0/16   the cluster network
 *   FLANNEL_SUBNET=10.244.1.1/24    this node's subnet, written as its first usable address: the gateway
 *   FLANNEL_MTU=1450                the overlay MTU, what pods get
 *   FLANNEL_IPMASQ=true             weftd masquerades traffic leaving the cluster network
 *
 * The format and its checks live in @weft/netbase (subnet-env.ts), shared with weftd, which writes the file.
 *
 * A missing file means weftd has not leased a subnet yet: ADD answers 11 (try again later), STATUS 50.
 * A file that does not parse is an error naming the file, the line and the cause (flannel #2232/#2253
 * are about exactly these two situations and their unhelpful messages). IPv6 keys are ignored: weft's
 * pod network is IPv4.
 */
import { readFileSync } from 'node:fs';
import { SubnetEnvError, parseSubnetEnv as parseSubnetEnvText } from '@weft/netbase';
import { CNI_ERR, CniError } from './cni-spec.js';
import type { Ipv4Prefix } from './ipv4.js';

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
      throw new SubnetFileError(
        CNI_ERR.tryAgainLater,
        `subnet file ${path} does not exist: weftd has not leased a subnet for this node yet`,
        'start weftd (or wait for it to acquire its lease); it writes this file when the node has a subnet',
      );
    }
    throw new SubnetFileError(CNI_ERR.ioFailure, `cannot read subnet file ${path}: ${(e as Error).message}`);
  }
  return parseSubnetEnv(text, path);
}

export function parseSubnetEnv(text: string, path: string): NodeSubnet {
  try {
    const env = parseSubnetEnvText(text);
    return { network: { addr: env.network.base, len: env.network.prefixLen }, gateway: env.gateway, mtu: env.mtu, ipMasq: env.ipMasq };
  } catch (e) {
    if (e instanceof SubnetEnvError) throw new SubnetFileError(CNI_ERR.invalidConfig, `subnet file ${path} is invalid: ${e.message}`);
    throw e;
  }
}
