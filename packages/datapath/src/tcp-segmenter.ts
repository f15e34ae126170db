/**
 * TCP segmentation offload, done in userspace: a TCP/IPv4 super-frame read from the TAP (up to 64 KB,
 * virtio_net_hdr gso_type TCPV4) becomes MSS-sized segments, each behind its own VXLAN header, as
 * the kernel's tcp_gso_segment would cut it:
 *   - IPv4: total length per segment, id = first id + k (Linux increments it per segment), header
 *     checksum recomputed;
 *   - TCP: seq = first seq + k * MSS; FIN and PSH only on the last segment, CWR only on the first;
 *     the checksum computed in full over pseudo-header, header and that segment's payload.
 * Each segment is two iovecs: its headers (VXLAN + Ethernet + IP + TCP, written into the batch's
 * scratch) and its payload, referenced in place in the slot the frame was read into: no payload copy.
 *
 * Header checksums are incremental: the IPv4 and TCP header sums are taken once per super-frame
 * without the fields that change, and each segment adds its own (RFC 1624 arithmetic), so the only
 * per-byte work per segment is the payload's sum.
 *
 * `parse` says whether weft can segment the frame (IPv4 without fragmentation, TCP, lengths that
 * agree) and how many segments it makes; what it cannot segment the caller drops and counts, because
 * a 64 KB frame cannot be passed on as it is. `emit` then writes the segments into a GsoBatch.
 */
import { type GsoBatch } from './gso-batch.js';
import { type ByteViews, finish, fold, pseudoSum4, sum16 } from './inet-checksum.js';
import { VXLAN_HEADER_LEN, writeVxlanHeader } from './vxlan-header.js';

export const ETH_HLEN = 14;
export const ETH_P_IPV4 = 0x0800;
export const IPPROTO_TCP = 6;
/** Linux's smallest send MSS (TCP_MIN_SND_MSS); a smaller gso_size is nonsense. */
export const MIN_MSS = 48;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export class TcpSegmenter {
  /** Of the frame parsed last: Ethernet + IP + TCP header bytes, IP and TCP header lengths. */
  hdrLen = 0;
  ihl = 0;
  thl = 0;
  payload = 0;
  mss = 0;
  segments = 0;
  private f = 0;

  constructor(private readonly v: ByteViews) {}

  /** Parses the super-frame at `f`; returns its segment count, 0 when weft cannot segment it. */
  parse(f: number, len: number, mss: number): number {
    const { u8, dv } = this.v;
    this.segments = 0;
    if (mss < MIN_MSS || len < ETH_HLEN + 40 || dv.getUint16(f + 12) !== ETH_P_IPV4) return 0;
    const ip = f + ETH_HLEN;
    const vihl = u8[ip];
    const ihl = (vihl & 15) * 4;
    if (vihl >> 4 !== 4 || ihl < 20 || u8[ip + 9] !== IPPROTO_TCP) return 0;
    if (ETH_HLEN + dv.getUint16(ip + 2) !== len || (dv.getUint16(ip + 6) & 0x3fff) !== 0) return 0;
    if (ETH_HLEN + ihl + 20 > len) return 0;
    const thl = (u8[ip + ihl + 12] >> 4) * 4;
    if (thl < 20 || ETH_HLEN + ihl + thl > len) return 0;
    this.f = f;
    this.ihl = ihl;
    this.thl = thl;
    this.hdrLen = ETH_HLEN + ihl + thl;
    this.payload = len - this.hdrLen;
    this.mss = mss;
    this.segments = Math.max(1, Math.ceil(this.payload / mss));
    return this.segments;
  }

  /** Header scratch the parsed frame needs (VXLAN + headers per segment). */
  get scratchBytes(): number {
    return this.segments * (VXLAN_HEADER_LEN + this.hdrLen);
  }

  /** Writes the parsed frame's segments to `out`, addressed to `dst`, each behind a VXLAN header. */
  emit(out: GsoBatch, dst: number, vni: number): void {
    const { f, hdrLen, mss, payload, segments } = this;
    const dv = this.v.dv;
    const ip = f + ETH_HLEN;
    const id0 = dv.getUint16(ip + 4);
    const seq0 = dv.getUint32(ip + this.ihl + 4);
    const ipBase = this.ipBaseSum(ip);
    const tcpBase = fold(this.tcpBaseSum(ip + this.ihl) + pseudoSum4(dv.getUint32(ip + 12), dv.getUint32(ip + 16), IPPROTO_TCP, 0));
    const src = out.sourceOfFrame(f, hdrLen); // one flow: hashed once, not per segment
    for (let k = 0; k < segments; k++) {
      const at = k * mss;
      const chunk = Math.min(mss, payload - at);
      const h = out.allocHeader(VXLAN_HEADER_LEN + hdrLen);
      writeVxlanHeader(dv, h, vni);
      this.copyHeaders(h + VXLAN_HEADER_LEN, f, hdrLen);
      const seq = (seq0 + at) >>> 0;
      const ipSeg = h + VXLAN_HEADER_LEN + ETH_HLEN;
      this.patchIp(ipSeg, ipBase, chunk, (id0 + k) & 0xffff);
      this.patchTcp(ipSeg + this.ihl, tcpBase, k, chunk, seq, sum16(this.v, f + hdrLen + at, chunk));
      out.beginSegment();
      out.iov.push(h, VXLAN_HEADER_LEN + hdrLen);
      if (chunk > 0) out.iov.push(f + hdrLen + at, chunk);
      out.endSegment(dst, VXLAN_HEADER_LEN + hdrLen + chunk, src);
    }
  }

  /**
   * Copies the frame's `n` header bytes from `from` to `to` (a header slot from `allocHeader`). Both are
   * 4-byte aligned in practice (arena slots, scratch), so the copy is a few 32-bit moves, rounded up to
   * whole words: the slot has room for that, and the bytes read past the headers are the frame's own.
   * A typed-array `copyWithin` call per segment cost ~2% of the sending thread at 9 Gbit/s (profile).
   */
  private copyHeaders(to: number, from: number, n: number): void {
    if (((to | from) & 3) !== 0) {
      this.v.u8.copyWithin(to, from, from + n);
      return;
    }
    const u32 = this.v.u32;
    const d = to >>> 2;
    const s = from >>> 2;
    const words = (n + 3) >>> 2;
    for (let i = 0; i < words; i++) u32[d + i] = u32[s + i]!;
  }

  /** Sum of the IPv4 header without total length, id and checksum (those differ per segment). */
  private ipBaseSum(ip: number): number {
    const dv = this.v.dv;
    return fold(
      sum16(this.v, ip, this.ihl) + (0xffff - dv.getUint16(ip + 2)) + (0xffff - dv.getUint16(ip + 4)) + (0xffff - dv.getUint16(ip + 10)),
    );
  }

  /** Sum of the TCP header without seq, the doff/flags word and checksum (those differ per segment). */
  private tcpBaseSum(tcp: number): number {
    const dv = this.v.dv;
    const sub =
      0xffff -
      dv.getUint16(tcp + 4) +
      (0xffff - dv.getUint16(tcp + 6)) +
      (0xffff - dv.getUint16(tcp + 12)) +
      (0xffff - dv.getUint16(tcp + 16));
    return fold(sum16(this.v, tcp, this.thl) + sub);
  }

  /** Fixes the copied IPv4 header at `ip` for a segment of `chunk` payload bytes. */
  private patchIp(ip: number, base: number, chunk: number, id: number): void {
    const dv = this.v.dv;
    const totLen = this.ihl + this.thl + chunk;
    dv.setUint16(ip + 2, totLen);
    dv.setUint16(ip + 4, id);
    dv.setUint16(ip + 10, finish(fold(base + totLen + id)));
  }

  /** Fixes the copied TCP header at `tcp` for segment k: seq, flags, checksum (payload sum given). */
  private patchTcp(tcp: number, base: number, k: number, chunk: number, seq: number, payloadSum: number): void {
    const { dv, u8 } = this.v;
    let flags = u8[tcp + 13];
    if (k < this.segments - 1) flags &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) flags &= ~TCP_CWR;
    u8[tcp + 13] = flags;
    dv.setUint32(tcp + 4, seq);
    const word12 = (u8[tcp + 12] << 8) | flags;
    const sum = fold(base + this.thl + chunk + (seq >>> 16) + (seq & 0xffff) + word12 + payloadSum);
    dv.setUint16(tcp + 16, finish(sum));
  }
}
