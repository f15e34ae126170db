/**
 * Generic receive offload for the TAP: consecutive TCP/IPv4 segments of one flow, as decap hands
 * them over, become one super-frame written with a single writev behind a virtio_net_hdr
 * (gso_type TCPV4, NEEDS_CSUM); everything else is written as it came, behind a zero header.
 *
 * A segment joins the open group under the kernel's GRO rules (tcp_gro_receive, inet_gro_receive):
 * same Ethernet header, IPv4 without options or fragmentation, same TOS/TTL/DF, addresses and ports;
 * IP id = previous + 1; seq = previous seq + previous length; same ACK, window and TCP options
 * (timestamps included); flags equal except CWR (only on the first), PSH/FIN (they end the group);
 * SYN/RST/URG and empty segments never join. All payloads equal the first one's (the MSS) except
 * the last, which may be shorter and ends the group; 64 segments / 64 KB at most.
 *
 * Checksums: the written super-frame's TCP checksum is left partial (pseudo-header sum of the whole
 * length), so the kernel never checks it; the segments' own checksums are therefore verified here
 * before they join (IP header and TCP), as kernel GRO does. A segment that fails is written alone,
 * untouched, and the kernel drops it. Verification is lazy: a segment written alone (a request, an
 * ACK, a PSH) is left to the kernel to verify, at no cost here.
 *
 * Only consecutive segments coalesce (no per-flow table): a burst from one peer's GSO message or one
 * recvmmsg batch is nearly always one flow. `flush` must run before the arena is reused.
 */
import { C_RX_BYTES, C_RX_COALESCED_FRAMES, C_RX_COALESCED_SEGMENTS, C_RX_CSUM_BAD, C_RX_PACKETS, DROP_INDEX } from './counters.js';
import { fold, pseudoSum4, sum16, writeIpv4Checksum } from './inet-checksum.js';
import { IoVecList } from './iovec-list.js';
import type { PacketArena } from './packet-arena.js';
import type { OffloadTapPort } from './ports.js';
import { ETH_HLEN, ETH_P_IPV4, IPPROTO_TCP, TCP_CWR, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from './tcp-segmenter.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_HDR_LEN, writeVnetHdr } from './virtio-net-hdr.js';

export const MAX_GRO_SEGMENTS = 64;
const IP = ETH_HLEN;
const TCP = ETH_HLEN + 20;
const NEVER_JOIN = TCP_SYN | TCP_RST | TCP_URG;
const ENDS_GROUP = TCP_PSH | TCP_FIN;
/** Flags allowed to differ between joined segments, in the 32-bit word doff|flags|window. */
const FLAG_WORD_FREE = (TCP_CWR | TCP_PSH | TCP_FIN) << 16;
const D_TAP = DROP_INDEX.rx_tap_error;

export class GroCoalescer {
  private readonly iov = new IoVecList(2 + MAX_GRO_SEGMENTS);
  private readonly vnetOff: number;
  private count = 0;
  private head = 0;
  private thl = 0;
  private mss = 0;
  private payload = 0;
  private frameBytes = 0;
  private nextSeq = 0;
  private nextId = 0;
  private lastFlags = 0;
  private headSpare = false;

  constructor(
    private readonly arena: PacketArena,
    private readonly tap: OffloadTapPort,
    private readonly c: Float64Array,
  ) {
    if (arena.scratchBytes < VNET_HDR_LEN) throw new Error('GRO needs arena scratch for a virtio_net_hdr');
    this.vnetOff = arena.scratchOffset;
  }

  /**
   * Takes one inner frame (`len` bytes at `f`): writes it now, or holds it to join a group.
   * `spareHead`: the 10 bytes before the frame are free (it came first in its datagram's slot).
   */
  push(f: number, len: number, spareHead = false): void {
    const pay = this.tcpPayload(f, len);
    if (pay <= 0) {
      this.flush();
      this.writeSingle(f, len, spareHead);
      return;
    }
    const flags = this.arena.u8[f + TCP + 13];
    if (this.count > 0 && this.follows(f, pay, flags)) {
      if (this.count > 1 || this.verify(this.head)) {
        if (!this.verify(f)) {
          this.flush();
          this.writeSingle(f, len, spareHead);
          return;
        }
        this.append(f, len, pay, flags);
        if (pay < this.mss || (flags & ENDS_GROUP) !== 0) this.flush();
        return;
      }
    }
    this.flush();
    this.start(f, len, pay, flags);
    this.headSpare = spareHead;
    if ((flags & ENDS_GROUP) !== 0) this.flush();
  }

  /** Writes the open group, if any. */
  flush(): void {
    if (this.count === 0) return;
    if (this.count === 1) this.writeSingle(this.head, this.iov.len[1], this.headSpare);
    else this.writeGroup();
    this.count = 0;
  }

  /** TCP payload length if the frame may coalesce at all (IPv4, no options, TCP, data), else -1. */
  private tcpPayload(f: number, len: number): number {
    const { u8, dv } = this.arena;
    if (len < TCP + 20 || dv.getUint16(f + 12) !== ETH_P_IPV4 || u8[f + IP] !== 0x45) return -1;
    if (u8[f + IP + 9] !== IPPROTO_TCP || (dv.getUint16(f + IP + 6) & 0x3fff) !== 0) return -1;
    if (IP + dv.getUint16(f + IP + 2) !== len) return -1;
    const thl = (u8[f + TCP + 12] >> 4) * 4;
    if (thl < 20 || TCP + thl > len || (u8[f + TCP + 13] & NEVER_JOIN) !== 0) return -1;
    return len - TCP - thl;
  }

  /** Does the segment at `f` continue the open group? (Checksums aside.) */
  private follows(f: number, pay: number, flags: number): boolean {
    const dv = this.arena.dv;
    const h = this.head;
    const thl = (this.arena.u8[f + TCP + 12] >> 4) * 4;
    if (this.count >= MAX_GRO_SEGMENTS || thl !== this.thl || pay > this.mss || (flags & TCP_CWR) !== 0) return false;
    if (20 + thl + this.payload + pay > 65535) return false;
    if (dv.getUint32(f + TCP + 4) !== this.nextSeq || dv.getUint16(f + IP + 4) !== this.nextId) return false;
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

  private start(f: number, len: number, pay: number, flags: number): void {
    const dv = this.arena.dv;
    this.count = 1;
    this.head = f;
    this.thl = (this.arena.u8[f + TCP + 12] >> 4) * 4;
    this.mss = pay;
    this.payload = pay;
    this.frameBytes = len;
    this.nextSeq = (dv.getUint32(f + TCP + 4) + pay) >>> 0;
    this.nextId = (dv.getUint16(f + IP + 4) + 1) & 0xffff;
    this.lastFlags = flags;
    this.iov.count = 0;
    this.iov.push(this.vnetOff, VNET_HDR_LEN);
    this.iov.push(f, len);
  }

  private append(f: number, len: number, pay: number, flags: number): void {
    this.iov.push(f + TCP + this.thl, pay);
    this.count++;
    this.payload += pay;
    this.frameBytes += len;
    this.nextSeq = (this.nextSeq + pay) >>> 0;
    this.nextId = (this.nextId + 1) & 0xffff;
    this.lastFlags = flags;
  }

  /** Turns the head into the super-frame's header and writes head + joined payloads in one writev. */
  private writeGroup(): void {
    const a = this.arena;
    const h = this.head;
    const tcpLen = this.thl + this.payload;
    a.dv.setUint16(h + IP + 2, 20 + tcpLen);
    writeIpv4Checksum(a, h + IP, 20);
    const headFlags = a.u8[h + TCP + 13];
    a.u8[h + TCP + 13] = headFlags | (this.lastFlags & ENDS_GROUP);
    a.dv.setUint16(h + TCP + 16, pseudoSum4(a.dv.getUint32(h + IP + 12), a.dv.getUint32(h + IP + 16), IPPROTO_TCP, tcpLen));
    const gso = VNET_GSO_TCPV4 | ((headFlags & TCP_CWR) !== 0 ? VNET_GSO_ECN : 0);
    writeVnetHdr(a.dv, this.vnetOff, VNET_F_NEEDS_CSUM, gso, TCP + this.thl, this.mss, TCP, 16);
    if (this.tap.writeVectored(a, this.iov)) {
      this.c[C_RX_PACKETS] += this.count;
      this.c[C_RX_BYTES] += this.frameBytes;
      this.c[C_RX_COALESCED_FRAMES]++;
      this.c[C_RX_COALESCED_SEGMENTS] += this.count;
    } else {
      this.c[D_TAP] += this.count;
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
