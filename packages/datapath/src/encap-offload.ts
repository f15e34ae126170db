/**
 * Encap in offload mode: TAP (IFF_VNET_HDR, TSO) -> VXLAN/UDP with GSO, one batch per call.
 *
 *   readFrames (virtio_net_hdr + frame; TCP super-frames up to 64 KB)
 *     -> per frame: destination from the FDB (or flood), then by its virtio header:
 *          gso_type TCPV4    -> cut into MSS segments (tcp-segmenter.ts), each behind a VXLAN header
 *                               in scratch, payload referenced in place
 *          NEEDS_CSUM        -> checksum completed in place (csum_start/csum_offset), one segment
 *          nothing           -> one segment, as in per-packet mode
 *     -> segments packed into UDP GSO messages per peer (gso-batch.ts)
 *     -> one sendBatch (sendmmsg) per batch, or sooner when the batch's iovecs/scratch fill up
 *
 * A frame the code cannot handle (an offload type other than TCPV4, a TCP super-frame it cannot
 * parse, checksum offsets outside the frame) is dropped and counted as tx_bad_offload: a 64 KB frame
 * cannot be passed on as it is, and a frame with an unfinished checksum would arrive corrupted.
 */
import { C_TX_CSUM_COMPLETED, C_TX_FRAMES, C_TX_GSO_FRAMES, C_TX_GSO_SEGMENTS, DROP_INDEX } from './counters.js';
import { DST_DROP, DST_FLOOD, MAX_FLOOD_PEERS, floodTargets, frameDestination } from './encap.js';
import { GSO_MAX_SEGMENTS, GsoBatch } from './gso-batch.js';
import { completePartialChecksum } from './inet-checksum.js';
import type { PacketArena } from './packet-arena.js';
import { countSent, type OffloadUdpPort, type TapPort } from './ports.js';
import { TcpSegmenter } from './tcp-segmenter.js';
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
  vnetCsumOffset,
  vnetCsumStart,
  vnetGsoSize,
} from './virtio-net-hdr.js';
import type { VtepState } from './vtep-state.js';
import { VXLAN_HEADER_LEN, writeVxlanHeader } from './vxlan-header.js';

/** Messages and iovecs per send: room for the smallest-MSS 64 KB frame (1366 segments) and then some. */
export const OFFLOAD_TX_MESSAGES = 2048;
export const OFFLOAD_TX_IOVS = 2 * OFFLOAD_TX_MESSAGES;
/** Header scratch: VXLAN + Ethernet + IP + TCP (up to 8 + 14 + 60 + 60) per segment. */
export const OFFLOAD_TX_SCRATCH = OFFLOAD_TX_MESSAGES * 144;

const D_TX_RUNT = DROP_INDEX.tx_runt;
const D_BAD_OFFLOAD = DROP_INDEX.tx_bad_offload;

export class EncapOffloadRoutine {
  private readonly batch: GsoBatch;
  private readonly segmenter: TcpSegmenter;
  private readonly peers = new Uint32Array(MAX_FLOOD_PEERS);

  constructor(
    private readonly st: VtepState,
    private readonly tap: TapPort,
    private readonly udp: OffloadUdpPort,
    readonly arena: PacketArena,
    udpGso: boolean,
  ) {
    if (arena.scratchBytes < OFFLOAD_TX_SCRATCH) throw new Error(`offload encap needs ${OFFLOAD_TX_SCRATCH} bytes of arena scratch`);
    this.batch = new GsoBatch(OFFLOAD_TX_MESSAGES, OFFLOAD_TX_IOVS, arena.scratchOffset, arena.scratchBytes, udpGso ? GSO_MAX_SEGMENTS : 1);
    this.segmenter = new TcpSegmenter(arena);
  }

  /** Flow entropy: segments of distinct inner flows go to distinct messages, by source socket (flow-hash.ts). */
  spreadFlows(sources: number): void {
    if (sources > 1) this.batch.spread(this.arena.dv, sources);
  }

  /** Moves one batch. Returns the number of frames read from the TAP (0: the TAP was empty). */
  run(): number {
    const { arena } = this;
    const n = this.tap.readFrames(arena, arena.slots);
    if (n === 0) return 0;
    this.st.c[C_TX_FRAMES] += n;
    this.batch.reset();
    for (let i = 0; i < n; i++) this.frame(arena.frameOffset(i), arena.len[i]);
    this.send();
    return n;
  }

  private frame(f: number, len: number): void {
    const { st, arena } = this;
    if (len < 14) {
      st.c[D_TX_RUNT]++;
      return;
    }
    const dst = frameDestination(st, arena.dv, f);
    if (dst === DST_DROP) return;
    const v = f - VNET_HDR_LEN;
    const gsoType = arena.u8[v + 1];
    if (gsoType !== VNET_GSO_NONE) {
      this.segmentFrame(f, len, gsoType, vnetGsoSize(arena.dv, v), dst);
      return;
    }
    if ((arena.u8[v] & VNET_F_NEEDS_CSUM) !== 0) {
      if (!completePartialChecksum(arena, f, len, vnetCsumStart(arena.dv, v), vnetCsumOffset(arena.dv, v))) {
        st.c[D_BAD_OFFLOAD]++;
        return;
      }
      st.c[C_TX_CSUM_COMPLETED]++;
    }
    writeVxlanHeader(arena.dv, f - VXLAN_HEADER_LEN, st.vni); // over the virtio header, read above
    const nt = this.targets(dst);
    for (let p = 0; p < nt; p++) {
      this.ensureRoom(1, 1, 0);
      this.batch.addDatagram(f - VXLAN_HEADER_LEN, len + VXLAN_HEADER_LEN, this.peers[p]);
    }
  }

  private segmentFrame(f: number, len: number, gsoType: number, mss: number, dst: number): void {
    const { st, segmenter } = this;
    if ((gsoType & ~VNET_GSO_ECN) !== VNET_GSO_TCPV4 || segmenter.parse(f, len, mss) === 0) {
      st.c[D_BAD_OFFLOAD]++;
      return;
    }
    st.c[C_TX_GSO_FRAMES]++;
    const nt = this.targets(dst);
    for (let p = 0; p < nt; p++) {
      if (!this.ensureRoom(segmenter.segments, 2 * segmenter.segments, segmenter.scratchBytes)) {
        st.c[D_BAD_OFFLOAD]++;
        return;
      }
      segmenter.emit(this.batch, this.peers[p], st.vni);
      st.c[C_TX_GSO_SEGMENTS] += segmenter.segments;
    }
  }

  /** Fills `peers` with the frame's destinations; returns how many. */
  private targets(dst: number): number {
    if (dst !== DST_FLOOD) {
      this.peers[0] = dst;
      return 1;
    }
    return floodTargets(this.st, this.peers);
  }

  /** Makes room in the batch (sending what it holds) for a frame's segments; false if it can never fit. */
  private ensureRoom(segments: number, iovs: number, hdrBytes: number): boolean {
    if (this.batch.hasRoom(segments, iovs, hdrBytes)) return true;
    this.send();
    return this.batch.hasRoom(segments, iovs, hdrBytes);
  }

  private send(): void {
    if (this.batch.count > 0) countSent(this.st.c, this.udp.sendBatch(this.arena, this.batch));
    this.batch.reset();
  }
}
