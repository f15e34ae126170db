/**
 * weftd's seams to the node: where it finds the underlay, which subnet manager it talks to, how it opens the VTEP,
 * what programs routes and neighbours, how it enforces NetworkPolicy. `linuxDeps` is the real node; weftd's unit
 * tests pass fakes (a FakeVtep, a FakeHostProgrammer, a subnet manager over a MemoryRegistry) and run the whole
 * lifecycle — start, lease lost and re-acquired, fatal and retried errors, teardown after a half-finished start —
 * without a device, a root shell or etcd.
 *
 * Nothing here may load more than weftd.ts itself does at start-up: the subnet managers and the policy controller
 * import etcd3 and the Kubernetes client lazily (the restart gap is measured from process start).
 */
import { Vtep, type NodeVtep, type VtepOptions } from '@weft/datapath';
import { readLinkMac } from '@weft/netbase';
import type { Logger } from 'pino';
import type { HostProgrammer } from './backend/host-programmer.js';
import { IpBatchProgrammer } from './backend/ip-batch-programmer.js';
import type { WeftdConfig } from './cli/weftd-flags.js';
import { removePolicyTable, startNetworkPolicy, type NetworkPolicyHandle } from './host/network-policy.js';
import { findUnderlay, type Underlay } from './host/underlay.js';
import { createSubnetManager, type SubnetManagerContext } from './subnet-manager-factory.js';
import type { SubnetManager } from './subnet/types.js';

export interface WeftdDeps {
  findUnderlay(o: { ifaces: readonly string[]; publicIp?: string }): Promise<Underlay>;
  createSubnetManager(c: WeftdConfig, ctx: SubnetManagerContext): Promise<SubnetManager>;
  openVtep(o: VtepOptions): Promise<NodeVtep>;
  /** The MAC of an existing link (a persistent TAP from an earlier run), undefined when there is none. */
  linkMac(dev: string): Promise<string | undefined>;
  hostProgrammer(dev: string): HostProgrammer;
  /** --network-policy off: remove weft's nftables table. */
  removePolicy(log: Logger): Promise<void>;
  startPolicy(c: WeftdConfig, isLocal: (ip: string) => boolean, log: Logger, signal: AbortSignal): Promise<NetworkPolicyHandle>;
}

export const linuxDeps: WeftdDeps = {
  findUnderlay: (o) => findUnderlay(o),
  createSubnetManager,
  openVtep: (o) => Vtep.open(o),
  linkMac: readLinkMac,
  hostProgrammer: (dev) => new IpBatchProgrammer(dev),
  removePolicy: removePolicyTable,
  startPolicy: startNetworkPolicy,
};
