/**
 * In-memory TAP and UDP ports: the whole encap/decap pipeline runs inside one process, without
 * privileges (wireguard-go's channel TUN and channel bind are the model). Test-only: these copy and
 * allocate freely.
 *
 * Offload mode is emulated the way Linux behaves:
 * - ChannelTap({ vnetHdr: true }): what the host "sends" and what the VTEP writes carry the 10-byte
 *   virtio_net_hdr in front of the frame, as on a TAP opened with IFF_VNET_HDR.
 * - ChannelUdp({ gso, gro }): `sendBatch` splits each message at its segment size into datagrams (the
 *   wire shows those); a receiver with `gro` gets each message as one datagram plus its segment size
 *   (UDP_GRO), one without gets the datagrams. Messages that break the kernel's UDP GSO rules (> 64
 *   segments, > 65507 bytes, GSO while `gso` is off) are recorded in `network.violations`.
 */
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, type GsoBatch } from './gso-batch.js';
import type { IoVecList } from './iovec-list.js';
import { type PacketArena, type SendList, DGRAM_OFF } from './packet-arena.js';
import { SendTally, type OffloadTapPort, type OffloadUdpPort } from './ports.js';
import { VNET_HDR_LEN } from './virtio-net-hdr.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

export class ChannelTap implements OffloadTapPort {
  /** Frames the host stack "sends" into the TAP (the VTEP reads these); with vnetHdr, header first. */
  readonly toVtep: Uint8Array[] = [];
  /** Frames the VTEP wrote into the TAP (the host stack would receive these); with vnetHdr, header first. */
  readonly fromVtep: Uint8Array[] = [];
  failWrites = false;
  readonly vnetHdr: boolean;

  constructor(opts: { vnetHdr?: boolean } = {}) {
    this.vnetHdr = opts.vnetHdr ?? false;
  }

  readFrames(arena: PacketArena, max: number): number {
    const pre = this.vnetHdr ? VNET_HDR_LEN : 0;
    let n = 0;
    while (n < max && this.toVtep.length > 0) {
      const f = this.toVtep.shift()!;
      const len = Math.min(f.length, arena.maxFrame + pre);
      arena.u8.set(f.subarray(0, len), arena.frameOffset(n) - pre);
      arena.len[n] = Math.max(0, len - pre);
      n++;
    }
    return n;
  }

  writeFrame(arena: PacketArena, off: number, len: number, spareHead = false): boolean {
    if (this.failWrites) return false;
    const pre = this.vnetHdr ? VNET_HDR_LEN : 0;
    if (spareHead && pre > 0) arena.u8.fill(0xee, off - pre, off); // the port may use these bytes: show that it may
    const out = new Uint8Array(pre + len);
    out.set(arena.u8.subarray(off, off + len), pre);
    this.fromVtep.push(out);
    return true;
  }

  writeVectored(arena: PacketArena, iov: IoVecList): boolean {
    if (this.failWrites) return false;
    this.fromVtep.push(gather(arena, iov, 0, iov.count));
    return true;
  }
}

function gather(arena: PacketArena, iov: IoVecList, from: number, n: number): Uint8Array {
  const out = new Uint8Array(iov.bytes(from, n));
  let at = 0;
  for (let i = from; i < from + n; i++) {
    out.set(arena.u8.subarray(iov.off[i], iov.off[i] + iov.len[i]), at);
    at += iov.len[i];
  }
  return out;
}

export interface ChannelDatagram {
  src: number;
  dst: number;
  data: Uint8Array;
  /** UDP GRO: the datagrams inside `data` are this long (all but the last); 0 or absent: one datagram. */
  seg?: number;
}

/** A UDP "underlay" connecting ChannelUdp ports by IPv4 address. */
export class ChannelNetwork {
  private readonly ports = new Map<number, ChannelUdp>();
  /** Every datagram that crossed the network, for assertions on the wire format. */
  readonly wire: ChannelDatagram[] = [];
  /** Messages a kernel would have refused (broken UDP GSO rules). */
  readonly violations: string[] = [];

  attach(ip: number, port: ChannelUdp): void {
    this.ports.set(ip, port);
  }

  deliver(d: ChannelDatagram): void {
    this.wire.push(d);
    this.ports.get(d.dst)?.queue.push(d);
  }

  /** A UDP GSO message: the wire sees its datagrams; a GRO receiver gets it whole. */
  deliverSegmented(src: number, dst: number, data: Uint8Array, seg: number): void {
    const parts: ChannelDatagram[] = [];
    for (let o = 0; o < data.length; o += seg) parts.push({ src, dst, data: data.subarray(o, Math.min(o + seg, data.length)) });
    this.wire.push(...parts);
    const port = this.ports.get(dst);
    if (!port) return;
    if (port.gro && parts.length > 1) port.queue.push({ src, dst, data, seg });
    else port.queue.push(...parts);
  }
}

export class ChannelUdp implements OffloadUdpPort {
  readonly queue: ChannelDatagram[] = [];
  readonly gso: boolean;
  readonly gro: boolean;
  private readonly tally = new SendTally();

  constructor(
    readonly ip: number,
    private readonly net: ChannelNetwork,
    opts: { gso?: boolean; gro?: boolean } = {},
  ) {
    this.gso = opts.gso ?? false;
    this.gro = opts.gro ?? false;
    net.attach(ip, this);
  }

  receive(arena: PacketArena, max: number): number {
    let n = 0;
    const room = arena.slotSize - DGRAM_OFF;
    while (n < max && this.queue.length > 0) {
      const d = this.queue.shift()!;
      arena.addr[n] = d.src;
      arena.seg[n] = d.seg ?? 0;
      if (d.data.length > room) {
        arena.len[n] = -1;
      } else {
        arena.u8.set(d.data, arena.datagramOffset(n));
        arena.len[n] = d.data.length;
      }
      n++;
    }
    return n;
  }

  send(arena: PacketArena, list: SendList): SendTally {
    const t = this.tally.reset();
    for (let k = 0; k < list.count; k++) {
      const slot = list.slot[k];
      const off = arena.datagramOffset(slot);
      const len = arena.len[slot];
      this.net.deliver({ src: this.ip, dst: list.dst[k], data: arena.u8.slice(off, off + len) });
      t.datagrams++;
      t.innerBytes += len - VXLAN_HEADER_LEN;
    }
    return t;
  }

  sendBatch(arena: PacketArena, batch: GsoBatch): SendTally {
    const t = this.tally.reset();
    for (let m = 0; m < batch.count; m++) {
      const data = gather(arena, batch.iov, batch.firstIov[m], batch.iovCount[m]);
      const segs = batch.segs[m];
      const seg = batch.segSize[m];
      if (segs > GSO_MAX_SEGMENTS || data.length > GSO_MAX_BYTES || (segs > 1 && !this.gso)) {
        this.net.violations.push(`message ${m}: ${segs} segments of ${seg}, ${data.length} bytes, gso ${this.gso}`);
      }
      if (data.length !== batch.bytes[m] || Math.ceil(data.length / seg) !== segs) {
        this.net.violations.push(`message ${m}: ${data.length} bytes do not make ${segs} segments of ${seg}`);
      }
      if (segs > 1) t.gsoMessages++;
      this.net.deliverSegmented(this.ip, batch.dst[m], data, seg);
      t.datagrams += segs;
      t.innerBytes += data.length - segs * VXLAN_HEADER_LEN;
    }
    return t;
  }
}
