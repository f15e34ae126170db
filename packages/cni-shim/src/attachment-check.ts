/**
 * CHECK: is the attachment still what ADD made? Expectations come from `prevResult` (as the spec
 * asks); the node's state is read with one `ip -details -json` batch on the node and one in the pod.
 *
 * Checked, each with an error that says what drifted and how: the node still holds the subnet file's
 * lease and the pod's address is inside it; the IPAM reservation of every pod address belongs to this
 * (container, ifname); the bridge exists, is up and has the gateway address; the host veth exists, is
 * up, sits on the bridge (with hairpin when configured) and is the peer of the pod interface; the pod
 * interface exists, is up, has the MAC, MTU and addresses of prevResult; every route of prevResult is
 * there. Routes and addresses added by later plugins are allowed.
 */
import { hostVethName } from './bridge-veth.js';
import { CNI_ERR, CniError } from './cni-spec.js';
import { parseNetConf, type WeftNetConf } from './config.js';
import { ipBatch } from './ip-batch.js';
import { IpamStore } from './ipam-store.js';
import { formatIpv4Prefix, parseIpv4Prefix, prefixContains } from './ipv4.js';
import type { CniInterface, CniResult } from './result.js';
import type { CmdArgs } from './skel.js';
import { readSubnetFile } from './subnet-file.js';

interface IpLink {
  ifindex?: number;
  ifname?: string;
  link_index?: number;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

interface IpRoute {
  dst?: string;
  gateway?: string;
}

export async function attachmentCheck(a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config);
  const prev = conf.prevResult;
  if (!prev) throw new CniError(CNI_ERR.invalidConfig, 'CHECK needs "prevResult" (the result of the ADD) in the network config');
  const hostVeth = hostVethName(a.containerId, a.ifName);
  const podIndex = prev.interfaces.findIndex((i) => i.name === a.ifName && i.sandbox === a.netns);
  if (podIndex < 0) fail(`prevResult has no interface ${a.ifName} with sandbox ${a.netns}`);
  const podIf = prev.interfaces[podIndex];
  const addresses = prev.ips.filter((ip) => ip.interface === podIndex || ip.interface === undefined).map((ip) => ip.address);
  if (addresses.length === 0) fail(`prevResult has no address for ${a.ifName}`);

  checkLease(conf, addresses);
  checkReservations(conf, a, addresses);
  const hostIndex = checkNodeSide(conf, hostVeth, prev);
  checkPodSide(a, podIf, addresses, prev, hostIndex, hostVeth);
}

function checkLease(conf: WeftNetConf, addresses: string[]): void {
  const subnet = readSubnetFile(conf.subnetFile);
  for (const address of addresses) {
    const p = parseIpv4Prefix(address);
    if (!p || !prefixContains(subnet.gateway, p.addr)) {
      fail(
        `pod address ${address} is not in this node's subnet ${formatIpv4Prefix(subnet.gateway)} (${conf.subnetFile}); the node's ` +
          `lease changed, recreate the pod`,
      );
    }
  }
}

function checkReservations(conf: WeftNetConf, a: CmdArgs, addresses: string[]): void {
  const store = new IpamStore(conf.name, conf.dataDir);
  const all = store.reservations();
  for (const address of addresses) {
    const ip = parseIpv4Prefix(address)!.addr;
    const r = all.find((x) => x.ip === ip);
    if (!r) fail(`IPAM store of network "${conf.name}" has no reservation for ${address} (${store.dir})`);
    if (r.corrupt) fail(`IPAM reservation ${r.path} is corrupt: ${r.corrupt}`);
    if (r.containerId !== a.containerId || (r.ifName !== '' && r.ifName !== a.ifName)) {
      fail(`IPAM reservation ${r.path} belongs to container ${r.containerId} interface ${r.ifName}, not ${a.containerId} ${a.ifName}`);
    }
  }
}

/** Bridge and host veth; resolves with the host veth's ifindex. */
function checkNodeSide(conf: WeftNetConf, hostVeth: string, prev: CniResult): number {
  let shown: unknown[];
  try {
    shown = ipBatch([`addr show dev ${conf.bridge}`, `link show dev ${hostVeth}`], { details: true });
  } catch (e) {
    fail(`bridge ${conf.bridge} or host veth ${hostVeth} is missing on the node: ${(e as Error).message}`);
  }
  const [bridge, veth] = shown.map((s) => (s as IpLink[])[0]);
  if (bridge?.linkinfo?.info_kind !== 'bridge')
    fail(`${conf.bridge} on the node is not a bridge (kind ${bridge?.linkinfo?.info_kind ?? 'none'})`);
  if (!bridge.flags?.includes('UP')) fail(`bridge ${conf.bridge} is down`);
  for (const gw of new Set(prev.ips.map((ip) => ip.gateway).filter((g): g is string => !!g))) {
    if (!bridge.addr_info?.some((x) => x.local === gw)) fail(`bridge ${conf.bridge} does not have the gateway address ${gw}`);
  }
  if (veth?.linkinfo?.info_kind !== 'veth') fail(`host interface ${hostVeth} is not a veth (kind ${veth?.linkinfo?.info_kind ?? 'none'})`);
  if (veth.master !== conf.bridge) fail(`host veth ${hostVeth} is not on bridge ${conf.bridge} (master: ${veth.master ?? 'none'})`);
  if (!veth.flags?.includes('UP')) fail(`host veth ${hostVeth} is down`);
  if (conf.hairpinMode && veth.linkinfo.info_slave_data?.hairpin !== true)
    fail(`host veth ${hostVeth} has hairpin mode off, the config asks for it`);
  return veth.ifindex ?? -1;
}

function checkPodSide(a: CmdArgs, podIf: CniInterface, addresses: string[], prev: CniResult, hostIndex: number, hostVeth: string): void {
  const where = `${a.ifName} in ${a.netns}`;
  let shown: unknown[];
  try {
    shown = ipBatch([`addr show dev ${a.ifName}`, 'route show'], { netns: a.netns });
  } catch (e) {
    fail(`pod interface ${where} is missing: ${(e as Error).message}`);
  }
  const link = (shown[0] as IpLink[])[0];
  const routes = shown[1] as IpRoute[];
  if (!link) fail(`pod interface ${where} is missing`);
  if (!link.flags?.includes('UP')) fail(`pod interface ${where} is down`);
  if (link.link_index !== hostIndex) fail(`pod interface ${where} is not the peer of host veth ${hostVeth}`);
  if (podIf.mac && link.address?.toLowerCase() !== podIf.mac.toLowerCase())
    fail(`pod interface ${where} has MAC ${link.address}, prevResult says ${podIf.mac}`);
  if (podIf.mtu && link.mtu !== podIf.mtu) fail(`pod interface ${where} has MTU ${link.mtu}, prevResult says ${podIf.mtu}`);
  const present = (link.addr_info ?? []).map((x) => `${x.local}/${x.prefixlen}`);
  for (const address of addresses) {
    if (!present.includes(address)) fail(`pod interface ${where} does not have address ${address} (has: ${present.join(', ') || 'none'})`);
  }
  for (const r of prev.routes) {
    const dst = r.dst === '0.0.0.0/0' ? 'default' : r.dst.replace(/\/32$/, '');
    const found = routes.some((x) => x.dst === dst && (!r.gw || x.gateway === r.gw));
    if (!found) fail(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing on ${where}`);
  }
}

function fail(msg: string): never {
  throw new CniError(CNI_ERR.internal, `CHECK: ${msg}`);
}
