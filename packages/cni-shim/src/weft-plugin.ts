/**
 * The weft plugin's verbs: what ADD, DEL, GC and STATUS do (CHECK lives in attachment-check.ts).
 *
 * ADD: read the node's lease from the subnet file (no lease: code 11), open the pod namespace, reserve
 * an address (under the store's flock; exactly the one the runtime requested, if it did: see
 * requested-address.ts), make the node side (bridge, veth pair) and the pod side
 * (address, route). A failure rolls back what the earlier steps made: the veth pair and the
 * reservation. Nothing is left half-created. Three child processes in all (flock, ip on the node,
 * ip in the pod), spawned synchronously (see ip-batch.ts for why).
 *
 * DEL never reads the subnet file and never talks to weftd: it deletes the host end of the veth by
 * its derived name, then releases the reservations of (container, ifname). Missing pieces are
 * success.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readlinkSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { configurePodSide, hostVethName, plugHostSide, unplugVeth, type VethPlan } from './bridge-veth.js';
import { CNI_ERR, CniError } from './cni-spec.js';
import { parseNetConf, type WeftNetConf } from './config.js';
import { IpamStore, type AddressPool, type Owner } from './ipam-store.js';
import { broadcastAddress, formatIpv4, formatIpv4Prefix, networkAddress } from './ipv4.js';
import { log } from './log.js';
import { checkRequestInSubnet, requestedAddress, type AddressRequest } from './requested-address.js';
import { appendResult, type CniResult } from './result.js';
import type { CmdArgs, PluginFuncs } from './skel.js';
import { readSubnetFile, type NodeSubnet } from './subnet-file.js';

export const weftPlugin: PluginFuncs = {
  add,
  del,
  // Loaded only for CHECK: every module on ADD's path costs start-up time.
  check: (a) => (require('./attachment-check.js') as typeof import('./attachment-check.js')).attachmentCheck(a),
  gc,
  status,
};

/** The node subnet's usable addresses: network+1 .. broadcast-1 (the gateway, network+1, is skipped). */
export function addressPool(subnet: NodeSubnet): AddressPool {
  return {
    first: networkAddress(subnet.gateway) + 1,
    last: broadcastAddress(subnet.gateway) - 1,
    gateway: subnet.gateway.addr,
    label: `${formatIpv4(networkAddress(subnet.gateway))}/${subnet.gateway.len}`,
  };
}

async function add(a: CmdArgs): Promise<CniResult> {
  const conf = parseNetConf(a.config);
  const subnet = readSubnetFile(conf.subnetFile);
  const request = requestedAddress(a.args, a.config);
  if (request) checkRequestInSubnet(request, subnet.gateway);
  const netnsFd = openPodNetns(a.netns);
  try {
    return await attach(a, conf, subnet, netnsFd, request);
  } finally {
    closeSync(netnsFd);
  }
}

async function attach(
  a: CmdArgs,
  conf: WeftNetConf,
  subnet: NodeSubnet,
  netnsFd: number,
  request: AddressRequest | undefined,
): Promise<CniResult> {
  const owner: Owner = { containerId: a.containerId, ifName: a.ifName };
  const store = new IpamStore(conf.name, conf.dataDir);
  const plan: VethPlan = {
    bridge: conf.bridge,
    gateway: subnet.gateway,
    mtu: conf.mtu ?? subnet.mtu,
    hairpin: conf.hairpinMode,
    hostVeth: hostVethName(a.containerId, a.ifName),
    podIf: a.ifName,
    netns: a.netns,
    netnsFd,
  };
  const ip = store.locked(() => reservePodAddress(store, owner, addressPool(subnet), request));
  const address = { addr: ip, len: subnet.gateway.len };
  const routeDst = conf.isDefaultGateway ? '0.0.0.0/0' : formatIpv4Prefix(subnet.network);
  let plugged: { bridgeMac: string; hostMac: string } | undefined;
  let podMac: string;
  try {
    plugged = plugHostSide(plan);
    podMac = configurePodSide(plan, { address, routeDst });
  } catch (e) {
    rollback(plan, plugged !== undefined, () => store.locked(() => store.releaseAddress(ip, owner)));
    throw e;
  }
  enableForwarding();
  log.info('pod attached', {
    container: a.containerId,
    ifname: a.ifName,
    address: formatIpv4Prefix(address),
    veth: plan.hostVeth,
    bridge: plan.bridge,
  });
  return appendResult(conf.prevResult, {
    interfaces: [
      { name: plan.bridge, mac: plugged.bridgeMac, mtu: plan.mtu },
      { name: plan.hostVeth, mac: plugged.hostMac, mtu: plan.mtu },
      { name: a.ifName, mac: podMac, mtu: plan.mtu, sandbox: a.netns },
    ],
    ips: [{ address: formatIpv4Prefix(address), gateway: formatIpv4(subnet.gateway.addr), interface: 2 }],
    routes: [{ dst: routeDst, gw: formatIpv4(subnet.gateway.addr) }],
    dns: {},
  });
}

/** The requested address, exactly, or the next free one. */
function reservePodAddress(store: IpamStore, owner: Owner, pool: AddressPool, request: AddressRequest | undefined): number {
  if (!request) return store.reserve(owner, pool);
  store.reserveAddress(owner, request.addr, pool);
  return request.addr;
}

/** Undoes a failed ADD: the veth pair (when the node side got that far) and the reservation. */
function rollback(plan: VethPlan, vethMade: boolean, release: () => void): void {
  try {
    if (vethMade) unplugVeth(plan.hostVeth);
  } catch (e) {
    log.warn('rollback: cannot delete veth', { veth: plan.hostVeth, err: (e as Error).message });
  }
  try {
    release();
  } catch (e) {
    log.warn('rollback: cannot release address', { err: (e as Error).message });
  }
}

/**
 * Opens CNI_NETNS (code 3 when it does not exist: the container is gone); refuses with code 4 what
 * is not a network namespace (a regular file, a directory, another namespace type) and the plugin's
 * own namespace.
 */
function openPodNetns(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? CNI_ERR.unknownContainer : CNI_ERR.invalidEnvironment;
    throw new CniError(code, `cannot open CNI_NETNS ${path}: ${(e as Error).message}`);
  }
  const notNetns = notANetworkNamespace(fd);
  if (notNetns) {
    closeSync(fd);
    throw new CniError(CNI_ERR.invalidEnvironment, `invalid netns: CNI_NETNS ${path} is not a network namespace: ${notNetns}`);
  }
  const pod = fstatSync(fd);
  const own = statSync('/proc/self/ns/net');
  if (pod.dev === own.dev && pod.ino === own.ino) {
    closeSync(fd);
    throw new CniError(CNI_ERR.invalidEnvironment, `CNI_NETNS ${path} is the plugin's own network namespace, not a pod's`);
  }
  return fd;
}

/** NSFS_MAGIC from linux/magic.h: the file system of /proc/PID/ns/* and their bind mounts (/run/netns/*). */
const NSFS_MAGIC = 0x6e736673;

/** Why the open file `fd` is not a network namespace, or '' when it is one. */
function notANetworkNamespace(fd: number): string {
  const type = statfsSync(`/proc/self/fd/${fd}`).type;
  if (type !== NSFS_MAGIC) return `it is on a file system of type 0x${type.toString(16)}, not nsfs`;
  // An fd opened through /proc/PID/ns/* reads back as "<type>:[inode]"; bind mounts read back as their path.
  const kind = /^(\w+):\[\d+\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  return kind !== undefined && kind !== 'net' ? `it is a ${kind} namespace` : '';
}

/** The node routes pod traffic (as the bridge plugin does for isGateway). /proc/sys/net is per namespace. */
function enableForwarding(): void {
  const path = '/proc/sys/net/ipv4/ip_forward';
  try {
    if (readFileSync(path, 'utf8').trim() !== '1') writeFileSync(path, '1');
  } catch (e) {
    log.warn('cannot enable IPv4 forwarding', { path, err: (e as Error).message });
  }
}

async function del(a: CmdArgs): Promise<void> {
  // A pod must always be deletable: a prevResult that does not decode is no reason to keep it.
  const conf = parseNetConf({ ...a.config, prevResult: undefined });
  const owner: Owner = { containerId: a.containerId, ifName: a.ifName };
  const veth = hostVethName(a.containerId, a.ifName);
  const store = new IpamStore(conf.name, conf.dataDir);
  const removed = unplugVeth(veth);
  const released = existsSync(store.dir) ? store.locked(() => store.release(owner)) : [];
  log.info('pod detached', {
    container: a.containerId,
    ifname: a.ifName,
    veth: removed ? veth : null,
    released: released.map((r) => formatIpv4(r.ip)),
  });
}

async function gc(a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config);
  if (!conf.validAttachments) {
    throw new CniError(
      CNI_ERR.invalidConfig,
      'GC needs "cni.dev/valid-attachments" in the network config',
      'without the list every reservation would look stale; weft releases nothing',
    );
  }
  const store = new IpamStore(conf.name, conf.dataDir);
  if (!existsSync(store.dir)) return;
  const stale = store.locked(() => store.collect(conf.validAttachments ?? []));
  const failures: string[] = [];
  for (const r of stale) {
    if (r.corrupt) {
      log.warn('GC released a corrupt reservation', { file: r.path, cause: r.corrupt });
      continue;
    }
    try {
      unplugVeth(hostVethName(r.containerId, r.ifName));
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  log.info('GC', { network: conf.name, released: stale.map((r) => formatIpv4(r.ip)) });
  if (failures.length > 0)
    throw new CniError(
      CNI_ERR.internal,
      `GC released ${stale.length} reservations but could not delete ${failures.length} veths`,
      failures.join('; '),
    );
}

async function status(a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config);
  let subnet: NodeSubnet;
  try {
    subnet = readSubnetFile(conf.subnetFile);
  } catch (e) {
    throw new CniError(CNI_ERR.notAvailable, `weft cannot add pods: ${(e as Error).message}`, e instanceof CniError ? e.details : '');
  }
  const pool = addressPool(subnet);
  if (new IpamStore(conf.name, conf.dataDir).freeCount(pool) <= 0) {
    throw new CniError(CNI_ERR.notAvailable, `weft cannot add pods: every address of ${pool.label} is reserved in network "${conf.name}"`);
  }
}
