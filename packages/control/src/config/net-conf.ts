/**
 * flannel's net-conf.json → NetworkConfig, validated, with flannel's defaults filled in.
 *
 * The rules are flannel's (pkg/subnet/config.go CheckNetworkConfig), so a config that works with
 * flannel works here and gets the same subnets:
 * - SubnetLen: default 24 when the network is /22 or larger, else prefix+2 (the network must then be
 *   /28 or larger); an explicit SubnetLen must be at most 30 and leave room for four subnets.
 * - SubnetMin: default the second subnet (the first would put a host at the network address);
 *   SubnetMax: default the last subnet; both inside Network and on a SubnetLen boundary.
 * - Field names match the way Go's encoding/json matches them: exact first, else case-insensitive.
 * - Backend.Port 0 means the Linux default 8472; VNI defaults to 1.
 * Where weft differs it says so instead of guessing: only the vxlan backend exists, IPv6 is not
 * implemented, and a missing Backend chooses vxlan (flannel's code falls back to "udp" there although
 * its docs say vxlan, flannel#1221). Harmless differences (host bits in Network, ignored fields) come
 * back as `notes` for the caller to log; everything else is an Error naming the field and the cause.
 */
import {
  formatIpv4,
  parseIpv4,
  blockSize,
  containsAddress,
  formatIpv4Cidr,
  isAligned,
  lastAddress,
  parseIpv4Cidr,
  type Ipv4Cidr,
} from '@weft/netbase';
import type { NetworkConfig } from '../subnet/types.js';

export const DEFAULT_VXLAN_PORT = 8472;
export const DEFAULT_VXLAN_VNI = 1;

export interface ParsedNetConf {
  config: NetworkConfig;
  /** Things worth a log line that do not stop the agent ("Backend missing: using vxlan", ...). */
  notes: string[];
}

export class NetConfError extends Error {
  override name = 'NetConfError';
}

type Json = Record<string, unknown>;

const TOP_FIELDS = [
  'Network',
  'SubnetLen',
  'SubnetMin',
  'SubnetMax',
  'Backend',
  'EnableIPv4',
  'EnableIPv6',
  'IPv6Network',
  'IPv6SubnetLen',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
  'EnableNFTables',
];
const BACKEND_FIELDS = ['Type', 'VNI', 'Port', 'MTU', 'GBP', 'DirectRouting', 'Learning', 'MacPrefix'];

/** Parses the text of a net-conf.json; `source` names it in errors ("etcd /coreos.com/network/config"). */
export function parseNetConf(text: string, source = 'net-conf.json'): ParsedNetConf {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new NetConfError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw new NetConfError(`${source}: must be a JSON object, got ${describe(doc)}`);
  try {
    return checkNetConf(doc);
  } catch (e) {
    if (e instanceof NetConfError) throw new NetConfError(`${source}: ${e.message}`);
    throw e;
  }
}

function checkNetConf(doc: Json): ParsedNetConf {
  const notes: string[] = [];
  const f = fieldReader(doc, '', TOP_FIELDS, notes);
  checkAddressFamilies(f, notes);
  const network = readNetwork(f, notes);
  const subnetLen = readSubnetLen(f, network);
  const size = blockSize(subnetLen);
  const subnetMin = readSubnetBound(f, 'SubnetMin', network, subnetLen, network.base + size);
  const subnetMax = readSubnetBound(f, 'SubnetMax', network, subnetLen, lastAddress(network) + 1 - size);
  if (subnetMin > subnetMax) {
    throw new NetConfError(`SubnetMin ${formatIpv4(subnetMin)} is above SubnetMax ${formatIpv4(subnetMax)}: no subnet to allocate`);
  }
  const backend = readBackend(f, notes);
  const config: NetworkConfig = {
    network: formatIpv4Cidr(network),
    subnetLen,
    subnetMin: formatIpv4(subnetMin),
    subnetMax: formatIpv4(subnetMax),
    backend,
  };
  return { config, notes };
}

function checkAddressFamilies(f: FieldReader, notes: string[]): void {
  const v4 = f.get('EnableIPv4');
  if (v4 !== undefined && typeof v4 !== 'boolean') throw new NetConfError(`EnableIPv4 must be true or false, got ${describe(v4)}`);
  if (v4 === false) throw new NetConfError('EnableIPv4 is false: weft implements only the IPv4 overlay');
  const v6 = f.get('EnableIPv6');
  if (v6 !== undefined && typeof v6 !== 'boolean') throw new NetConfError(`EnableIPv6 must be true or false, got ${describe(v6)}`);
  if (v6 === true) throw new NetConfError('EnableIPv6 is true: IPv6 overlays are not supported by weft (IPv4 only)');
  for (const name of ['IPv6Network', 'IPv6SubnetLen', 'IPv6SubnetMin', 'IPv6SubnetMax', 'EnableNFTables']) {
    if (f.get(name) !== undefined) notes.push(`${name} is ignored (weft: IPv4 only, iptables for ip-masq)`);
  }
}

function readNetwork(f: FieldReader, notes: string[]): Ipv4Cidr {
  const v = f.get('Network');
  if (v === undefined || v === '') throw new NetConfError('Network is missing: set it to the cluster pod network, e.g. "10.244.0.0/16"');
  if (typeof v !== 'string') throw new NetConfError(`Network must be a string like "10.244.0.0/16", got ${describe(v)}`);
  let net;
  try {
    net = parseIpv4Cidr(v, { allowHostBits: true });
  } catch (e) {
    throw new NetConfError(`Network: ${(e as Error).message}`);
  }
  if (net.hadHostBits) notes.push(`Network ${v} has host bits set; using ${formatIpv4Cidr(net)} (as flannel does)`);
  return { base: net.base, prefixLen: net.prefixLen };
}

function readSubnetLen(f: FieldReader, network: Ipv4Cidr): number {
  const v = f.get('SubnetLen');
  if (v === undefined || v === 0) {
    if (network.prefixLen > 28) {
      throw new NetConfError(`Network ${formatIpv4Cidr(network)} is too small: the smallest useful network is a /28 (four /30 subnets)`);
    }
    return network.prefixLen <= 22 ? 24 : network.prefixLen + 2;
  }
  if (!Number.isInteger(v)) throw new NetConfError(`SubnetLen must be a whole number, got ${describe(v)}`);
  const len = v as number;
  if (len < 0 || len > 30) throw new NetConfError(`SubnetLen ${len} is out of range: at most 30 (a subnet needs a gateway and a host)`);
  if (len < network.prefixLen + 2) {
    throw new NetConfError(
      `SubnetLen ${len} is too short for Network ${formatIpv4Cidr(network)}: the network must hold at least four subnets (SubnetLen >= ` +
        `${network.prefixLen + 2})`,
    );
  }
  return len;
}

function readSubnetBound(f: FieldReader, name: string, network: Ipv4Cidr, subnetLen: number, fallback: number): number {
  const v = f.get(name);
  if (v === undefined || v === '' || v === '0.0.0.0') return fallback;
  if (typeof v !== 'string') throw new NetConfError(`${name} must be an IPv4 address string, got ${describe(v)}`);
  let addr: number;
  try {
    addr = parseIpv4(v);
  } catch (e) {
    throw new NetConfError(`${name}: ${(e as Error).message}`);
  }
  if (!containsAddress(network, addr)) throw new NetConfError(`${name} ${v} is not inside Network ${formatIpv4Cidr(network)}`);
  if (!isAligned(addr, subnetLen)) throw new NetConfError(`${name} ${v} is not on a /${subnetLen} boundary (SubnetLen)`);
  return addr;
}

function readBackend(f: FieldReader, notes: string[]): NetworkConfig['backend'] {
  const raw = f.get('Backend');
  if (raw === undefined || raw === null) {
    notes.push(
      'Backend is missing: using vxlan (flannel\'s code would fall back to its "udp" backend here, flannel#1221; weft has only vxlan)',
    );
    return { type: 'vxlan', vni: DEFAULT_VXLAN_VNI, port: DEFAULT_VXLAN_PORT };
  }
  if (!isObject(raw)) throw new NetConfError(`Backend must be an object like {"Type": "vxlan"}, got ${describe(raw)}`);
  const b = fieldReader(raw, 'Backend.', BACKEND_FIELDS, notes);
  const type = b.get('Type');
  if (type === undefined || type === '') throw new NetConfError('Backend.Type is missing: set it to "vxlan"');
  if (typeof type !== 'string') throw new NetConfError(`Backend.Type must be a string, got ${describe(type)}`);
  if (type !== 'vxlan') throw new NetConfError(`Backend.Type ${JSON.stringify(type)} is not supported: weft implements only "vxlan"`);
  for (const flag of ['GBP', 'DirectRouting']) {
    const v = b.get(flag);
    if (v === true) throw new NetConfError(`Backend.${flag} is not supported by weft's vxlan backend (set it to false or remove it)`);
    if (v !== undefined && v !== false) throw new NetConfError(`Backend.${flag} must be true or false, got ${describe(v)}`);
  }
  for (const name of ['Learning', 'MacPrefix']) if (b.get(name) !== undefined) notes.push(`Backend.${name} is ignored by weft`);
  const vni = readInt(b, 'VNI', 0, 0xffffff) ?? DEFAULT_VXLAN_VNI;
  const port = readInt(b, 'Port', 0, 65535) || DEFAULT_VXLAN_PORT;
  const mtu = readInt(b, 'MTU', 68, 65535);
  return mtu === undefined ? { type: 'vxlan', vni, port } : { type: 'vxlan', vni, port, mtu };
}

function readInt(f: FieldReader, name: string, min: number, max: number): number | undefined {
  const v = f.get(name);
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v)) throw new NetConfError(`${f.path}${name} must be a whole number, got ${describe(v)}`);
  const n = v as number;
  if (n < min || n > max) throw new NetConfError(`${f.path}${name} ${n} is out of range ${min}..${max}`);
  return n;
}

interface FieldReader {
  path: string;
  get(name: string): unknown;
}

/**
 * Field lookup the way Go's encoding/json does it (exact name, else the first case-insensitive
 * match), so configs written for flannel with other spellings keep working. Unknown keys → a note.
 */
function fieldReader(obj: Json, path: string, known: string[], notes: string[]): FieldReader {
  const keys = Object.keys(obj);
  const knownLower = new Set(known.map((k) => k.toLowerCase()));
  for (const k of keys) if (!knownLower.has(k.toLowerCase())) notes.push(`${path}${k} is not a field weft knows; ignored`);
  return {
    path,
    get(name: string): unknown {
      if (Object.hasOwn(obj, name)) return obj[name];
      const k = keys.find((key) => key.toLowerCase() === name.toLowerCase());
      return k === undefined ? undefined : obj[k];
    },
  };
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : `${typeof v} ${JSON.stringify(v)}`;
}
