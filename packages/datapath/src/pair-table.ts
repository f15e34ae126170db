/**
 * An open-addressed hash table keyed by a (16-bit, 32-bit) pair, over typed arrays.
 *
 * It holds MAC addresses (hi = octets 0-1, lo = octets 2-5) for the FDB and IPv4 addresses (hi = 0,
 * lo = address) for the peer set. `find` is what the hot path calls: a few integer ops and typed-array
 * reads, no allocation, no boxed numbers (a JS Map keyed by a 48-bit number would box the key).
 * Linear probing; deletes leave tombstones; the table rebuilds itself (off the hot path) when live
 * entries plus tombstones pass 70% of capacity.
 */

const EMPTY = -1;
const TOMBSTONE = -2;

export class PairTable {
  private bits: number;
  private mask: number;
  keyHi: Int32Array;
  keyLo: Uint32Array;
  value: Uint32Array;
  private live = 0;
  private tombs = 0;

  constructor(initialCapacity = 256) {
    let bits = 4;
    while (1 << bits < initialCapacity) bits++;
    this.bits = bits;
    this.mask = (1 << bits) - 1;
    this.keyHi = new Int32Array(1 << bits).fill(EMPTY);
    this.keyLo = new Uint32Array(1 << bits);
    this.value = new Uint32Array(1 << bits);
  }

  get size(): number {
    return this.live;
  }
  get capacity(): number {
    return this.mask + 1;
  }

  private home(hi: number, lo: number): number {
    return Math.imul(lo ^ (hi << 16) ^ hi, 0x9e3779b1) >>> (32 - this.bits);
  }

  /** Slot of (hi, lo), or -1. */
  find(hi: number, lo: number): number {
    const kh = this.keyHi;
    const kl = this.keyLo;
    const mask = this.mask;
    let i = this.home(hi, lo);
    for (;;) {
      const h = kh[i];
      if (h === EMPTY) return -1;
      if (h === hi && kl[i] === lo) return i;
      i = (i + 1) & mask;
    }
  }

  /** Inserts or updates; returns the slot. Slots stay valid until the next insert (which may rebuild). */
  set(hi: number, lo: number, value: number): number {
    const found = this.find(hi, lo);
    if (found >= 0) {
      this.value[found] = value;
      return found;
    }
    if ((this.live + this.tombs + 1) * 10 > this.capacity * 7) this.rebuild();
    let i = this.home(hi, lo);
    while (this.keyHi[i] >= 0) i = (i + 1) & this.mask;
    if (this.keyHi[i] === TOMBSTONE) this.tombs--;
    this.keyHi[i] = hi;
    this.keyLo[i] = lo >>> 0;
    this.value[i] = value;
    this.live++;
    return i;
  }

  delete(hi: number, lo: number): boolean {
    const i = this.find(hi, lo);
    if (i < 0) return false;
    this.keyHi[i] = TOMBSTONE;
    this.live--;
    this.tombs++;
    return true;
  }

  /** Calls `fn(slot)` for every live slot. */
  forEach(fn: (slot: number) => void): void {
    for (let i = 0; i <= this.mask; i++) if (this.keyHi[i] >= 0) fn(i);
  }

  clear(): void {
    this.keyHi.fill(EMPTY);
    this.live = 0;
    this.tombs = 0;
  }

  /** Called when a rebuild moves entries: subclasses with per-slot arrays move theirs too. */
  protected onRebuild(_oldSlots: Int32Array): void {}

  private rebuild(): void {
    const oldHi = this.keyHi;
    const oldLo = this.keyLo;
    const oldVal = this.value;
    const grow = this.live > this.capacity * 0.35 ? 1 : 0; // else only tombstones are cleared
    this.bits += grow;
    this.mask = (1 << this.bits) - 1;
    this.keyHi = new Int32Array(this.mask + 1).fill(EMPTY);
    this.keyLo = new Uint32Array(this.mask + 1);
    this.value = new Uint32Array(this.mask + 1);
    this.live = 0;
    this.tombs = 0;
    // newSlotOf[oldSlot] = new slot, for subclasses that keep per-slot data.
    const moved = new Int32Array(oldHi.length).fill(-1);
    for (let i = 0; i < oldHi.length; i++) {
      if (oldHi[i] >= 0) moved[i] = this.set(oldHi[i], oldLo[i], oldVal[i]);
    }
    this.onRebuild(moved);
  }
}
