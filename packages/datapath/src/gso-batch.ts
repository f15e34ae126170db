/**
 * GsoBatch: what one sendmmsg carries in offload mode.
 *
 * The unit is a *segment*: one VXLAN datagram as it will appear on the wire (VXLAN header + inner
 * frame), described by one or more iovecs into the arena. Consecutive segments to the same peer are
 * packed into one *message* that the kernel splits again at `segSize` bytes (UDP GSO, cmsg
 * UDP_SEGMENT), under the kernel's rules:
 *   - every segment but the last has exactly `segSize` bytes; a shorter one closes the message;
 *   - at most GSO_MAX_SEGMENTS segments and GSO_MAX_BYTES of UDP payload per message.
 * The segments of one TSO super-frame pack this way (a 64 KB frame of 1.4 KB segments makes two
 * messages), and so do runs of equal-sized small frames to one peer (64-byte UDP floods: one
 * message instead of 64). Without UDP GSO (`maxSegments` 1) every segment is its own message.
 *
 * A message's iovecs are contiguous in `iov` because a segment only ever joins the *last* message.
 * Per-segment headers (TSO) are carved from the arena's scratch region with `allocHeader`.
 * The caller checks `hasRoom` before adding a frame's segments and sends + `reset`s when full.
 */
import { flowSource } from './flow-hash.js';
import { IoVecList } from './iovec-list.js';
import { VXLAN_HEADER_LEN } from './vxlan-header.js';

/** Linux UDP_MAX_SEGMENTS on older kernels (newer allow 128). */
export const GSO_MAX_SEGMENTS = 64;
/** Largest UDP payload of one IPv4 datagram: 65535 - 20 (IP) - 8 (UDP). */
export const GSO_MAX_BYTES = 65507;

export class GsoBatch {
  readonly iov: IoVecList;
  readonly dst: Uint32Array;
  readonly firstIov: Int32Array;
  readonly iovCount: Int32Array;
  readonly segSize: Int32Array;
  readonly segs: Int32Array;
  readonly bytes: Int32Array;
  /** Flow entropy: the source socket of each message (flow-hash.ts); all 0 unless `spread` was called. */
  readonly src: Int32Array;
  count = 0;
  private sources = 1;
  private view: DataView | undefined;
  private open = false;
  private segStart = 0;
  private hdrNext: number;
  private readonly hdrEnd: number;

  constructor(
    readonly capacity: number,
    maxIovs: number,
    private readonly hdrBase: number,
    hdrBytes: number,
    readonly maxSegments = GSO_MAX_SEGMENTS,
  ) {
    this.iov = new IoVecList(maxIovs);
    this.dst = new Uint32Array(capacity);
    this.firstIov = new Int32Array(capacity);
    this.iovCount = new Int32Array(capacity);
    this.segSize = new Int32Array(capacity);
    this.segs = new Int32Array(capacity);
    this.bytes = new Int32Array(capacity);
    this.src = new Int32Array(capacity);
    this.hdrNext = hdrBase;
    this.hdrEnd = hdrBase + hdrBytes;
  }

  /**
   * Flow entropy on: each segment's inner flow (hashed from its headers in `view`, the arena) picks one
   * of `sources` sockets, and only segments of the same source join one message.
   */
  spread(view: DataView, sources: number): void {
    this.view = view;
    this.sources = sources;
  }

  reset(): void {
    this.count = 0;
    this.iov.count = 0;
    this.open = false;
    this.hdrNext = this.hdrBase;
  }

  /** Room for `segments` more segments using `iovs` iovecs and `hdrBytes` of header scratch? */
  hasRoom(segments: number, iovs: number, hdrBytes: number): boolean {
    return (
      this.count + segments <= this.capacity &&
      this.iov.count + iovs <= this.iov.capacity &&
      this.hdrNext + hdrBytes + 4 * segments <= this.hdrEnd
    );
  }

  /** Reserves `n` bytes of header scratch (4-byte aligned); returns their arena offset. */
  allocHeader(n: number): number {
    const at = this.hdrNext;
    this.hdrNext = (at + n + 3) & ~3;
    return at;
  }

  /** Starts a segment: the iovecs pushed from now until `endSegment` make it up. */
  beginSegment(): void {
    this.segStart = this.iov.count;
  }

  /**
   * Flow entropy: the source socket for the inner Ethernet frame at `f` (`len` bytes; its headers are
   * enough), 0 when entropy is off. Hashed once per frame: every segment cut from one TSO frame belongs
   * to its flow, so the segmenter asks once and passes the answer to each `endSegment`.
   */
  sourceOfFrame(f: number, len: number): number {
    return this.sources > 1 ? flowSource(this.view!, f, len, this.sources) : 0;
  }

  /**
   * Ends the segment begun last: `size` bytes to `dst`, from source socket `src` (`sourceOfFrame`);
   * joins the last message when the rules allow.
   */
  endSegment(dst: number, size: number, src: number): void {
    const n = this.iov.count - this.segStart;
    const m = this.count - 1;
    if (
      this.open &&
      this.dst[m] === dst &&
      this.src[m] === src &&
      this.segs[m] < this.maxSegments &&
      size <= this.segSize[m] &&
      this.bytes[m] + size <= GSO_MAX_BYTES
    ) {
      this.segs[m]++;
      this.bytes[m] += size;
      this.iovCount[m] += n;
      if (size < this.segSize[m]) this.open = false;
      return;
    }
    const k = this.count++;
    this.dst[k] = dst;
    this.src[k] = src;
    this.firstIov[k] = this.segStart;
    this.iovCount[k] = n;
    this.segSize[k] = size;
    this.segs[k] = 1;
    this.bytes[k] = size;
    this.open = this.maxSegments > 1;
  }

  /** Adds a segment that is one contiguous datagram (VXLAN header already in front of the frame). */
  addDatagram(off: number, size: number, dst: number): void {
    this.beginSegment();
    this.iov.push(off, size);
    this.endSegment(dst, size, this.sourceOfFrame(off + VXLAN_HEADER_LEN, size - VXLAN_HEADER_LEN));
  }
}
