/**
 * The datapath's two seams to the operating system, shaped as batches (wireguard-go's tun.Device and
 * conn.Bind are the model). Linux implementations sit in ./linux (TAP via /dev/net/tun, UDP via
 * recvmmsg/sendmmsg); ./channel has in-memory ones so the whole pipeline runs in a unit test.
 */
import { C_TX_BYTES, C_TX_GSO_MESSAGES, C_TX_PACKETS, C_UDP_SEND_ERRORS, DROP_INDEX } from './counters.js';
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
   * destination on the VXLAN port. Returns what went out and what did not, by reason (the port's one
   * SendTally, reset by this call); the routine counts it with `countSent`.
   */
  send(arena: PacketArena, list: SendList): SendTally;
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
   * Sends every message of `batch` (UDP GSO when a message holds several segments). Returns sent
   * datagrams (inner frame bytes) and failures by reason, per segment, as `send` does.
   */
  sendBatch(arena: PacketArena, batch: GsoBatch): SendTally;
}

/**
 * What one send did, in datagrams (a GSO message of n segments is n). Each port owns one and resets it per
 * send (no allocation on the hot path); the routines add it to the counters, so a port only reports and every
 * port, the in-memory ones included, is counted the same way.
 */
export class SendTally {
  datagrams = 0;
  /** Inner frame bytes of the datagrams that went out (without the VXLAN header). */
  innerBytes = 0;
  gsoMessages = 0;
  /** Dropped: the send buffer stayed full (tx_queue_full), too big for the path (tx_too_big), any other error. */
  queueFull = 0;
  tooBig = 0;
  failed = 0;
  /** Failed sendmmsg calls, and the errno of the last. */
  errors = 0;
  lastErrno = 0;

  reset(): this {
    this.datagrams = this.innerBytes = this.gsoMessages = this.queueFull = this.tooBig = this.failed = this.errors = 0;
    return this;
  }
}

const D_QUEUE_FULL = DROP_INDEX.tx_queue_full;
const D_TOO_BIG = DROP_INDEX.tx_too_big;
const D_SEND = DROP_INDEX.tx_send_error;

/** Adds a send's outcome to the VTEP's counters. */
export function countSent(c: Float64Array, t: SendTally): void {
  c[C_TX_PACKETS] += t.datagrams;
  c[C_TX_BYTES] += t.innerBytes;
  c[C_TX_GSO_MESSAGES] += t.gsoMessages;
  if (t.errors === 0) return;
  c[C_UDP_SEND_ERRORS] += t.errors;
  c[D_QUEUE_FULL] += t.queueFull;
  c[D_TOO_BIG] += t.tooBig;
  c[D_SEND] += t.failed;
}
