/**
 * Decap: VXLAN/UDP -> TAP, one batch per call.
 *
 *   receive (datagram i at slot i + DGRAM_OFF, source IPv4 in arena.addr[i])
 *     -> per datagram: length, I flag, VNI, known peer, inner 802.1Q tag, inner source MAC checks;
 *        optional source-MAC learning; the inner frame (at slot i + HEADROOM) written to the TAP
 *
 * Every datagram that is not written is counted under exactly one drop reason. The checks are
 * ordered cheapest first and a malformed datagram never reaches the TAP. No allocation per packet
 * (learning a MAC that was not known is the one, rare, exception: see fdb.ts).
 * The checks live in `acceptDatagram`, shared with the offload routine (decap-offload.ts).
 */
import { C_FDB_LEARNED_EVENTS, C_RX_BYTES, C_RX_DATAGRAMS, C_RX_PACKETS, DROP_INDEX } from './counters.js';
import { isGroupMac } from '@weft/netbase';
import { type PacketArena, DGRAM_OFF, HEADROOM } from './packet-arena.js';
import type { TapPort, UdpPort } from './ports.js';
import type { VtepState } from './vtep-state.js';
import { VXLAN_BAD_FLAGS, VXLAN_HEADER_LEN, readVxlanVni } from './vxlan-header.js';

const D_RUNT = DROP_INDEX.rx_runt;
const D_TRUNC = DROP_INDEX.rx_truncated;
const D_FLAGS = DROP_INDEX.rx_bad_flags;
const D_VNI = DROP_INDEX.rx_bad_vni;
const D_VLAN = DROP_INDEX.rx_inner_vlan;
const D_PEER = DROP_INDEX.rx_unknown_peer;
const D_OWN = DROP_INDEX.rx_own_mac;
const D_TAP = DROP_INDEX.rx_tap_error;

const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const MIN_DATAGRAM = VXLAN_HEADER_LEN + 14;

export class DecapRoutine {
  constructor(
    private readonly st: VtepState,
    private readonly tap: TapPort,
    private readonly udp: UdpPort,
    readonly arena: PacketArena,
  ) {}

  /** Moves one batch. Returns the number of datagrams received (0: nothing was waiting). */
  run(): number {
    const { st, arena } = this;
    const n = this.udp.receive(arena, arena.slots);
    if (n === 0) return 0;
    const dv = arena.dv;
    const c = st.c;
    const size = arena.slotSize;
    c[C_RX_DATAGRAMS] += n;
    for (let i = 0; i < n; i++) {
      const len = arena.len[i];
      if (len < 0) {
        c[D_TRUNC]++;
        continue;
      }
      if (!acceptDatagram(st, dv, i * size + DGRAM_OFF, len, arena.addr[i])) continue;
      const frameLen = len - VXLAN_HEADER_LEN;
      if (!this.tap.writeFrame(arena, i * size + HEADROOM, frameLen)) {
        c[D_TAP]++;
        continue;
      }
      c[C_RX_PACKETS]++;
      c[C_RX_BYTES] += frameLen;
    }
    return n;
  }
}

/**
 * The decap checks for one VXLAN datagram of `len` bytes at `d` from underlay address `src`, cheapest
 * first: length, I flag, VNI, known peer, inner 802.1Q/802.1ad tag, our own MAC as inner source.
 * Returns true when its inner frame (at d + 8) may go to the TAP; otherwise counts the drop reason
 * and returns false. Learns the inner source MAC from known peers when learning is on. Both the
 * per-packet and the offload routine run every datagram (every GRO segment) through this.
 */
export function acceptDatagram(st: VtepState, dv: DataView, d: number, len: number, src: number): boolean {
  const c = st.c;
  if (len < MIN_DATAGRAM) {
    c[D_RUNT]++;
    return false;
  }
  const vni = readVxlanVni(dv, d);
  if (vni === VXLAN_BAD_FLAGS) {
    c[D_FLAGS]++;
    return false;
  }
  if (vni !== st.vni) {
    c[D_VNI]++;
    return false;
  }
  const known = st.fdb.isPeer(src);
  if (st.peerCheck && !known) {
    c[D_PEER]++;
    return false;
  }
  const f = d + VXLAN_HEADER_LEN;
  const etherType = dv.getUint16(f + 12);
  if (etherType === ETH_P_8021Q || etherType === ETH_P_8021AD) {
    c[D_VLAN]++;
    return false;
  }
  const shi = dv.getUint16(f + 6);
  const slo = dv.getUint32(f + 8);
  if (shi === st.ownMacHi && slo === st.ownMacLo) {
    c[D_OWN]++;
    return false;
  }
  if (st.learning && known && !isGroupMac(shi) && st.fdb.learn(shi, slo, src, st.now)) {
    c[C_FDB_LEARNED_EVENTS]++;
  }
  return true;
}
