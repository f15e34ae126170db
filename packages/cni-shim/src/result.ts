/**
 * The CNI ADD result, held internally in its 1.1.0 shape and converted on the way out.
 *
 * - `formatResult(r, version)` renders what a runtime that negotiated `version` expects: 0.3.x/0.4.0
 *   carry `ips[].version`; 1.0.0 drops it; the 1.1.0-only fields (interface `mtu`, `socketPath`,
 *   `pciID`, route `mtu`/`advmss`/`priority`/`table`/`scope`) appear only for 1.1.0. Empty lists are
 *   left out, as the reference implementation does.
 * - `parseResult(raw, where)` reads a `prevResult` of any supported version back into that shape, with
 *   an error naming the field that is wrong (code 6: the runtime handed us something undecodable).
 * - `appendResult` is how an interface plugin handles a `prevResult` on ADD: it adds its interfaces,
 *   IPs and routes after the previous ones, re-indexing its `ips[].interface`.
 */
import { CNI_ERR, CniError, versionAtLeast } from './cni-spec.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

const ROUTE_EXTRAS = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;
const INTERFACE_EXTRAS = ['mtu', 'socketPath', 'pciID'] as const;

/** The result as JSON for a runtime speaking `version` (one of the supported versions). */
export function formatResult(r: CniResult, version: string): Record<string, unknown> {
  const full = versionAtLeast(version, '1.1.0');
  const withIpVersion = !versionAtLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces.length > 0) out.interfaces = r.interfaces.map((i) => (full ? { ...i } : omit(i, INTERFACE_EXTRAS)));
  if (r.ips.length > 0) {
    out.ips = r.ips.map((ip) => (withIpVersion ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip }));
  }
  if (r.routes.length > 0) out.routes = r.routes.map((rt) => (full ? { ...rt } : omit(rt, ROUTE_EXTRAS)));
  out.dns = { ...r.dns };
  return out;
}

function omit<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  const copy = { ...o } as Record<string, unknown>;
  for (const k of keys) delete copy[k];
  return copy as Partial<T>;
}

/** `prev` followed by `own`, with `own`'s interface indexes moved past `prev`'s interfaces. */
export function appendResult(prev: CniResult | undefined, own: CniResult): CniResult {
  if (!prev) return own;
  const offset = prev.interfaces.length;
  return {
    interfaces: [...prev.interfaces, ...own.interfaces],
    ips: [...prev.ips, ...own.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset }))],
    routes: [...prev.routes, ...own.routes],
    dns: { ...own.dns, ...prev.dns },
  };
}

/** Decodes a result of any supported version (e.g. `prevResult`); `where` names it in errors. */
export function parseResult(raw: unknown, where = 'prevResult'): CniResult {
  const obj = record(raw, where);
  return {
    interfaces: list(obj.interfaces, `${where}.interfaces`).map((v, i) => parseInterface(v, `${where}.interfaces[${i}]`)),
    ips: list(obj.ips, `${where}.ips`).map((v, i) => parseIp(v, `${where}.ips[${i}]`)),
    routes: list(obj.routes, `${where}.routes`).map((v, i) => parseRoute(v, `${where}.routes[${i}]`)),
    dns: obj.dns === undefined ? {} : parseDns(obj.dns, `${where}.dns`),
  };
}

function parseInterface(raw: unknown, where: string): CniInterface {
  const o = record(raw, where);
  const out: CniInterface = { name: str(o.name, `${where}.name`) };
  copyOptional(out, o, where, { mac: 'string', mtu: 'number', sandbox: 'string', socketPath: 'string', pciID: 'string' });
  return out;
}

function parseIp(raw: unknown, where: string): CniIpConfig {
  const o = record(raw, where);
  const out: CniIpConfig = { address: str(o.address, `${where}.address`) };
  copyOptional(out, o, where, { gateway: 'string', interface: 'number' });
  return out;
}

function parseRoute(raw: unknown, where: string): CniRoute {
  const o = record(raw, where);
  const out: CniRoute = { dst: str(o.dst, `${where}.dst`) };
  copyOptional(out, o, where, { gw: 'string', mtu: 'number', advmss: 'number', priority: 'number', table: 'number', scope: 'number' });
  return out;
}

function parseDns(raw: unknown, where: string): CniDns {
  const o = record(raw, where);
  const out: CniDns = {};
  if (o.domain !== undefined) out.domain = str(o.domain, `${where}.domain`);
  for (const key of ['nameservers', 'search', 'options'] as const) {
    if (o[key] !== undefined) out[key] = list(o[key], `${where}.${key}`).map((v, i) => str(v, `${where}.${key}[${i}]`));
  }
  return out;
}

function copyOptional(target: object, src: Record<string, unknown>, where: string, types: Record<string, 'string' | 'number'>): void {
  for (const [key, type] of Object.entries(types)) {
    const v = src[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== type) throw decodeError(`${where}.${key} must be a ${type}, got ${JSON.stringify(v)}`);
    (target as Record<string, unknown>)[key] = v;
  }
}

function record(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw decodeError(`${where} must be an object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw decodeError(`${where} must be a list`);
  return v;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw decodeError(`${where} must be a non-empty string`);
  return v;
}

function decodeError(msg: string): CniError {
  return new CniError(CNI_ERR.decodingFailure, `cannot decode ${msg}`);
}
