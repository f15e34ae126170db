/**
 * In-memory TAP and UDP ports: the whole encap/decap pipeline runs inside one process, without
 * privileges (wireguard-go's channel TUN and channel bind are the model). Test-only: these copy and
 * allocate freely.
 */
import { C_TX_BYTES, C_TX_PACKETS } from './counters.js';
import { type PacketArena, type SendList, DGRAM_OFF } from './packet-arena.js';
import type { TapPort, UdpPort } from './ports.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

export class ChannelTap implements TapPort {
  /** Frames the host stack "sends" into the TAP (the VTEP reads these). */
  readonly toVtep: Uint8Array[] = [];
  /** Frames the VTEP wrote into the TAP (the host stack would receive these). */
  readonly fromVtep: Uint8Array[] = [];
  failWrites = false;

  readFrames(arena: PacketArena, max: number): number {
    let n = 0;
    while (n < max && this.toVtep.length > 0) {
      const f = this.toVtep.shift()!;
      const len = Math.min(f.length, arena.maxFrame);
      arena.u8.set(f.subarray(0, len), arena.frameOffset(n));
      arena.len[n] = len;
      n++;
    }
    return n;
  }

  writeFrame(arena: PacketArena, off: number, len: number): boolean {
    if (this.failWrites) return false;
    this.fromVtep.push(arena.u8.slice(off, off + len));
    return true;
  }
}

export interface ChannelDatagram {
  src: number;
  dst: number;
  data: Uint8Array;
}

/** A UDP "underlay" connecting ChannelUdp ports by IPv4 address. */
export class ChannelNetwork {
  private readonly ports = new Map<number, ChannelUdp>();
  /** Every datagram that crossed the network, for assertions on the wire format. */
  readonly wire: ChannelDatagram[] = [];

  attach(ip: number, port: ChannelUdp): void {
    this.ports.set(ip, port);
  }

  deliver(d: ChannelDatagram): void {
    this.wire.push(d);
    this.ports.get(d.dst)?.queue.push(d);
  }
}

export class ChannelUdp implements UdpPort {
  readonly queue: ChannelDatagram[] = [];

  constructor(
    readonly ip: number,
    private readonly net: ChannelNetwork,
    private readonly counters: Float64Array,
  ) {
    net.attach(ip, this);
  }

  receive(arena: PacketArena, max: number): number {
    let n = 0;
    const room = arena.slotSize - DGRAM_OFF;
    while (n < max && this.queue.length > 0) {
      const d = this.queue.shift()!;
      arena.addr[n] = d.src;
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

  send(arena: PacketArena, list: SendList): void {
    for (let k = 0; k < list.count; k++) {
      const slot = list.slot[k]!;
      const off = arena.datagramOffset(slot);
      const len = arena.len[slot]!;
      this.net.deliver({ src: this.ip, dst: list.dst[k]!, data: arena.u8.slice(off, off + len) });
      this.counters[C_TX_PACKETS]++;
      this.counters[C_TX_BYTES] += len - VXLAN_HEADER_LEN;
    }
  }
}
