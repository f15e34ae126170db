/**
 * Encap: TAP -> VXLAN/UDP, one batch per call.
 *
 *   readFrames (frame i at slot i + HEADROOM)
 *     -> per frame: FDB lookup on the inner destination MAC, VXLAN header written in place in front of
 *        the frame, message (slot, underlay address) appended to the send list
 *     -> one send of the whole list (sendmmsg on Linux)
 *
 * Group destinations (broadcast/multicast) are flooded to every peer when flooding is on, else
 * dropped as `tx_group_no_flood`; unicast misses are dropped as `tx_no_fdb` (flannel programs one
 * entry per remote VTEP MAC, so a miss means a stale neighbour or a frame that is not for the overlay).
 * No allocation, no logging, no promises: counters only. `frameDestination` and `floodTargets` are
 * shared with the offload routine (encap-offload.ts).
 */
import { C_TX_FLOODED, C_TX_FRAMES, DROP_INDEX } from './counters.js';
import { isGroupMac } from '@weft/netbase';
import { type PacketArena, SendList, DGRAM_OFF, HEADROOM } from './packet-arena.js';
import { countSent, type TapPort, type UdpPort } from './ports.js';
import type { VtepState } from './vtep-state.js';
import { VXLAN_HEADER_LEN, writeVxlanHeader } from './vxlan-header.js';

const D_TX_RUNT = DROP_INDEX.tx_runt;
const D_TX_NO_FDB = DROP_INDEX.tx_no_fdb;
const D_TX_GROUP = DROP_INDEX.tx_group_no_flood;
const D_TX_NO_PEERS = DROP_INDEX.tx_no_peers;
export const MAX_FLOOD_PEERS = 1024;

/** frameDestination: flood the frame to every peer. */
export const DST_FLOOD = -2;
/** frameDestination: the frame was dropped (and counted). */
export const DST_DROP = -1;

/**
 * Where the frame at `f` goes: an underlay IPv4 (>= 0) from the FDB, DST_FLOOD for a group address
 * with flooding on, or DST_DROP after counting why (unknown unicast, group address without flooding).
 */
export function frameDestination(st: VtepState, dv: DataView, f: number): number {
  const hi = dv.getUint16(f);
  if (isGroupMac(hi)) {
    if (st.flood) return DST_FLOOD;
    st.c[D_TX_GROUP]++;
    return DST_DROP;
  }
  const remote = st.fdb.lookup(hi, dv.getUint32(f + 2));
  if (remote >= 0) return remote;
  st.c[D_TX_NO_FDB]++;
  return DST_DROP;
}

/** Copies every peer into `peers` for a flood and counts it; 0 (counted tx_no_peers) when there is none. */
export function floodTargets(st: VtepState, peers: Uint32Array): number {
  const np = st.fdb.copyPeers(peers);
  if (np === 0) st.c[D_TX_NO_PEERS]++;
  else st.c[C_TX_FLOODED]++;
  return np;
}

export class EncapRoutine {
  private readonly list: SendList;
  private readonly peers = new Uint32Array(MAX_FLOOD_PEERS);

  constructor(
    private readonly st: VtepState,
    private readonly tap: TapPort,
    private readonly udp: UdpPort,
    readonly arena: PacketArena,
  ) {
    this.list = new SendList(arena.slots);
  }

  /** Moves one batch. Returns the number of frames read from the TAP (0: the TAP was empty). */
  run(): number {
    const { st, arena, list } = this;
    const n = this.tap.readFrames(arena, arena.slots);
    if (n === 0) return 0;
    const dv = arena.dv;
    const c = st.c;
    const size = arena.slotSize;
    list.count = 0;
    c[C_TX_FRAMES] += n;
    for (let i = 0; i < n; i++) {
      const frameLen = arena.len[i];
      if (frameLen < 14) {
        c[D_TX_RUNT]++;
        continue;
      }
      const dst = frameDestination(st, dv, i * size + HEADROOM);
      if (dst === DST_DROP) continue;
      writeVxlanHeader(dv, i * size + DGRAM_OFF, st.vni);
      arena.len[i] = frameLen + VXLAN_HEADER_LEN;
      if (dst === DST_FLOOD) this.flood(i);
      else list.push(i, dst);
    }
    if (list.count > 0) countSent(this.st.c, this.udp.send(arena, list));
    return n;
  }

  private flood(slot: number): void {
    const { list } = this;
    const np = floodTargets(this.st, this.peers);
    for (let p = 0; p < np; p++) {
      if (!list.push(slot, this.peers[p])) {
        countSent(this.st.c, this.udp.send(this.arena, list)); // the list is full: send what we have, keep going
        list.count = 0;
        list.push(slot, this.peers[p]);
      }
    }
  }
}
