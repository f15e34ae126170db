/**
 * A PacketArena is one batch of packet slots in a single ArrayBuffer that never moves.
 *
 * Slot i starts at `i * slotSize`. Every slot has the same layout, on both paths:
 *
 *   | headroom (64) ...  [VXLAN header 8] | inner Ethernet frame ...            |
 *   0                    DGRAM_OFF        HEADROOM
 *
 * Encap reads a frame from the TAP at HEADROOM and writes the VXLAN header in front of it, so the
 * datagram (header + frame) is contiguous at DGRAM_OFF: no copy. Decap receives a datagram at
 * DGRAM_OFF, so the inner frame lands at HEADROOM and goes to the TAP from there. The headroom in
 * front of the header is spare room for a `virtio_net_hdr` (12 bytes) when the TAP runs with
 * IFF_VNET_HDR: offloads slot in without changing this layout.
 *
 * Per-slot metadata lives in typed arrays beside the buffer: `len` (bytes at the slot's start offset,
 * -1 for a truncated datagram), `addr` (the peer's IPv4: source on receive) and `seg` (offload mode:
 * the UDP GRO segment size of a received datagram, 0 when it is one datagram).
 * The OS-facing ports compute raw addresses from the buffer's base address once; the pipeline only
 * ever sees byte offsets (plain numbers).
 *
 * Offload mode (IFF_VNET_HDR, TSO, UDP GSO/GRO) uses the same layout with 64 KB slots: a TAP read
 * puts the 10-byte virtio_net_hdr at HEADROOM - 10 (parsed before the VXLAN header overwrites its
 * last 8 bytes), and a GRO'd datagram of up to 64 KB lands at DGRAM_OFF. A `scratch` region after the
 * slots holds what the offload routines write besides the packets (per-segment headers, virtio
 * headers), so every iovec is an offset into this one buffer. Such an arena lives in a WebAssembly
 * memory when it can, so checksums over it run in SIMD (wasm-checksum.ts).
 */
import type { ByteViews } from './inet-checksum.js';
import { type WordSummer, checksumMemory } from './wasm-checksum.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

export const HEADROOM = 64;
export const DGRAM_OFF = HEADROOM - VXLAN_HEADER_LEN;
/** An inner frame as large as this fits any slot: MTU 9000 + Ethernet header + one VLAN tag. */
export const MAX_L2_MTU = 9000;
/** The VTEP MTUs weft accepts: IPv4's minimum (RFC 791) up to what a slot holds. weftd checks its config against these. */
export const VTEP_MIN_MTU = 576;
export const VTEP_MAX_MTU = MAX_L2_MTU;
/** Largest IPv4 packet (a TSO super-frame or a GRO'd datagram): the 16-bit total length. */
export const MAX_IP_PACKET = 65535;

export class PacketArena implements ByteViews {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly dv: DataView;
  readonly len: Int32Array;
  readonly addr: Uint32Array;
  readonly seg: Int32Array;
  /** Byte offset of the scratch region (after the last slot). */
  readonly scratchOffset: number;
  readonly scratchBytes: number;
  /** SIMD checksum over this arena's memory, when it lives in WebAssembly memory. */
  readonly sumWords: WordSummer | undefined;
  /** Raw memory address of `buffer`, set once by the Linux ports (0 for in-memory ports). */
  base = 0;

  /** `simd`: put the arena in WebAssembly memory for SIMD checksums (offload mode). */
  constructor(
    readonly slots: number,
    readonly slotSize: number,
    scratchBytes = 0,
    simd = scratchBytes > 0,
  ) {
    if (slotSize % 64 !== 0 || slotSize <= HEADROOM + 14) throw new Error(`bad slot size ${slotSize}`);
    this.scratchOffset = slots * slotSize;
    this.scratchBytes = Math.ceil(scratchBytes / 64) * 64;
    const bytes = this.scratchOffset + this.scratchBytes;
    const wasm = simd ? checksumMemory(bytes) : undefined;
    this.buffer = wasm?.buffer ?? new ArrayBuffer(bytes);
    this.sumWords = wasm?.sumWords;
    this.u8 = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.len = new Int32Array(slots);
    this.addr = new Uint32Array(slots);
    this.seg = new Int32Array(slots);
  }

  /** Room for a frame of `mtu` (IP MTU on the TAP) plus Ethernet and VLAN headers, rounded to 64. */
  static slotSizeFor(mtu: number): number {
    const need = HEADROOM + Math.min(mtu, MAX_L2_MTU) + 14 + 4;
    return Math.ceil(need / 64) * 64;
  }

  /** Offload mode: room for a 64 KB TSO super-frame (plus Ethernet) or a 64 KB GRO'd datagram. */
  static offloadSlotSize(): number {
    return Math.ceil((HEADROOM + 14 + MAX_IP_PACKET) / 64) * 64;
  }

  /** Byte offset of the inner frame in slot i. */
  frameOffset(i: number): number {
    return i * this.slotSize + HEADROOM;
  }

  /** Byte offset of the VXLAN datagram in slot i. */
  datagramOffset(i: number): number {
    return i * this.slotSize + DGRAM_OFF;
  }

  /** Largest inner frame a slot holds. */
  get maxFrame(): number {
    return this.slotSize - HEADROOM;
  }
}

/** The messages of one send: message k carries slot `slot[k]` to `dst[k]`. A slot may go to many peers. */
export class SendList {
  readonly slot: Int32Array;
  readonly dst: Uint32Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.slot = new Int32Array(capacity);
    this.dst = new Uint32Array(capacity);
  }

  push(slot: number, dst: number): boolean {
    if (this.count === this.capacity) return false;
    this.slot[this.count] = slot;
    this.dst[this.count] = dst;
    this.count++;
    return true;
  }
}
