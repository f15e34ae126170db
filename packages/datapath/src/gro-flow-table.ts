/**
 * The receive coalescer's per-batch flow table: one open group (a candidate super-frame) per TCP
 * flow seen in the batch, found by the flow's IPv4 addresses and ports.
 *
 * Shaped like Linux's GRO list (net/core/gro.c: one held skb per flow, flushed at the end of the NAPI
 * poll) and wireguard-go's tcpGROTable (flows of one batch, reset after it), without allocation: the
 * groups are preallocated and handed out in arrival order; a small open-addressed index (linear probing,
 * at least twice the groups, keyed by a multiplicative hash of the 4-tuple) finds a flow's group in a
 * probe or two. Groups are never removed during a batch (a flow whose group was written keeps its slot
 * for its next segment), so the index needs no tombstones; `clear` forgets all flows at the batch's end
 * by zeroing only the index entries it used. When every group is taken, a new flow gets none: its
 * segments are written alone, which keeps its order (nothing of it is held).
 */
import { IoVecList } from './iovec-list.js';

export const MAX_GRO_SEGMENTS = 64;
/** The largest flow table (groups preallocated per VTEP; the index is an Int16Array). */
export const MAX_GRO_FLOWS = 4096;

/** One flow's open group: its key and the segments held so far (the head frame, then payloads). */
export class GroGroup {
  /** writev list: [virtio header, head frame, payload of segment 2, ...]. */
  readonly iov = new IoVecList(2 + MAX_GRO_SEGMENTS);
  saddr = 0;
  daddr = 0;
  /** Source port << 16 | destination port (as read: one 32-bit word). */
  ports = 0;
  /** Its entry in the index. */
  pos = 0;
  /** Segments held (0: none; the flow's earlier ones, if any, are written). */
  count = 0;
  head = 0;
  headSpare = false;
  thl = 0;
  mss = 0;
  payload = 0;
  frameBytes = 0;
  nextSeq = 0;
  nextId = 0;
  lastFlags = 0;
  /** The coalescer's frame clock at the group's last segment. */
  touched = 0;
}

export class GroFlowTable {
  readonly groups: readonly GroGroup[];
  /** Groups handed out this batch: groups[0 .. used). */
  used = 0;
  private readonly index: Int16Array;
  private readonly shift: number;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= MAX_GRO_FLOWS))
      throw new Error(`GRO flow table size ${capacity} out of range 1..${MAX_GRO_FLOWS}`);
    const bits = Math.max(1, Math.ceil(Math.log2(capacity * 2)));
    this.index = new Int16Array(1 << bits);
    this.shift = 32 - bits;
    this.groups = Array.from({ length: capacity }, () => new GroGroup());
  }

  /**
   * The flow's group in this batch. A flow not seen yet gets a fresh group (count 0) when `claim` and
   * one is free; otherwise null.
   */
  find(saddr: number, daddr: number, ports: number, claim: boolean): GroGroup | null {
    const mask = this.index.length - 1;
    let p = Math.imul(saddr ^ Math.imul(daddr, 0x9e3779b1) ^ Math.imul(ports, 0x85ebca6b), 0xc2b2ae35) >>> this.shift;
    for (let s = this.index[p]; s !== 0; s = this.index[p]) {
      const g = this.groups[s - 1];
      if (g.ports === ports && g.saddr === saddr && g.daddr === daddr) return g;
      p = (p + 1) & mask;
    }
    if (!claim || this.used === this.capacity) return null;
    const g = this.groups[this.used++];
    this.index[p] = this.used;
    g.saddr = saddr;
    g.daddr = daddr;
    g.ports = ports;
    g.pos = p;
    g.count = 0;
    return g;
  }

  /** Forgets every flow (their groups must have been written). */
  clear(): void {
    for (let i = 0; i < this.used; i++) this.index[this.groups[i].pos] = 0;
    this.used = 0;
  }
}
