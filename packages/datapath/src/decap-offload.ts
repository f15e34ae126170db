/**
 * Decap in offload mode: VXLAN/UDP with GRO -> TAP (IFF_VNET_HDR), one batch per call.
 *
 *   receive (recvmmsg; with UDP_GRO a message may hold many datagrams of `arena.seg[i]` bytes each)
 *     -> split each message into its datagrams
 *     -> per datagram: every per-packet check (acceptDatagram: flags, VNI, peer, inner VLAN, own MAC),
 *        counted by reason exactly as in per-packet mode
 *     -> accepted inner frames to the coalescer (gro-coalescer.ts): each TCP flow's run in the batch
 *        leaves as one super-frame (one writev), everything else as single frames
 *     -> flush the coalescer before the arena is reused
 *
 * The first datagram of a message owns the slot's headroom, so a frame of it written alone gets its
 * zero virtio header built in place over the VXLAN header (one write instead of a two-iovec writev).
 *
 * `rx_datagrams`, `rx_packets` and `rx_bytes` count wire datagrams and inner frames as in per-packet
 * mode, so the two modes' counters compare directly; `rx_gro_messages` and `rx_coalesced_*` say how
 * much the offloads merged.
 */
import { C_RX_DATAGRAMS, C_RX_GRO_MESSAGES, DROP_INDEX } from './counters.js';
import { acceptDatagram } from './decap.js';
import { DEFAULT_GRO_FLOWS, GroCoalescer } from './gro-coalescer.js';
import type { PacketArena } from './packet-arena.js';
import type { OffloadTapPort, UdpPort } from './ports.js';
import type { VtepState } from './vtep-state.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

const D_TRUNC = DROP_INDEX.rx_truncated;

export class DecapOffloadRoutine {
  private readonly gro: GroCoalescer;

  constructor(
    private readonly st: VtepState,
    tap: OffloadTapPort,
    private readonly udp: UdpPort,
    readonly arena: PacketArena,
    /** Flows coalesced at once per batch (0: consecutive segments only; gro-coalescer.ts). */
    groFlows = DEFAULT_GRO_FLOWS,
  ) {
    this.gro = new GroCoalescer(arena, tap, st.c, groFlows);
  }

  /** Moves one batch. Returns the number of messages received (0: nothing was waiting). */
  run(): number {
    const n = this.udp.receive(this.arena, this.arena.slots);
    if (n === 0) return 0;
    for (let i = 0; i < n; i++) this.message(i);
    this.gro.flush();
    return n;
  }

  private message(i: number): void {
    const { st, arena } = this;
    const c = st.c;
    const len = arena.len[i];
    if (len < 0) {
      c[C_RX_DATAGRAMS]++;
      c[D_TRUNC]++;
      return;
    }
    const seg = arena.seg[i];
    const step = seg > 0 && seg < len ? seg : len;
    if (step < len) c[C_RX_GRO_MESSAGES]++;
    const d = arena.datagramOffset(i);
    const src = arena.addr[i];
    let o = 0;
    do {
      const dlen = Math.min(step, len - o);
      c[C_RX_DATAGRAMS]++;
      if (acceptDatagram(st, arena.dv, d + o, dlen, src)) this.gro.push(d + o + VXLAN_HEADER_LEN, dlen - VXLAN_HEADER_LEN, o === 0);
      o += step;
    } while (o < len);
  }
}
