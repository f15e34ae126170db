/**
 * The subnet file (`/run/flannel/subnet.env`): what the flannel CNI plugin (and weft's cni-shim) read to
 * configure pods on this node, in flannel's exact format:
 *
 *   FLANNEL_NETWORK=10.244.0.0/16
 *   FLANNEL_SUBNET=10.244.1.1/24      first usable address of our subnet, with its length
 *   FLANNEL_MTU=1450                  the VTEP's MTU
 *   FLANNEL_IPMASQ=true
 *
 * Written atomically (temp file in the same directory, fsync, rename) so a CNI ADD never reads half a
 * file (flannel #2232 #2253 are about a missing or partial subnet.env). The reader gives weftd the
 * subnet it had before a restart, so the subnet manager can ask for it again.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatIpv4 } from '@weft/datapath';
import { firstUsable, formatIpv4Cidr, parseIpv4Cidr } from '../net/ipv4-cidr.js';

export interface SubnetFileContent {
  network: string; // "10.244.0.0/16"
  subnet: string; // our lease's subnet, "10.244.1.0/24"
  mtu: number;
  ipMasq: boolean;
}

export function renderSubnetFile(c: SubnetFileContent): string {
  const s = parseIpv4Cidr(c.subnet);
  return [
    `FLANNEL_NETWORK=${c.network}`,
    `FLANNEL_SUBNET=${formatIpv4(firstUsable(s))}/${s.prefixLen}`,
    `FLANNEL_MTU=${c.mtu}`,
    `FLANNEL_IPMASQ=${c.ipMasq}`,
    '',
  ].join('\n');
}

export async function writeSubnetFile(path: string, c: SubnetFileContent): Promise<void> {
  const text = renderSubnetFile(c);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`cannot write subnet file ${path}: ${(e as Error).message}`);
  }
}

/** Parses KEY=VALUE lines (comments and blank lines ignored). */
export function parseSubnetFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}

/**
 * The subnet recorded by an earlier run ("10.244.1.0/24"), or undefined when there is no file or no
 * valid FLANNEL_SUBNET in it (then the manager allocates as for a new node).
 */
export async function readPreviousSubnet(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const value = parseSubnetFile(text).FLANNEL_SUBNET;
  if (!value) return undefined;
  try {
    return formatIpv4Cidr(parseIpv4Cidr(value, { allowHostBits: true }));
  } catch {
    return undefined;
  }
}
