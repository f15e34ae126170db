/**
 * A pod's link to the node: a veth pair, the host end on the node bridge (cni0), the pod end in the
 * pod's namespace with its address and route. Two `ip -batch` runs make it: one on the node, one in
 * the pod (through nsenter).
 *
 * - The host end's name is derived from (container id, ifname): `wv` + 12 hex digits. DEL and GC find
 *   it without any saved state, even when the pod namespace is already gone.
 * - The veth is born with its peer already in the pod namespace under CNI_IFNAME (`peer ... netns`),
 *   so an existing interface of that name fails the creation itself and nothing is left behind. The
 *   namespace travels as an open descriptor (/proc/self/fd/3), never as text in a batch line.
 * - MACs are derived from addresses (0a:58 + the IPv4 address, as OVN-Kubernetes does): the bridge's
 *   from the gateway, the pod's from its own address. A bridge MAC that never changes as ports come
 *   and go, and a reused pod address that comes back with the same MAC, keep every ARP cache right.
 * - The bridge is created on the first ADD when missing (its address is the gateway; `addr replace`
 *   on every ADD repairs a bridge that lost it). Batches are ordered so that the first line fails
 *   when the bridge is missing, before anything changed.
 * - The two sides are separate steps so ADD can run the node side while it waits for the IPAM lock.
 *   Rollback: the node side deletes the host end itself when it fails after the veth line; when the
 *   pod side fails the caller deletes it (which removes the pair). The bridge is shared and stays,
 *   as with the bridge plugin.
 */
import { CNI_ERR, CniError } from './cni-spec.js';
import { formatIpv4, formatIpv4Prefix, type Ipv4Prefix } from './ipv4.js';
import { IpBatchError, ipBatch, isExists, isNoSuchDevice } from './ip-batch.js';

export interface VethPlan {
  bridge: string;
  /** The gateway address with the node subnet's length: cni0's address. */
  gateway: Ipv4Prefix;
  mtu: number;
  hairpin: boolean;
  hostVeth: string;
  podIf: string;
  /** CNI_NETNS, and an open descriptor of it for the host batch. */
  netns: string;
  netnsFd: number;
}

export interface PodAddressing {
  address: Ipv4Prefix;
  /** The pod's route: "0.0.0.0/0" or the cluster network, via the gateway. */
  routeDst: string;
}

/** The host end's name for an attachment: `wv` + 48 bits of two FNV-1a hashes of "id/ifname". */
export function hostVethName(containerId: string, ifName: string): string {
  const key = `${containerId}/${ifName}`;
  const hex6 = (seed: number): string => fnv1a(key, seed).toString(16).padStart(8, '0').slice(0, 6);
  return `wv${hex6(0x811c9dc5)}${hex6(0x01000193)}`;
}

function fnv1a(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** 0a:58:a:b:c:d for address a.b.c.d: locally administered, unicast. */
export function macForAddress(addr: number): string {
  const octets = [10, 88, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

/**
 * Node side: the bridge (created when missing), the veth pair with its pod end already in the pod
 * namespace, the host end on the bridge and up. Undoes its own partial work when a later line fails.
 * Resolves with the bridge's and the host end's MACs.
 */
export function plugHostSide(p: VethPlan): { bridgeMac: string; hostMac: string } {
  const lines = hostLines(p);
  const vethLine = lines.findIndex((l) => l.startsWith('link add')) + 1;
  for (let attempt = 0; ; attempt++) {
    try {
      const shown = ipBatch(lines, { fds: [p.netnsFd] });
      return { bridgeMac: macOf(shown[0]), hostMac: macOf(shown[1]) };
    } catch (e) {
      if (e instanceof IpBatchError && e.failedLine === 1 && isNoSuchDevice(e) && attempt === 0) {
        createBridge(p);
        continue;
      }
      if (e instanceof IpBatchError && e.failedLine !== undefined && e.failedLine > vethLine) {
        quietly(() => unplugVeth(p.hostVeth));
      }
      if (e instanceof IpBatchError && e.failedLine === vethLine && isExists(e)) throw whichExists(p);
      throw plugError(e, p);
    }
  }
}

/** Pod side: MAC, up, address, route. The caller unplugs the veth when this fails. Returns the pod MAC. */
export function configurePodSide(p: VethPlan, a: PodAddressing): string {
  const mac = macForAddress(a.address.addr);
  try {
    ipBatch(
      [
        `link set dev ${p.podIf} address ${mac}`,
        `link set dev ${p.podIf} up`,
        `addr add ${formatIpv4Prefix(a.address)} dev ${p.podIf}`,
        `route add ${a.routeDst} via ${formatIpv4(p.gateway.addr)} dev ${p.podIf}`,
      ],
      { netns: p.netns },
    );
  } catch (e) {
    throw plugError(e, p);
  }
  return mac;
}

function hostLines(p: VethPlan): string[] {
  return [
    `link set dev ${p.bridge} up`,
    `addr replace ${formatIpv4Prefix(p.gateway)} dev ${p.bridge}`,
    `link add name ${p.hostVeth} mtu ${p.mtu} type veth peer name ${p.podIf} mtu ${p.mtu} netns /proc/self/fd/3`,
    `link set dev ${p.hostVeth} master ${p.bridge}`,
    ...(p.hairpin ? [`link set dev ${p.hostVeth} type bridge_slave hairpin on`] : []),
    `link set dev ${p.hostVeth} up`,
    `link show dev ${p.bridge}`,
    `link show dev ${p.hostVeth}`,
  ];
}

/** The bridge with its pinned MAC, MTU and gateway address. Losing a creation race to a parallel ADD is fine. */
function createBridge(p: VethPlan): void {
  try {
    ipBatch([
      `link add name ${p.bridge} address ${macForAddress(p.gateway.addr)} mtu ${p.mtu} type bridge`,
      `addr replace ${formatIpv4Prefix(p.gateway)} dev ${p.bridge}`,
      `link set dev ${p.bridge} up`,
    ]);
  } catch (e) {
    if (!(e instanceof IpBatchError && e.failedLine === 1 && isExists(e))) {
      throw new CniError(CNI_ERR.internal, `cannot create bridge ${p.bridge}: ${(e as Error).message}`);
    }
  }
}

/** The veth line said "File exists": name the interface that is in the way. */
function whichExists(p: VethPlan): CniError {
  let inPod = true;
  try {
    ipBatch([`link show dev ${p.podIf}`], { netns: p.netns });
  } catch {
    inPod = false;
  }
  return inPod
    ? new CniError(
        CNI_ERR.internal,
        `interface ${p.podIf} already exists in netns ${p.netns}`,
        'CNI ADD creates CNI_IFNAME; it must not exist yet',
      )
    : new CniError(
        CNI_ERR.internal,
        `host interface ${p.hostVeth} already exists on the node`,
        'an earlier ADD of this container and ifname was not deleted; DEL it first',
      );
}

function plugError(e: unknown, p: VethPlan): CniError {
  if (e instanceof CniError) return e;
  return new CniError(CNI_ERR.internal, `cannot attach ${p.podIf} in ${p.netns} to bridge ${p.bridge}: ${(e as Error).message}`);
}

/** Deletes the host end (and with it the pod end). Returns false when it was already gone. */
export function unplugVeth(hostVeth: string): boolean {
  try {
    ipBatch([`link del dev ${hostVeth}`]);
    return true;
  } catch (e) {
    if (isNoSuchDevice(e)) return false;
    throw e;
  }
}

function quietly(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // best effort: the error being reported is the one that made us undo
  }
}

function macOf(shown: unknown): string {
  const link = (shown as Array<{ address?: unknown }> | undefined)?.[0];
  return typeof link?.address === 'string' ? link.address : '';
}
