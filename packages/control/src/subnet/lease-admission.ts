/**
 * Which leases this node programs: a pure function from (every lease seen, the node's context) to one
 * verdict per lease. Everything in etcd or on Node objects is written by others, so nothing reaches a
 * kernel table or the FDB unless it passes here.
 *
 * Rules, checked per lease in this order (the first failing one is the reason):
 *   malformed / invalid-vtep-mac   not a vxlan lease of our VNI, or VtepMAC not a unicast MAC
 *   outside-network                the subnet is not inside Network (128.0.0.0/1, the underlay's /24 ...)
 *   overlaps-own-subnet            it overlaps the node's own subnet (and is not the node's own lease)
 *   covers-node-address            its route would cover an address the node needs: its own addresses and
 *                                  their networks, its default gateway, etcd endpoints, the API server
 *   own-public-ip                  it carries this node's PublicIP (a stale or forged lease of this node)
 *   public-ip-in-network           its PublicIP lies inside Network (VXLAN would be sent into the overlay)
 *   own-vtep-mac                   it carries this node's VTEP MAC
 *   route-conflict                 a route weft does not own already exists for that exact prefix
 * then, over the survivors in lease order (etcd create revision, Kubernetes creation timestamp; the
 * earliest wins, the subnet text breaks ties):
 *   overlaps-earlier-lease         it overlaps a lease accepted before it
 *   duplicate-vtep-mac             its VtepMAC is already used by a lease accepted before it
 * Being a function of the whole set, re-running it after any change answers "who is next" at once:
 * when an accepted lease goes away, the lease it shadowed is accepted in the same round.
 */
import {
  formatIpv4,
  parseIpv4,
  cidrsOverlap,
  containsAddress,
  containsCidr,
  formatIpv4Cidr,
  parseIpv4Cidr,
  type Ipv4Cidr,
} from '@weft/netbase';
import type { Lease } from './types.js';
import { decodeVxlanPeer, type VxlanPeer } from '../backend/vxlan-peer.js';

export const REJECT_REASONS = [
  'malformed',
  'oversize',
  'invalid-vtep-mac',
  'outside-network',
  'overlaps-own-subnet',
  'covers-node-address',
  'own-public-ip',
  'public-ip-in-network',
  'own-vtep-mac',
  'route-conflict',
  'overlaps-earlier-lease',
  'duplicate-vtep-mac',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** What the node knows about itself when it judges a lease. */
export interface AdmissionContext {
  network: Ipv4Cidr;
  /** Undefined until the node holds a lease. */
  ownSubnet: Ipv4Cidr | undefined;
  publicIp: string;
  vtepMac: string;
  vni: number;
  /** Addresses and networks the node itself needs (named for the log: "eth0 192.168.60.0/24"). */
  protectedNets: ReadonlyArray<{ cidr: Ipv4Cidr; what: string }>;
  /** Prefixes ("10.244.5.0/24") that hold a route weft does not own. */
  foreignRoutes: ReadonlySet<string>;
}

/** A lease and where it stands in lease order (lower wins). */
export interface OrderedLease {
  lease: Lease;
  order: number;
}

export type LeaseVerdict =
  | { subnet: string; lease: Lease; status: 'accepted'; peer: VxlanPeer }
  | { subnet: string; lease: Lease; status: 'own' }
  | { subnet: string; lease: Lease; status: 'rejected'; reason: RejectReason; detail: string };

type Check = { ok: true; peer: VxlanPeer } | { ok: false; reason: RejectReason; detail: string };

export function admitLeases(leases: readonly OrderedLease[], ctx: AdmissionContext): LeaseVerdict[] {
  const sorted = [...leases].sort((a, b) => a.order - b.order || compareText(a.lease.subnet, b.lease.subnet));
  const verdicts: LeaseVerdict[] = [];
  const accepted: VxlanPeer[] = [];
  const acceptedCidrs: Ipv4Cidr[] = [];
  for (const { lease } of sorted) {
    if (isOwnLease(lease, ctx)) {
      verdicts.push({ subnet: lease.subnet, lease, status: 'own' });
      continue;
    }
    const c = checkAlone(lease, ctx);
    if (!c.ok) {
      verdicts.push({ subnet: lease.subnet, lease, status: 'rejected', reason: c.reason, detail: c.detail });
      continue;
    }
    const cidr = parseIpv4Cidr(c.peer.subnet);
    const i = acceptedCidrs.findIndex((a) => cidrsOverlap(a, cidr));
    const j = accepted.findIndex((p) => p.vtepMac === c.peer.vtepMac);
    if (i >= 0) {
      verdicts.push({
        subnet: lease.subnet,
        lease,
        status: 'rejected',
        reason: 'overlaps-earlier-lease',
        detail: `overlaps ${accepted[i].subnet} (${accepted[i].publicIp}), which came first`,
      });
    } else if (j >= 0) {
      verdicts.push({
        subnet: lease.subnet,
        lease,
        status: 'rejected',
        reason: 'duplicate-vtep-mac',
        detail: `VtepMAC ${c.peer.vtepMac} is already used by ${accepted[j].subnet} (${accepted[j].publicIp})`,
      });
    } else {
      accepted.push(c.peer);
      acceptedCidrs.push(cidr);
      verdicts.push({ subnet: lease.subnet, lease, status: 'accepted', peer: c.peer });
    }
  }
  return verdicts;
}

/** The node's own lease: its subnet and its PublicIP. */
function isOwnLease(lease: Lease, ctx: AdmissionContext): boolean {
  return ctx.ownSubnet !== undefined && lease.subnet === formatIpv4Cidr(ctx.ownSubnet) && lease.attrs.PublicIP === ctx.publicIp;
}

function checkAlone(lease: Lease, ctx: AdmissionContext): Check {
  const d = decodeVxlanPeer(lease, ctx.vni);
  if (!d.ok) return { ok: false, reason: d.badMac ? 'invalid-vtep-mac' : 'malformed', detail: d.reason };
  const p = d.peer;
  const cidr = parseIpv4Cidr(p.subnet);
  const net = formatIpv4Cidr(ctx.network);
  if (!containsCidr(ctx.network, cidr)) return reject('outside-network', `${p.subnet} is not inside the network ${net}`);
  if (ctx.ownSubnet && cidrsOverlap(ctx.ownSubnet, cidr))
    return reject('overlaps-own-subnet', `${p.subnet} overlaps this node's subnet ${formatIpv4Cidr(ctx.ownSubnet)}`);
  const hit = ctx.protectedNets.find((n) => cidrsOverlap(n.cidr, cidr));
  if (hit) return reject('covers-node-address', `a route to ${p.subnet} would cover ${hit.what}`);
  if (p.publicIp === ctx.publicIp) return reject('own-public-ip', `it carries this node's PublicIP ${p.publicIp}`);
  if (containsAddress(ctx.network, parseIpv4(p.publicIp)))
    return reject('public-ip-in-network', `PublicIP ${p.publicIp} lies inside the network ${net}`);
  if (p.vtepMac === ctx.vtepMac.toLowerCase()) return reject('own-vtep-mac', `it carries this node's VTEP MAC ${p.vtepMac}`);
  if (ctx.foreignRoutes.has(p.subnet)) return reject('route-conflict', `a route to ${p.subnet} that weft did not create exists`);
  return { ok: true, peer: p };
}

function reject(reason: RejectReason, detail: string): Check {
  return { ok: false, reason, detail };
}

/** A host route (/32) or network to protect, from text; undefined when it is not IPv4 (a hostname). */
export function protectedAddress(text: string, what: string): { cidr: Ipv4Cidr; what: string } | undefined {
  try {
    const cidr = text.includes('/') ? parseIpv4Cidr(text, { allowHostBits: true }) : { base: parseIpv4(text), prefixLen: 32 };
    return {
      cidr: { base: cidr.base, prefixLen: cidr.prefixLen },
      what: `${what} ${text.includes('/') ? formatIpv4Cidr(cidr) : formatIpv4(cidr.base)}`,
    };
  } catch {
    return undefined;
  }
}

/** The hosts of the URLs the node talks to (etcd, API server) as /32s; hostnames cannot be checked. */
export function protectedEndpoints(urls: readonly string[]): Array<{ cidr: Ipv4Cidr; what: string }> {
  const out: Array<{ cidr: Ipv4Cidr; what: string }> = [];
  for (const u of urls) {
    let host: string;
    try {
      host = new URL(u).hostname;
    } catch {
      continue;
    }
    const p = protectedAddress(host, `endpoint ${u}`);
    if (p) out.push(p);
  }
  return out;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
