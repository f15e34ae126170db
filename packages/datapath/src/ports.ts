/**
 * The datapath's two seams to the operating system, shaped as batches (wireguard-go's tun.Device and
 * conn.Bind are the model). Linux implementations sit in ./linux (TAP via /dev/net/tun, UDP via
 * recvmmsg/sendmmsg); ./channel has in-memory ones so the whole pipeline runs in a unit test.
 */
import type { GsoBatch } from './gso-batch.js';
import type { IoVecList } from './iovec-list.js';
import type { PacketArena, SendList } from './packet-arena.js';

export interface TapPort {
  /**
   * Reads up to `max` frames, frame i into slot i at HEADROOM, its length into `arena.len[i]`.
   * Returns the number read; 0 when none is ready (never blocks).
   */
  readFrames(arena: PacketArena, max: number): number;
  /** Writes one frame (`len` bytes at byte offset `off` of the arena). Returns false on failure. */
  writeFrame(arena: PacketArena, off: number, len: number): boolean;
}

export interface UdpPort {
  /**
   * Receives up to `max` datagrams, datagram i into slot i at DGRAM_OFF; `arena.len[i]` = its length
   * (-1 when it did not fit the slot), `arena.addr[i]` = its source IPv4. Returns the number received;
   * 0 when none is ready (never blocks).
   */
  receive(arena: PacketArena, max: number): number;
  /**
   * Sends every message in `list` (slot's datagram at DGRAM_OFF, `arena.len[slot]` bytes) to its
   * destination on the VXLAN port. Counts what went out (tx_packets/tx_bytes) and what did not, by
   * reason, into the counters it was built with.
   */
  send(arena: PacketArena, list: SendList): void;
}

/**
 * A TAP opened with IFF_VNET_HDR (offload mode). `readFrames` puts frame i at HEADROOM as before and
 * its 10-byte virtio_net_hdr right in front of it (HEADROOM - 10); `arena.len[i]` is the frame's
 * length without that header. `writeFrame` writes a frame behind an all-zero virtio header; with
 * `spareHead` the 10 bytes before the frame are free to build that header in (one plain write).
 */
export interface OffloadTapPort extends TapPort {
  writeFrame(arena: PacketArena, off: number, len: number, spareHead?: boolean): boolean;
  /** Writes one frame given as iovecs into the arena, the first of them its virtio_net_hdr (writev). */
  writeVectored(arena: PacketArena, iov: IoVecList): boolean;
}

/**
 * The VXLAN socket in offload mode. `receive` also sets `arena.seg[i]`: the UDP GRO segment size of
 * datagram i when the kernel coalesced several (0 when it is one datagram).
 */
export interface OffloadUdpPort extends UdpPort {
  /**
   * Sends every message of `batch` (UDP GSO when a message holds several segments). Counts sent
   * datagrams (tx_packets, tx_bytes of inner frames) and failures by reason, per segment.
   */
  sendBatch(arena: PacketArena, batch: GsoBatch): void;
}
