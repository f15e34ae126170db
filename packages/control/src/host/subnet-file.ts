/**
 * The subnet file (`/run/flannel/subnet.env`) on the weftd side: what the CNI plugin reads to configure pods on this
 * node. Its format lives in @weft/netbase (subnet-env.ts), shared with the plugin that parses it.
 *
 * Written atomically (temp file in the same directory, fsync, rename, fsync of the directory) so a CNI ADD never
 * reads half a file (flannel #2232 #2253 are about a missing or partial subnet.env). The reader gives weftd the
 * subnet it had before a restart, so the subnet manager can ask for it again.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatIpv4Cidr, formatSubnetEnv, parseEnvLines, parseIpv4Cidr, writeFileAtomic } from '@weft/netbase';

export interface SubnetFileContent {
  network: string; // "10.244.0.0/16"
  subnet: string; // our lease's subnet, "10.244.1.0/24"
  mtu: number;
  ipMasq: boolean;
}

export function renderSubnetFile(c: SubnetFileContent): string {
  return formatSubnetEnv(c);
}

export async function writeSubnetFile(path: string, c: SubnetFileContent): Promise<void> {
  const text = renderSubnetFile(c);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, text, 0o644);
  } catch (e) {
    throw new Error(`cannot write subnet file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The subnet recorded by an earlier run ("10.244.1.0/24"), or undefined when there is no file or no
 * valid FLANNEL_SUBNET in it (then the manager allocates as for a new node).
 */
export async function readPreviousSubnet(path: string): Promise<string | undefined> {
  try {
    const value = parseEnvLines(await readFile(path, 'utf8')).get('FLANNEL_SUBNET')?.value;
    return value === undefined ? undefined : formatIpv4Cidr(parseIpv4Cidr(value, { allowHostBits: true }));
  } catch {
    return undefined;
  }
}
