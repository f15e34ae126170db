/**
 * Datapath counters in shared memory.
 *
 * The worker is the only writer: plain `+=` on a Float64Array over a SharedArrayBuffer (exact to 2^53,
 * no Atomics, no allocation). Readers (weftd's /metrics, weftctl) take a snapshot whenever they like;
 * reading costs nothing on the hot path. Every drop has a reason, and every reason has a slot.
 */

import type { KernelDrops } from './kernel-drops.js';

export const DROP_REASONS = [
  // decap (UDP -> TAP)
  'rx_runt', // datagram shorter than VXLAN header + 14-byte inner Ethernet header
  'rx_truncated', // datagram larger than a receive slot (MSG_TRUNC)
  'rx_bad_flags', // I flag not set
  'rx_bad_vni', // not our VNI
  'rx_inner_vlan', // inner frame carries an 802.1Q/802.1ad tag (RFC 7348 §6.1)
  'rx_unknown_peer', // outer source is not an FDB underlay address (peer check on)
  'rx_own_mac', // inner source MAC is our own VTEP MAC (a loop)
  'rx_tap_error', // write to the TAP failed
  // encap (TAP -> UDP)
  'tx_runt', // frame shorter than an Ethernet header
  'tx_no_fdb', // unicast destination MAC with no FDB entry
  'tx_group_no_flood', // broadcast/multicast destination and flooding is off
  'tx_no_peers', // flooding on but no peer to flood to
  'tx_too_big', // EMSGSIZE: the underlay cannot carry the datagram without fragmenting
  'tx_send_error', // any other send error
  'tx_queue_full', // socket send buffer stayed full (EAGAIN after waiting)
  'tx_bad_offload', // offload mode: a super-frame weft cannot segment, or checksum offsets outside the frame
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const COUNTERS = [
  'rx_datagrams', // UDP datagrams received on the VXLAN port
  'rx_packets', // inner frames written to the TAP
  'rx_bytes', // inner frame bytes written to the TAP
  'tx_frames', // frames read from the TAP
  'tx_packets', // VXLAN datagrams sent (a flooded frame counts once per peer)
  'tx_bytes', // inner frame bytes sent (per datagram)
  'tx_flooded', // frames flooded to every peer
  'fdb_learned_events', // MAC learned or moved
  'fdb_entries', // gauge: all FDB entries
  'fdb_learned', // gauge: learned FDB entries
  'fdb_peers', // gauge: distinct underlay addresses in the FDB
  'loop_polls', // poll() calls that slept
  'loop_batches', // batches processed
  // offload mode (virtio_net_hdr on the TAP, UDP GSO/GRO on the socket)
  'tx_gso_frames', // TSO super-frames read from the TAP
  'tx_gso_segments', // segments cut from them
  'tx_csum_completed', // partial checksums completed on frames that needed no segmentation
  'tx_gso_messages', // UDP messages sent with several segments (UDP GSO)
  'rx_gro_messages', // received UDP messages holding several datagrams (UDP GRO)
  'rx_coalesced_frames', // TCP super-frames written to the TAP
  'rx_coalesced_segments', // segments merged into them
  'rx_csum_bad', // inner IP/TCP checksum wrong: not coalesced, written alone for the kernel to drop
  // errors of the descriptors (their errno goes to the port's lastXxxErrno) and the worker's pulse
  'tap_read_errors', // TAP reads failing with anything but EAGAIN
  'tap_write_errors', // TAP writes failing (the frame is also counted as a drop)
  'udp_recv_errors', // recvmmsg failing with anything but EAGAIN/EINTR
  'udp_send_errors', // sendmmsg failures (the datagrams are also counted as drops)
  'loop_heartbeat', // the worker's loop turns, idle ones included (poll wakes every 200 ms): the watchdog's pulse
] as const;
export type CounterName = (typeof COUNTERS)[number];

export const COUNTER_INDEX: Record<CounterName, number> = Object.fromEntries(COUNTERS.map((n, i) => [n, i])) as Record<CounterName, number>;
export const DROP_INDEX: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map((n, i) => [n, COUNTERS.length + i])) as Record<
  DropReason,
  number
>;
export const COUNTER_SLOTS = COUNTERS.length + DROP_REASONS.length;

// Indices as plain constants for the hot path (property lookups on a frozen record are fast too,
// but constants read better next to `c[...] += 1`).
export const C_RX_DATAGRAMS = COUNTER_INDEX.rx_datagrams;
export const C_RX_PACKETS = COUNTER_INDEX.rx_packets;
export const C_RX_BYTES = COUNTER_INDEX.rx_bytes;
export const C_TX_FRAMES = COUNTER_INDEX.tx_frames;
export const C_TX_PACKETS = COUNTER_INDEX.tx_packets;
export const C_TX_BYTES = COUNTER_INDEX.tx_bytes;
export const C_TX_FLOODED = COUNTER_INDEX.tx_flooded;
export const C_FDB_LEARNED_EVENTS = COUNTER_INDEX.fdb_learned_events;
export const C_FDB_ENTRIES = COUNTER_INDEX.fdb_entries;
export const C_FDB_LEARNED = COUNTER_INDEX.fdb_learned;
export const C_FDB_PEERS = COUNTER_INDEX.fdb_peers;
export const C_LOOP_POLLS = COUNTER_INDEX.loop_polls;
export const C_LOOP_BATCHES = COUNTER_INDEX.loop_batches;
export const C_TX_GSO_FRAMES = COUNTER_INDEX.tx_gso_frames;
export const C_TX_GSO_SEGMENTS = COUNTER_INDEX.tx_gso_segments;
export const C_TX_CSUM_COMPLETED = COUNTER_INDEX.tx_csum_completed;
export const C_TX_GSO_MESSAGES = COUNTER_INDEX.tx_gso_messages;
export const C_RX_GRO_MESSAGES = COUNTER_INDEX.rx_gro_messages;
export const C_RX_COALESCED_FRAMES = COUNTER_INDEX.rx_coalesced_frames;
export const C_RX_COALESCED_SEGMENTS = COUNTER_INDEX.rx_coalesced_segments;
export const C_RX_CSUM_BAD = COUNTER_INDEX.rx_csum_bad;
export const C_TAP_READ_ERRORS = COUNTER_INDEX.tap_read_errors;
export const C_TAP_WRITE_ERRORS = COUNTER_INDEX.tap_write_errors;
export const C_UDP_RECV_ERRORS = COUNTER_INDEX.udp_recv_errors;
export const C_UDP_SEND_ERRORS = COUNTER_INDEX.udp_send_errors;
export const C_LOOP_HEARTBEAT = COUNTER_INDEX.loop_heartbeat;

export interface CounterSnapshot {
  counters: Record<CounterName, number>;
  drops: Record<DropReason, number>;
  /** The kernel's drop counters around the VTEP (kernel-drops.ts); absent where unknown (fakes). */
  kernel?: KernelDrops;
}

export function newCounterArray(shared = true): Float64Array {
  const bytes = COUNTER_SLOTS * Float64Array.BYTES_PER_ELEMENT;
  return new Float64Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
}

export function snapshotCounters(c: Float64Array): CounterSnapshot {
  const counters = {} as Record<CounterName, number>;
  const drops = {} as Record<DropReason, number>;
  for (const n of COUNTERS) counters[n] = c[COUNTER_INDEX[n]]!;
  for (const r of DROP_REASONS) drops[r] = c[DROP_INDEX[r]]!;
  return { counters, drops };
}

export function totalDrops(s: CounterSnapshot): number {
  let t = 0;
  for (const r of DROP_REASONS) t += s.drops[r];
  return t;
}
