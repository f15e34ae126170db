/**
 * A scatter/gather list over one arena buffer: (offset, length) pairs, the shape of `struct iovec`
 * without the raw addresses. The offload routines describe what to send or write with these (a
 * segment's headers in the scratch region, its payload in place in the slot it was read into); the
 * Linux ports turn offsets into addresses (arena base + offset) when they fill the kernel's iovecs,
 * the in-memory ports copy the bytes. Fixed capacity, reused per batch: no allocation.
 */
export class IoVecList {
  readonly off: Int32Array;
  readonly len: Int32Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
  }

  push(off: number, len: number): void {
    const i = this.count;
    if (i === this.capacity) throw new Error(`iovec list full (${this.capacity})`);
    this.off[i] = off;
    this.len[i] = len;
    this.count = i + 1;
  }

  /** Total bytes of entries [from, from + n). */
  bytes(from = 0, n = this.count - from): number {
    let t = 0;
    for (let i = from; i < from + n; i++) t += this.len[i];
    return t;
  }
}
