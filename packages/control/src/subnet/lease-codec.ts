/**
 * flannel's lease format in etcd, both directions.
 *
 * - Key: `<prefix>/subnets/10.244.3.0-24`; a dual-stack flannel writes `10.244.3.0-24&fc00:0:0:3::-64`,
 *   whose IPv4 half we read (weft is IPv4-only, but the subnet is still taken).
 * - Value: `{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{...}}`,
 *   written in exactly flannel's field order and with `PublicIPv6: null` when absent, as Go's
 *   encoding/json does for flannel's LeaseAttrs; read tolerantly (PublicIPv6 null or absent, unknown
 *   fields such as BackendV6Data ignored), and strictly where a wrong value would reach the datapath
 *   (PublicIP must be a dotted quad).
 * A bad key or value is a LeaseDecodeError that says what is wrong; callers log it and skip the lease.
 */
import { formatIpv4, parseIpv4, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';
import type { Lease, LeaseAttrs } from './types.js';

export class LeaseDecodeError extends Error {
  override name = 'LeaseDecodeError';
}

const KEY_NAME_RE = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})-(\d{1,2})(?:&([0-9a-fA-F:.]+)-(\d{1,3}))?$/;

/** "10.244.3.0/24" → "10.244.3.0-24" (the last path element of the lease key). */
export function subnetKeyName(subnet: string | Ipv4Cidr): string {
  const cidr = typeof subnet === 'string' ? parseIpv4Cidr(subnet) : subnet;
  return `${formatIpv4(cidr.base)}-${cidr.prefixLen}`;
}

/** "10.244.3.0-24" (or a dual-stack "…&fc00::-64") → the IPv4 subnet; LeaseDecodeError when malformed. */
export function parseSubnetKeyName(name: string): Ipv4Cidr {
  const m = KEY_NAME_RE.exec(name);
  if (!m) throw new LeaseDecodeError(`lease key ${JSON.stringify(name)} is not a subnet (a.b.c.d-len)`);
  try {
    const c = parseIpv4Cidr(`${m[1]}/${m[2]}`);
    return { base: c.base, prefixLen: c.prefixLen };
  } catch (e) {
    throw new LeaseDecodeError(`lease key ${JSON.stringify(name)}: ${(e as Error).message}`);
  }
}

/** flannel's JSON for lease attributes, byte for byte as flannel writes it. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const wire: Record<string, unknown> = { PublicIP: attrs.PublicIP, PublicIPv6: attrs.PublicIPv6 ?? null };
  if (attrs.BackendType !== '') wire.BackendType = attrs.BackendType;
  if (attrs.BackendData !== undefined && attrs.BackendData !== null) wire.BackendData = attrs.BackendData;
  return JSON.stringify(wire);
}

/** Parses a lease value; LeaseDecodeError naming the field when it is not flannel's shape. */
export function decodeLeaseAttrs(text: string): LeaseAttrs {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new LeaseDecodeError(`lease value is not JSON (${(e as Error).message}): ${preview(text)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new LeaseDecodeError(`lease value is not a JSON object: ${preview(text)}`);
  }
  const o = doc as Record<string, unknown>;
  const pub = o.PublicIP;
  if (typeof pub !== 'string') throw new LeaseDecodeError(`lease PublicIP is missing or not a string: ${preview(text)}`);
  try {
    if (formatIpv4(parseIpv4(pub)) !== pub) throw new Error('not canonical');
  } catch {
    throw new LeaseDecodeError(`lease PublicIP ${JSON.stringify(pub)} is not an IPv4 address`);
  }
  const v6 = o.PublicIPv6;
  if (v6 !== undefined && v6 !== null && typeof v6 !== 'string')
    throw new LeaseDecodeError(`lease PublicIPv6 must be a string or null, got ${JSON.stringify(v6)}`);
  const type = o.BackendType ?? '';
  if (typeof type !== 'string') throw new LeaseDecodeError(`lease BackendType must be a string, got ${JSON.stringify(type)}`);
  const attrs: LeaseAttrs = { PublicIP: pub, BackendType: type, BackendData: o.BackendData ?? null };
  if (typeof v6 === 'string') attrs.PublicIPv6 = v6;
  else attrs.PublicIPv6 = null;
  return attrs;
}

/** A lease from its key name and value (no expiration: the caller knows it, or it is not ours). */
export function decodeLease(keyName: string, value: string): Lease {
  const subnet = parseSubnetKeyName(keyName);
  return { subnet: formatIpv4Cidr(subnet), attrs: decodeLeaseAttrs(value) };
}

/** True when two attribute sets encode to the same lease value (renewals rewrite identical values). */
export function sameLeaseAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return encodeLeaseAttrs(a) === encodeLeaseAttrs(b);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
