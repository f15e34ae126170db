/**
 * A pod address the runtime asks for, in the three ways host-local accepts one:
 *
 *   CNI_ARGS        IP=10.244.1.7 or IP=10.244.1.7/24     (podman run --ip, `ctr run --cni` with CNI_ARGS)
 *   runtimeConfig   {"ips": ["10.244.1.7/24"]}            (the `ips` capability, declared in the conflist)
 *   args            {"cni": {"ips": ["10.244.1.7"]}}      (the conventions document's args.cni.ips)
 *
 * Whatever the runtime asks for, the pod gets exactly that address or ADD fails with an error that
 * says why (as host-local does): an address outside the node's subnet, the gateway, the network or
 * broadcast address, or a prefix length other than the subnet's is code 7; a malformed IP= in
 * CNI_ARGS is code 4 (it is an environment variable). weft gives a pod one IPv4 address, so two
 * different requests, or an IPv6 one, are refused too rather than half-honoured. Unknown CNI_ARGS
 * keys (K8S_POD_NAME, IgnoreUnknown...) are ignored: runtimes add their own.
 */
import { CNI_ERR, CniError } from './cni-spec.js';
import { broadcastAddress, formatIpv4, formatIpv4Prefix, networkAddress, parseIpv4, prefixContains, type Ipv4Prefix } from './ipv4.js';

export interface AddressRequest {
  readonly addr: number;
  /** The prefix length as written, when it was. */
  readonly len: number | undefined;
  /** Where it came from, for messages: "CNI_ARGS IP", "runtimeConfig.ips", "args.cni.ips". */
  readonly source: string;
}

/** The address the runtime asks for, or undefined when it asks for none. */
export function requestedAddress(cniArgs: string, config: Record<string, unknown>): AddressRequest | undefined {
  const all = [...fromCniArgs(cniArgs), ...fromList(runtimeIps(config), 'runtimeConfig.ips'), ...fromList(argsIps(config), 'args.cni.ips')];
  if (all.length === 0) return undefined;
  const first = all[0];
  const other = all.find((r) => r.addr !== first.addr);
  if (other) {
    throw new CniError(
      CNI_ERR.invalidConfig,
      `two different pod addresses requested: ${formatIpv4(first.addr)} (${first.source}) and ${formatIpv4(other.addr)} (${other.source})`,
      'weft gives a pod one IPv4 address',
    );
  }
  return first;
}

/** Throws code 7 unless `req` is a usable pod address of the node subnet whose gateway is `gateway`. */
export function checkRequestInSubnet(req: AddressRequest, gateway: Ipv4Prefix): void {
  const subnet = formatIpv4Prefix({ addr: networkAddress(gateway), len: gateway.len });
  const what = `requested address ${formatIpv4(req.addr)} (${req.source})`;
  let cause = '';
  if (!prefixContains(gateway, req.addr)) cause = `is outside this node's subnet ${subnet}`;
  else if (req.len !== undefined && req.len !== gateway.len)
    cause = `has prefix length /${req.len}, the node's subnet ${subnet} has /${gateway.len}`;
  else if (req.addr === gateway.addr) cause = `is the gateway of ${subnet}`;
  else if (req.addr === networkAddress(gateway) || req.addr === broadcastAddress(gateway))
    cause = `is the network or broadcast address of ${subnet}`;
  if (cause)
    throw new CniError(CNI_ERR.invalidConfig, `${what} ${cause}`, 'a pod gets the address it asks for or none (as with host-local)');
}

function fromCniArgs(cniArgs: string): AddressRequest[] {
  const out: AddressRequest[] = [];
  for (const pair of cniArgs.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== 'IP') continue;
    const value = pair.slice(eq + 1).trim();
    // host-local reads one address here; a comma-separated list is accepted as long as it is one address.
    for (const text of value.split(',')) {
      const req = parseAddress(text.trim(), 'CNI_ARGS IP');
      if (!req)
        throw new CniError(
          CNI_ERR.invalidEnvironment,
          `CNI_ARGS IP=${JSON.stringify(value)} is not an IPv4 address (a.b.c.d or a.b.c.d/len)`,
          ipv6Hint(text),
        );
      out.push(req);
    }
  }
  return out;
}

function fromList(list: unknown, source: string): AddressRequest[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list))
    throw new CniError(CNI_ERR.invalidConfig, `network config "${source}" must be a list of addresses, got ${JSON.stringify(list)}`);
  return list.map((item: unknown, i) => {
    const req = typeof item === 'string' ? parseAddress(item.trim(), source) : undefined;
    if (!req) {
      throw new CniError(
        CNI_ERR.invalidConfig,
        `network config "${source}[${i}]" must be an IPv4 address (a.b.c.d or a.b.c.d/len), got ${JSON.stringify(item)}`,
        ipv6Hint(item),
      );
    }
    return req;
  });
}

function runtimeIps(config: Record<string, unknown>): unknown {
  const rc = config.runtimeConfig;
  return rc !== null && typeof rc === 'object' ? (rc as { ips?: unknown }).ips : undefined;
}

function argsIps(config: Record<string, unknown>): unknown {
  const args = config.args;
  if (args === null || typeof args !== 'object') return undefined;
  const cni = (args as { cni?: unknown }).cni;
  return cni !== null && typeof cni === 'object' ? (cni as { ips?: unknown }).ips : undefined;
}

function parseAddress(text: string, source: string): AddressRequest | undefined {
  const slash = text.indexOf('/');
  const addr = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (addr === undefined) return undefined;
  if (slash < 0) return { addr, len: undefined, source };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(lenText) || Number(lenText) > 32) return undefined;
  return { addr, len: Number(lenText), source };
}

function ipv6Hint(value: unknown): string {
  return typeof value === 'string' && value.includes(':') ? 'weft pods are IPv4 only' : '';
}
