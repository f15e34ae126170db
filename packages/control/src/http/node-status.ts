/**
 * One snapshot of what weftd knows about its node: the shape of `/v1/status` (weftctl reads it) and
 * the source of every `/metrics` family (weftd-metrics.ts). Built on request; nothing is kept twice.
 */
import type { CounterSnapshot } from '@weft/datapath';
import type { VxlanPeer } from '../backend/vxlan-peer.js';
import type { LeaseStatus, VxlanNetworkStats } from '../backend/vxlan-network.js';

export interface NodeStatus {
  version: string;
  startedAt: string;
  subnetManager: string;
  network?: string;
  lease?: { subnet: string; publicIp: string; expiration?: string };
  vtep?: { name: string; mac: string; mtu: number; vni: number; port: number; up: boolean; /** "tso,gso,gro" or "off" */ offload?: string };
  subnetFile: { path: string; written: boolean };
  ipMasq: boolean;
  peers: VxlanPeer[];
  /** Every lease seen with this node's verdict (accepted, own, rejected with the reason). */
  leases?: LeaseStatus[];
  counters?: CounterSnapshot;
  programming?: VxlanNetworkStats;
  iptablesRepairs: number;
  leaseEvents: number;
}

export interface Readiness {
  ready: boolean;
  /** podsOnOurSubnet: false while pods still hold addresses of a subnet this node had before. */
  checks: { leaseHeld: boolean; deviceUp: boolean; subnetFileWritten: boolean; podsOnOurSubnet?: boolean };
  /** Why a check fails, when there is more to say ("2 pods still on 10.244.5.0/24 (now 10.244.9.0/24)"). */
  detail?: string;
}

/** What the HTTP server asks the daemon for. */
export interface StatusSource {
  status(): Promise<NodeStatus>;
  readiness(): Promise<Readiness>;
  fdb(): Promise<Array<{ mac: string; remote: string; kind: string }>>;
}
