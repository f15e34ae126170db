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
// --- node programming and weftd (vxlan backend, host bits, HTTP, CLI) ---
export { Weftd } from './weftd.js';
export { parseWeftdArgs, weftdHelp, ConfigError, FLAGS as WEFTD_FLAGS, type WeftdConfig, type ParsedCommandLine } from './cli/weftd-flags.js';
export { VxlanNetwork, type VxlanNetworkOptions, type VxlanNetworkStats } from './backend/vxlan-network.js';
export { decodeVxlanPeer, samePeer, type VxlanPeer, type PeerDecode } from './backend/vxlan-peer.js';
export { deriveVtepMac, vtepDeviceName } from './backend/vtep-mac.js';
export { describeHostOp, type HostProgrammer, type HostOp, type HostOpFailure, type HostRoute, type HostNeighbour } from './backend/host-programmer.js';
export { IpBatchProgrammer, ipBatchLine, parseBatchFailures } from './backend/ip-batch-programmer.js';
export { renderSubnetFile, writeSubnetFile, readPreviousSubnet, type SubnetFileContent } from './host/subnet-file.js';
export { masqChain, forwardChain, savedRuleLines, supportsRandomFully, type OwnedChain } from './host/ip-masq.js';
export { IptablesChains, repairPayload, removalPayload, type IptablesRunner } from './host/iptables-chains.js';
export { findUnderlay, type Underlay, type UnderlayProbe } from './host/underlay.js';
export { StatusServer } from './http/status-server.js';
export { renderExposition, PROMETHEUS_CONTENT_TYPE, type MetricFamily, type MetricSample } from './http/prometheus-text.js';
export { weftdMetrics } from './http/weftd-metrics.js';
export type { NodeStatus, Readiness, StatusSource } from './http/node-status.js';
// --- end node programming and weftd ---
