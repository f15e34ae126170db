/**
 * The forwarding database: inner destination MAC -> underlay IPv4 of the VTEP that owns it.
 *
 * - Pinned entries are what the control plane programs (one per remote node: its VtepMAC -> PublicIP,
 *   flannel's pattern). They are never aged and never overwritten by learning.
 * - Learned entries (source MAC of a decapsulated frame -> outer source IP) are optional (flannel runs
 *   the kernel device with `nolearning`), accepted only from known peers, bounded by an lru-cache (the
 *   least recently refreshed entry goes first) and aged out after `ageingMs` without traffic.
 * - The peer set (distinct underlay addresses of pinned entries) answers "is this sender one of ours?"
 *   for the decap path's source check, and is the flood list.
 *
 * `lookup`, `isPeer` and the refresh branch of `learn` run per packet: typed-array reads and writes
 * only. Inserting a new learned MAC allocates (the lru-cache node), which is rare by construction:
 * once per MAC per ageing period.
 */
import { LRUCache } from 'lru-cache';
import { PairTable } from './pair-table.js';
import { formatIpv4, formatMac } from '@weft/netbase';

export const FDB_PINNED = 1;
export const FDB_LEARNED = 2;

export interface FdbEntry {
  mac: string;
  remote: string;
  kind: 'pinned' | 'learned';
  /** For learned entries: ms since the last frame from this MAC. */
  idleMs?: number;
}

export interface FdbOptions {
  learnMax?: number; // bound on learned entries (default 4096)
  ageingMs?: number; // learned entry lifetime without traffic (default 300 s, the kernel's bridge/vxlan default)
}

/** PairTable with per-slot kind and last-seen time, kept in step when the table rebuilds. */
class FdbTable extends PairTable {
  kind = new Uint8Array(this.capacity);
  seen = new Float64Array(this.capacity);

  protected override onRebuild(moved: Int32Array): void {
    const kind = new Uint8Array(this.capacity);
    const seen = new Float64Array(this.capacity);
    for (let i = 0; i < moved.length; i++) {
      const j = moved[i];
      if (j >= 0) {
        kind[j] = this.kind[i]!;
        seen[j] = this.seen[i]!;
      }
    }
    this.kind = kind;
    this.seen = seen;
  }
}

const TWO32 = 0x1_0000_0000;

export class Fdb {
  private readonly table = new FdbTable(256);
  private readonly peers = new PairTable(64); // value = number of pinned entries using this address
  private readonly learned: LRUCache<number, true>;
  readonly ageingMs: number;

  constructor(opts: FdbOptions = {}) {
    this.ageingMs = opts.ageingMs ?? 300_000;
    this.learned = new LRUCache<number, true>({
      max: opts.learnMax ?? 4096,
      dispose: (_v, key, reason) => {
        if (reason === 'set') return; // refreshed in place, still learned
        const hi = Math.floor(key / TWO32);
        const lo = key % TWO32;
        const slot = this.table.find(hi, lo);
        if (slot >= 0 && this.table.kind[slot] === FDB_LEARNED) this.table.delete(hi, lo);
      },
    });
  }

  get size(): number {
    return this.table.size;
  }
  get learnedCount(): number {
    return this.learned.size;
  }
  get peerCount(): number {
    return this.peers.size;
  }

  /** Underlay IPv4 (host order) for the MAC, or -1. Per packet; allocation-free. */
  lookup(hi: number, lo: number): number {
    const slot = this.table.find(hi, lo);
    return slot < 0 ? -1 : this.table.value[slot];
  }

  /** Is `ip` the underlay address of a pinned entry? Per packet; allocation-free. */
  isPeer(ip: number): boolean {
    return this.peers.find(0, ip) >= 0;
  }

  /** Programs a pinned entry (replacing a learned one for the same MAC). */
  setPinned(hi: number, lo: number, remote: number): void {
    const slot = this.table.find(hi, lo);
    if (slot >= 0) {
      if (this.table.kind[slot] === FDB_PINNED) {
        const old = this.table.value[slot];
        if (old === remote) return;
        this.unrefPeer(old);
      } else {
        this.learned.delete(hi * TWO32 + lo); // disposes nothing: we overwrite the slot below
      }
    }
    const s = this.table.set(hi, lo, remote);
    this.table.kind[s] = FDB_PINNED;
    this.refPeer(remote);
  }

  /** Removes a pinned or learned entry. Returns whether there was one. */
  delete(hi: number, lo: number): boolean {
    const slot = this.table.find(hi, lo);
    if (slot < 0) return false;
    if (this.table.kind[slot] === FDB_PINNED) {
      this.unrefPeer(this.table.value[slot]);
      this.table.delete(hi, lo);
    } else {
      this.learned.delete(hi * TWO32 + lo); // dispose removes it from the table
      this.table.delete(hi, lo);
    }
    return true;
  }

  /**
   * Source-MAC learning from a decapsulated frame whose outer source `remote` is a known peer.
   * Returns true when the FDB changed (a new MAC, or a MAC that moved to another peer).
   */
  learn(hi: number, lo: number, remote: number, nowMs: number): boolean {
    const slot = this.table.find(hi, lo);
    if (slot >= 0) {
      if (this.table.kind[slot] === FDB_PINNED) return false;
      this.table.seen[slot] = nowMs;
      if (this.table.value[slot] === remote) return false;
      this.table.value[slot] = remote;
      return true;
    }
    this.learned.set(hi * TWO32 + lo, true); // may evict (and dispose) the least recent learned entry
    const s = this.table.set(hi, lo, remote);
    this.table.kind[s] = FDB_LEARNED;
    this.table.seen[s] = nowMs;
    return true;
  }

  /**
   * Housekeeping, about once a second: drops learned entries idle for `ageingMs`, and tells the
   * lru-cache which entries saw traffic so that its eviction order follows the last frame seen.
   */
  age(nowMs: number): number {
    let removed = 0;
    for (const key of [...this.learned.rkeys()]) {
      const hi = Math.floor(key / TWO32);
      const lo = key % TWO32;
      const slot = this.table.find(hi, lo);
      if (slot < 0) {
        this.learned.delete(key);
        continue;
      }
      const idle = nowMs - this.table.seen[slot];
      if (idle >= this.ageingMs) {
        this.learned.delete(key);
        removed++;
      } else if (idle < 1500) {
        this.learned.get(key); // refresh recency
      }
    }
    return removed;
  }

  /** Calls fn with each peer's underlay address (the flood list). */
  forEachPeer(fn: (ip: number) => void): void {
    this.peers.forEach((slot) => fn(this.peers.keyLo[slot]));
  }

  /** Copies the peer addresses into `out`; returns how many. Allocation-free (for flooding). */
  copyPeers(out: Uint32Array): number {
    let n = 0;
    const t = this.peers;
    for (let i = 0; i < t.capacity && n < out.length; i++) if (t.keyHi[i] >= 0) out[n++] = t.keyLo[i]!;
    return n;
  }

  entries(nowMs = Date.now()): FdbEntry[] {
    const out: FdbEntry[] = [];
    const t = this.table;
    t.forEach((slot) => {
      const e: FdbEntry = {
        mac: formatMac(t.keyHi[slot], t.keyLo[slot]),
        remote: formatIpv4(t.value[slot]),
        kind: t.kind[slot] === FDB_PINNED ? 'pinned' : 'learned',
      };
      if (e.kind === 'learned') e.idleMs = Math.max(0, nowMs - t.seen[slot]);
      out.push(e);
    });
    return out.sort((a, b) => (a.mac < b.mac ? -1 : 1));
  }

  clear(): void {
    this.learned.clear();
    this.table.clear();
    this.peers.clear();
  }

  private refPeer(ip: number): void {
    const slot = this.peers.find(0, ip);
    if (slot >= 0) this.peers.value[slot]++;
    else this.peers.set(0, ip, 1);
  }

  private unrefPeer(ip: number): void {
    const slot = this.peers.find(0, ip);
    if (slot < 0) return;
    if (this.peers.value[slot] <= 1) this.peers.delete(0, ip);
    else this.peers.value[slot]--;
  }
}
