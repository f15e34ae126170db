/**
 * One snapshot of what weftd knows about its node: the shape of `/v1/status` (weftctl reads it) and
 * the source of every `/metrics` family (weftd-metrics.ts). Built on request; nothing is kept twice.
 */
import type { CounterSnapshot } from '@weft/datapath';
import type { PolicyTableStats } from '@weft/policy';
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
  /** The datapath watchdog: healthy, or the cause of the current failure; worker restarts so far. */
  datapath?: { healthy: boolean; cause?: string; workerRestarts: number };
  /** With --network-policy: the controller's counters, table size and drops by pod and direction. */
  policy?: PolicyStatus;
}

export interface PolicyStatus {
  applies: number;
  applyFailures: number;
  lastApplyMs: number;
  lastCompileMs: number;
  resourceVersion: number;
  table?: PolicyTableStats;
  warnings: string[];
  drops: Array<{ pod: string; direction: 'ingress' | 'egress'; packets: number }>;
}

export interface Readiness {
  ready: boolean;
  checks: { leaseHeld: boolean; deviceUp: boolean; subnetFileWritten: boolean; datapathHealthy?: boolean; podsOnOurSubnet?: boolean };
  /** Why a check fails, when there is more to say ("2 pods still on 10.244.5.0/24 (now 10.244.9.0/24)"). */
  detail?: string;
}

/** Liveness (/healthz): false when the datapath is failed (a dead or wedged worker), with the cause. */
export interface Liveness {
  ok: boolean;
  cause?: string;
}

/** What the HTTP server asks the daemon for. */
export interface StatusSource {
  status(): Promise<NodeStatus>;
  readiness(): Promise<Readiness>;
  fdb(): Promise<Array<{ mac: string; remote: string; kind: string }>>;
  /** With --network-policy: what selects a pod and what it allows (undefined: no such pod). */
  policy?(pod: string): Promise<unknown>;
  liveness?(): Liveness;
}
