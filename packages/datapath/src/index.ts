/** @weft/datapath: the userspace VXLAN VTEP and its building blocks. */
export { Vtep, type NodeVtep, type VtepControl, type VtepOptions } from './vtep.js';
export { VtepWatchdog, type WatchedDatapath, type WatchdogEvent, type WatchdogOptions } from './vtep-watchdog.js';
export { HostLock } from './host-lock.js';
export type { VtepRuntimeOptions } from './vtep-state.js';
export { type OffloadSetting, type VtepFeatures, describeFeatures, parseOffloadSetting } from './offload-features.js';
export { VtepState } from './vtep-state.js';
export type { FdbSpec } from './commands.js';
export { Fdb, type FdbEntry, type FdbOptions } from './fdb.js';
export {
  COUNTERS,
  DROP_REASONS,
  type CounterName,
  type CounterSnapshot,
  type DropReason,
  snapshotCounters,
  totalDrops,
} from './counters.js';
export { KERNEL_DROPS, type KernelDropName, type KernelDrops, parseUdpDrops, readKernelDrops } from './kernel-drops.js';
export {
  VXLAN_DEFAULT_PORT,
  VXLAN_DEFAULT_VNI,
  VXLAN_HEADER_LEN,
  VXLAN_OVERHEAD_V4,
  VXLAN_BAD_FLAGS,
  readVxlanVni,
  writeVxlanHeader,
} from './vxlan-header.js';
export { parseMac, formatMac, isGroupMac, macFromBytes, type MacPair } from '@weft/netbase';
export { parseIpv4, formatIpv4 } from '@weft/netbase';
export { VTEP_MIN_MTU, VTEP_MAX_MTU } from './packet-arena.js';
export { PacketArena, SendList, HEADROOM, DGRAM_OFF } from './packet-arena.js';
export type { TapPort, UdpPort, OffloadTapPort, OffloadUdpPort } from './ports.js';
export { EncapRoutine } from './encap.js';
export { DecapRoutine } from './decap.js';
export { EncapOffloadRoutine } from './encap-offload.js';
export { DecapOffloadRoutine } from './decap-offload.js';
