/**
 * The seam between weftd's subnet managers (etcd or Kubernetes: who owns which pod subnet) and the
 * backend that programs the node (FDB, neighbours, routes). Shaped after flannel's pkg/subnet:
 * the manager emits batches of lease events; backend data travels opaque (`BackendData` JSON) and
 * only the vxlan backend decodes `{VNI, VtepMAC}`.
 *
 * Wire compatibility: `LeaseAttrs` is exactly flannel's lease JSON
 *   {"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}
 * and a lease's key in etcd is `<prefix>/subnets/10.244.3.0-24`.
 */

/** The network config (flannel's net-conf.json), validated and with defaults filled in. */
export interface NetworkConfig {
  network: string; // "10.244.0.0/16"
  subnetLen: number; // 24
  subnetMin: string; // "10.244.1.0"
  subnetMax: string; // "10.244.255.0"
  backend: {
    type: 'vxlan';
    vni: number; // 1
    port: number; // 8472
    mtu?: number; // TAP MTU override; default underlay MTU - 50
  };
}

/** flannel's lease attributes, field names as on the wire. */
export interface LeaseAttrs {
  PublicIP: string;
  PublicIPv6?: string | null;
  BackendType: string;
  BackendData: unknown;
}

/** The vxlan backend's BackendData. */
export interface VxlanBackendData {
  VNI: number;
  VtepMAC: string;
}

export interface Lease {
  /** "10.244.3.0/24" */
  subnet: string;
  attrs: LeaseAttrs;
  /** When the lease runs out (etcd lease TTL); undefined for reservations and Kubernetes nodes. */
  expiration?: Date;
  /**
   * Where the lease stands in lease order, lower first: the key's etcd create revision, or the Node's
   * creation time (ms). The earliest of two overlapping leases wins (lease-admission.ts).
   */
  order?: number;
}

/**
 * What a watch delivers, in batches. `snapshot` carries the complete current set (at start, and after
 * a re-list following compaction or a reconnect): the receiver reconciles against it, removing what
 * is gone. `added` also covers a changed lease (same subnet, new attrs).
 */
export type LeaseEvent =
  | {
      type: 'snapshot';
      leases: Lease[];
      /** Keys whose values cannot be leases (see `unusable` below). */
      unusable?: Array<{ key: string; reason: 'malformed' | 'oversize'; detail: string }>;
      /** Set when this snapshot follows etcd history going backwards (wipe, restore) or compaction. */
      historyReset?: string;
    }
  | { type: 'added'; lease: Lease }
  | { type: 'removed'; lease: Lease }
  /** A key whose value cannot be a lease (too big, not flannel's JSON): nothing is programmed from it. */
  | { type: 'unusable'; key: string; reason: 'malformed' | 'oversize'; detail: string }
  /** The key holds no unusable value any more (deleted, or now a valid lease). */
  | { type: 'usable'; key: string };

export interface SubnetManager {
  /** The network config (from etcd `<prefix>/config`, or a file in Kubernetes mode). */
  getNetworkConfig(): Promise<NetworkConfig>;
  /** Acquires (or re-acquires) this node's lease. */
  acquireLease(attrs: LeaseAttrs, signal?: AbortSignal): Promise<Lease>;
  /** Extends our lease; resolves with the new expiration. */
  renewLease(lease: Lease): Promise<Lease>;
  /**
   * Watches every lease until `signal` aborts; calls `onEvents` with batches, the first being a
   * `snapshot`. Reconnects with backoff by itself; never rejects except on abort.
   */
  watchLeases(onEvents: (events: LeaseEvent[]) => void, signal: AbortSignal): Promise<void>;
  /** Name for logs ("etcd http://10.0.0.1:2379 prefix /coreos.com/network", "kubernetes node n1"). */
  readonly name: string;
  /** URLs the manager talks to (etcd endpoints, the API server): no lease may route them into the overlay. */
  readonly endpoints?: readonly string[];
  close(): Promise<void>;
}
