/**
 * The few facts the node side needs about a lease's subnet: its network address (the vxlan gateway
 * and the device address) and its first usable address (FLANNEL_SUBNET). Strict: a subnet whose
 * address has host bits set is an error, not silently masked.
 */
import { formatIpv4, parseIpv4 } from '@weft/datapath';

export interface SubnetAddress {
  cidr: string; // "10.244.2.0/24"
  network: string; // "10.244.2.0"
  prefixLen: number; // 24
  firstUsable: string; // "10.244.2.1"
}

export function parseSubnet(text: string): SubnetAddress {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) throw new Error(`subnet ${JSON.stringify(text)} is not an IPv4 CIDR (a.b.c.d/len)`);
  const prefixLen = Number(m[2]);
  if (prefixLen > 32) throw new Error(`subnet ${text}: prefix length ${prefixLen} is more than 32`);
  const addr = parseIpv4(m[1]!);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  if (((addr & ~mask) >>> 0) !== 0) throw new Error(`subnet ${text} has host bits set (network is ${formatIpv4((addr & mask) >>> 0)}/${prefixLen})`);
  return { cidr: `${formatIpv4(addr)}/${prefixLen}`, network: formatIpv4(addr), prefixLen, firstUsable: formatIpv4((addr + 1) >>> 0) };
}

/** The subnet an interface address lies in: "10.244.1.1/24" → "10.244.1.0/24". */
export function subnetOfAddress(text: string): string {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new Error(`${JSON.stringify(text)} is not an IPv4 address with a prefix length`);
  const len = Number(m[2]);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return `${formatIpv4((parseIpv4(m[1]!) & mask) >>> 0)}/${len}`;
}
