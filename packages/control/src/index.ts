/** @weft/control: weftd — subnet managers (etcd, Kubernetes), node programming, HTTP. */
// --- subnet management (etcd / Kubernetes managers, lease keeper, net-conf) ---
export type { NetworkConfig, LeaseAttrs, VxlanBackendData, Lease, LeaseEvent, SubnetManager } from './subnet/types.js';
export { parseNetConf, NetConfError, DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, type ParsedNetConf } from './config/net-conf.js';
export {
  parseIpv4Cidr,
  formatIpv4Cidr,
  prefixMask,
  blockSize,
  lastAddress,
  firstUsable,
  containsAddress,
  containsCidr,
  cidrsOverlap,
  sameCidr,
  isAligned,
  subnetsBetween,
  type Ipv4Cidr,
  type ParsedCidr,
} from './net/ipv4-cidr.js';
export { subnetKeyName, parseSubnetKeyName, encodeLeaseAttrs, decodeLeaseAttrs, decodeLease, sameLeaseAttrs, LeaseDecodeError } from './subnet/lease-codec.js';
export { WatchCompactedError, type SubnetRegistry, type RegistryKv, type RegistryEvent, type LeaseGrant } from './subnet/subnet-registry.js';
export { MemoryRegistry } from './subnet/memory-registry.js';
export { EtcdRegistry, DEFAULT_ETCD_PREFIX, DEFAULT_ETCD_ENDPOINTS, type EtcdRegistryOptions, type EtcdTlsFiles } from './subnet/etcd-registry.js';
export {
  EtcdSubnetManager,
  LeaseLostError,
  NetworkFullError,
  DEFAULT_LEASE_TTL_SEC,
  type EtcdSubnetManagerOptions,
} from './subnet/etcd-subnet-manager.js';
export { LeaseKeeper, DEFAULT_RENEW_MARGIN_MS, DEFAULT_RENEW_RETRY_MS, type LeaseKeeperOptions, type LeaseKeeperEvents } from './subnet/lease-keeper.js';
export { pickFreeSubnet, freeSubnets, subnetRange, isSubnetCompatible, type SubnetRange } from './subnet/subnet-allocator.js';
export { RetryBackoff, sleep } from './retry-backoff.js';
export { KubeSubnetManager, NETWORK_CONDITION_REASON, type KubeSubnetManagerOptions } from './subnet/kube-subnet-manager.js';
export { leaseAnnotations, annotationsForLease, nodeToLease, nodePodCidr, DEFAULT_ANNOTATION_PREFIX, type LeaseAnnotations } from './subnet/kube-node-lease.js';
// --- end subnet management ---
