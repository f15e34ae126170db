/**
 * Generic receive offload for the TAP: TCP/IPv4 segments of one flow, as decap hands them over, become
 * one super-frame written with a single writev behind a virtio_net_hdr (gso_type TCPV4, NEEDS_CSUM);
 * everything else is written as it came, behind a zero header.
 *
 * Per flow (issue 12): each flow of the batch has its own open group in a small table (gro-flow-table.ts),
 * so interleaved flows (iperf3 -P 4, many pods behind one peer) coalesce as a single one does. Groups
 * are written when their flow ends them, when their flow has been idle for 64 frames (IDLE_FRAMES), and
 * the rest at `flush`, the end of the batch, oldest flow first.
 *
 * Order: a flow's frames reach the TAP exactly in arrival order (a frame of a flow that cannot join
 * writes the flow's group first); frames of different flows may pass each other, as in Linux GRO, where
 * held flows wait for the end of the NAPI poll while everything else goes up at once. TCP/IPv4 that
 * cannot be keyed by its ports (IP options, fragments) writes every group first; other frames (non-TCP,
 * non-IPv4) go straight through. `flows: 0` is the consecutive-only coalescer this replaced (one group,
 * any other frame writes it first), kept for the benchmark's A/B.
 *
 * A segment joins its flow's group under the kernel's GRO rules (tcp_gro_receive, inet_gro_receive):
 * same Ethernet header, IPv4 without options or fragmentation, same TOS/TTL/DF, addresses and ports;
 * IP id = previous + 1; seq = previous seq + previous length; same ACK, window and TCP options
 * (timestamps included); flags equal except CWR (only on the first), PSH/FIN (they end the group);
 * SYN/RST/URG and empty segments never join. All payloads equal the first one's (the MSS) except
 * the last, which may be shorter and ends the group; 64 segments / 64 KB at most. A segment that does
 * not follow (a gap, reordering, another ACK) writes the group and starts the next one.
 *
 * Checksums: the written super-frame's TCP checksum is left partial (pseudo-header sum of the whole
 * length), so the kernel never checks it; the segments' own checksums are therefore verified here
 * before they join (IP header and TCP), as kernel GRO does. A segment that fails is written alone,
 * untouched, and the kernel drops it. Verification is lazy: a segment written alone (a request, an
 * ACK, a PSH) is left to the kernel to verify, at no cost here. `flush` must run before the arena is reused.
 */
import { C_RX_BYTES, C_RX_COALESCED_FRAMES, C_RX_COALESCED_SEGMENTS, C_RX_CSUM_BAD, C_RX_PACKETS, DROP_INDEX } from './counters.js';
import { GroFlowTable, MAX_GRO_SEGMENTS, type GroGroup } from './gro-flow-table.js';
import { fold, pseudoSum4, sum16, writeIpv4Checksum } from './inet-checksum.js';
import type { PacketArena } from './packet-arena.js';
import type { OffloadTapPort } from './ports.js';
import { ETH_HLEN, ETH_P_IPV4, IPPROTO_TCP, TCP_CWR, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from './tcp-segmenter.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_HDR_LEN, writeVnetHdr } from './virtio-net-hdr.js';

export { MAX_GRO_FLOWS, MAX_GRO_SEGMENTS } from './gro-flow-table.js';
/** Flows one batch coalesces at once (Linux: 8 GRO hash buckets of at most 8 flows). */
export const DEFAULT_GRO_FLOWS = 64;
const IP = ETH_HLEN;
const TCP = ETH_HLEN + 20;
const NEVER_JOIN = TCP_SYN | TCP_RST | TCP_URG;
const ENDS_GROUP = TCP_PSH | TCP_FIN;
/** Flags allowed to differ between joined segments, in the 32-bit word doff|flags|window. */
const FLAG_WORD_FREE = (TCP_CWR | TCP_PSH | TCP_FIN) << 16;
const D_TAP = DROP_INDEX.rx_tap_error;
/**
 * A group whose flow brought nothing for this many frames is written before the batch ends (checked
 * every IDLE_FRAMES frames, so it waits 64-127 frames). A batch of UDP GRO messages may hold thousands
 * of segments, where Linux writes its held flows when a NAPI poll (64 packets at most) ends, or once
 * they are a jiffy old under load: a finished burst need not wait for all of them. Active flows go on
 * growing. A power of two.
 */
const IDLE_FRAMES = 64;
/** What `classify` says of a frame that joins nothing (a joinable segment is its payload length, > 0). */
const BARE_TCP = 0; // TCP of a keyable flow that never joins (no payload, SYN/RST/URG): its flow's group goes first
const NOT_TCP = -1; // not TCP over IPv4: no group holds anything of its flow
const UNKEYED_TCP = -2; // TCP/IPv4 without a plain header (IP options, fragment, odd lengths): every group goes first

export class GroCoalescer {
  private readonly table: GroFlowTable;
  /** Consecutive-only (flows 0): one group, written before any frame that does not join it. */
  private readonly consecutive: boolean;
  private readonly vnetOff: number;
  /** Frames pushed so far: the clock that idle groups are timed by. */
  private clock = 0;

  constructor(
    private readonly arena: PacketArena,
    private readonly tap: OffloadTapPort,
    private readonly c: Float64Array,
    flows = DEFAULT_GRO_FLOWS,
  ) {
    if (arena.scratchBytes < VNET_HDR_LEN) throw new Error('GRO needs arena scratch for a virtio_net_hdr');
    this.vnetOff = arena.scratchOffset;
    this.consecutive = flows === 0;
    this.table = new GroFlowTable(this.consecutive ? 1 : flows);
  }

  /**
   * Takes one inner frame (`len` bytes at `f`): writes it now, or holds it to join its flow's group.
   * `spareHead`: the 10 bytes before the frame are free (it came first in its datagram's slot).
   */
  push(f: number, len: number, spareHead = false): void {
    if ((++this.clock & (IDLE_FRAMES - 1)) === 0 && !this.consecutive) this.closeIdle();
    const pay = this.classify(f, len);
    if (pay > 0) {
      this.pushSegment(f, len, pay, spareHead);
      return;
    }
    if (this.consecutive || pay === UNKEYED_TCP) this.flush();
    else if (pay === BARE_TCP) {
      const g = this.groupOf(f, false);
      if (g !== null) this.close(g);
    }
    this.writeSingle(f, len, spareHead);
  }

  /** Writes every open group, oldest flow first, and forgets the batch's flows. */
  flush(): void {
    const t = this.table;
    for (let i = 0; i < t.used; i++) this.close(t.groups[i]);
    t.clear();
  }

  /** Writes the groups whose flow brought nothing during the last IDLE_FRAMES frames. */
  private closeIdle(): void {
    const t = this.table;
    for (let i = 0; i < t.used; i++) {
      const g = t.groups[i];
      if (g.count > 0 && this.clock - g.touched >= IDLE_FRAMES) this.close(g);
    }
  }

  /** A data segment: joins its flow's group, or writes that group and starts the next one with it. */
  private pushSegment(f: number, len: number, pay: number, spareHead: boolean): void {
    let g = this.groupOf(f, true);
    if (g === null && this.consecutive) {
      this.flush();
      g = this.groupOf(f, true);
    }
    if (g === null) {
      this.writeSingle(f, len, spareHead); // table full: nothing of this flow is held, order holds
      return;
    }
    const flags = this.arena.u8[f + TCP + 13];
    if (g.count > 0 && this.follows(g, f, pay, flags) && (g.count > 1 || this.verify(g.head))) {
      if (!this.verify(f)) {
        this.close(g);
        this.writeSingle(f, len, spareHead);
        return;
      }
      this.append(g, f, len, pay, flags);
      if (pay < g.mss || (flags & ENDS_GROUP) !== 0) this.close(g);
      return;
    }
    this.close(g);
    this.start(g, f, len, pay, flags, spareHead);
    if ((flags & ENDS_GROUP) !== 0) this.close(g);
  }

  private groupOf(f: number, claim: boolean): GroGroup | null {
    const dv = this.arena.dv;
    return this.table.find(dv.getUint32(f + IP + 12), dv.getUint32(f + IP + 16), dv.getUint32(f + TCP), claim);
  }

  /** A joinable segment's TCP payload length (> 0), else BARE_TCP, NOT_TCP or UNKEYED_TCP. */
  private classify(f: number, len: number): number {
    const { u8, dv } = this.arena;
    if (len < TCP || dv.getUint16(f + 12) !== ETH_P_IPV4 || u8[f + IP + 9] !== IPPROTO_TCP) return NOT_TCP;
    if (u8[f + IP] !== 0x45 || (dv.getUint16(f + IP + 6) & 0x3fff) !== 0) return UNKEYED_TCP;
    if (len < TCP + 20 || IP + dv.getUint16(f + IP + 2) !== len) return UNKEYED_TCP;
    const thl = (u8[f + TCP + 12] >> 4) * 4;
    if (thl < 20 || TCP + thl > len || (u8[f + TCP + 13] & NEVER_JOIN) !== 0) return BARE_TCP;
    return len - TCP - thl;
  }

  /** Does the segment at `f` continue group `g`? (Checksums aside; `g` is its flow's, so ports match.) */
  private follows(g: GroGroup, f: number, pay: number, flags: number): boolean {
    const dv = this.arena.dv;
    const h = g.head;
    const thl = (this.arena.u8[f + TCP + 12] >> 4) * 4;
    if (g.count >= MAX_GRO_SEGMENTS || thl !== g.thl || pay > g.mss || (flags & TCP_CWR) !== 0) return false;
    if (20 + thl + g.payload + pay > 65535) return false;
    if (dv.getUint32(f + TCP + 4) !== g.nextSeq || dv.getUint16(f + IP + 4) !== g.nextId) return false;
    if (dv.getUint32(f) !== dv.getUint32(h) || dv.getUint32(f + 4) !== dv.getUint32(h + 4) || dv.getUint32(f + 8) !== dv.getUint32(h + 8))
      return false;
    if (
      dv.getUint16(f + IP) !== dv.getUint16(h + IP) ||
      dv.getUint16(f + IP + 6) !== dv.getUint16(h + IP + 6) ||
      dv.getUint8(f + IP + 8) !== dv.getUint8(h + IP + 8)
    )
      return false;
    if (dv.getUint32(f + IP + 12) !== dv.getUint32(h + IP + 12) || dv.getUint32(f + IP + 16) !== dv.getUint32(h + IP + 16)) return false;
    if (dv.getUint32(f + TCP) !== dv.getUint32(h + TCP) || dv.getUint32(f + TCP + 8) !== dv.getUint32(h + TCP + 8)) return false;
    if (((dv.getUint32(f + TCP + 12) ^ dv.getUint32(h + TCP + 12)) & ~FLAG_WORD_FREE) !== 0) return false;
    for (let o = 20; o < thl; o += 4) if (dv.getUint32(f + TCP + o) !== dv.getUint32(h + TCP + o)) return false;
    return true;
  }

  /** IPv4 header and TCP checksums of the candidate frame at `f` are right (counts when not). */
  private verify(f: number): boolean {
    const a = this.arena;
    const tcpLen = a.dv.getUint16(f + IP + 2) - 20;
    const pseudo = pseudoSum4(a.dv.getUint32(f + IP + 12), a.dv.getUint32(f + IP + 16), IPPROTO_TCP, tcpLen);
    if (sum16(a, f + IP, 20) === 0xffff && fold(pseudo + sum16(a, f + TCP, tcpLen)) === 0xffff) return true;
    this.c[C_RX_CSUM_BAD]++;
    return false;
  }

  private start(g: GroGroup, f: number, len: number, pay: number, flags: number, spareHead: boolean): void {
    const dv = this.arena.dv;
    g.count = 1;
    g.touched = this.clock;
    g.head = f;
    g.headSpare = spareHead;
    g.thl = (this.arena.u8[f + TCP + 12] >> 4) * 4;
    g.mss = pay;
    g.payload = pay;
    g.frameBytes = len;
    g.nextSeq = (dv.getUint32(f + TCP + 4) + pay) >>> 0;
    g.nextId = (dv.getUint16(f + IP + 4) + 1) & 0xffff;
    g.lastFlags = flags;
    g.iov.count = 0;
    g.iov.push(this.vnetOff, VNET_HDR_LEN);
    g.iov.push(f, len);
  }

  private append(g: GroGroup, f: number, len: number, pay: number, flags: number): void {
    g.iov.push(f + TCP + g.thl, pay);
    g.count++;
    g.touched = this.clock;
    g.payload += pay;
    g.frameBytes += len;
    g.nextSeq = (g.nextSeq + pay) >>> 0;
    g.nextId = (g.nextId + 1) & 0xffff;
    g.lastFlags = flags;
  }

  /** Writes the group's segments, if any (one alone as it came, several as a super-frame). */
  private close(g: GroGroup): void {
    if (g.count === 1) this.writeSingle(g.head, g.iov.len[1], g.headSpare);
    else if (g.count > 1) this.writeGroup(g);
    g.count = 0;
  }

  /** Turns the head into the super-frame's header and writes head + joined payloads in one writev. */
  private writeGroup(g: GroGroup): void {
    const a = this.arena;
    const h = g.head;
    const tcpLen = g.thl + g.payload;
    a.dv.setUint16(h + IP + 2, 20 + tcpLen);
    writeIpv4Checksum(a, h + IP, 20);
    const headFlags = a.u8[h + TCP + 13];
    a.u8[h + TCP + 13] = headFlags | (g.lastFlags & ENDS_GROUP);
    a.dv.setUint16(h + TCP + 16, pseudoSum4(a.dv.getUint32(h + IP + 12), a.dv.getUint32(h + IP + 16), IPPROTO_TCP, tcpLen));
    const gso = VNET_GSO_TCPV4 | ((headFlags & TCP_CWR) !== 0 ? VNET_GSO_ECN : 0);
    writeVnetHdr(a.dv, this.vnetOff, VNET_F_NEEDS_CSUM, gso, TCP + g.thl, g.mss, TCP, 16);
    if (this.tap.writeVectored(a, g.iov)) {
      this.c[C_RX_PACKETS] += g.count;
      this.c[C_RX_BYTES] += g.frameBytes;
      this.c[C_RX_COALESCED_FRAMES]++;
      this.c[C_RX_COALESCED_SEGMENTS] += g.count;
    } else {
      this.c[D_TAP] += g.count;
    }
  }

  private writeSingle(f: number, len: number, spareHead: boolean): void {
    if (this.tap.writeFrame(this.arena, f, len, spareHead)) {
      this.c[C_RX_PACKETS]++;
      this.c[C_RX_BYTES] += len;
    } else {
      this.c[D_TAP]++;
    }
  }
}
