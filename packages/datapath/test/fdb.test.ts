import { describe, expect, it } from 'vitest';
import { Fdb } from '../src/fdb.js';
import { parseIpv4, formatMac, parseMac } from '@weft/netbase';
import { PairTable } from '../src/pair-table.js';

const mac = (s: string) => parseMac(s);
const ip = (s: string) => parseIpv4(s);

describe('Fdb', () => {
  it('looks up pinned entries and tracks peers by reference count', () => {
    const f = new Fdb();
    const a = mac('02:00:00:00:00:0a');
    const b = mac('02:00:00:00:00:0b');
    f.setPinned(a.hi, a.lo, ip('192.168.1.2'));
    f.setPinned(b.hi, b.lo, ip('192.168.1.2'));
    expect(f.lookup(a.hi, a.lo)).toBe(ip('192.168.1.2'));
    expect(f.isPeer(ip('192.168.1.2'))).toBe(true);
    expect(f.peerCount).toBe(1);
    f.delete(a.hi, a.lo);
    expect(f.lookup(a.hi, a.lo)).toBe(-1);
    expect(f.isPeer(ip('192.168.1.2'))).toBe(true); // b still uses it
    f.delete(b.hi, b.lo);
    expect(f.isPeer(ip('192.168.1.2'))).toBe(false);
    expect(f.size).toBe(0);
  });

  it('moves a pinned entry to a new underlay address and releases the old peer', () => {
    const f = new Fdb();
    const a = mac('02:00:00:00:00:0a');
    f.setPinned(a.hi, a.lo, ip('10.0.0.1'));
    f.setPinned(a.hi, a.lo, ip('10.0.0.2'));
    expect(f.lookup(a.hi, a.lo)).toBe(ip('10.0.0.2'));
    expect(f.isPeer(ip('10.0.0.1'))).toBe(false);
    expect(f.peerCount).toBe(1);
  });

  it('learns, refreshes and moves learned entries, but never overrides a pinned one', () => {
    const f = new Fdb();
    const p = mac('02:00:00:00:00:01');
    const l = mac('0a:58:0a:f4:01:05');
    f.setPinned(p.hi, p.lo, ip('10.0.0.1'));
    expect(f.learn(p.hi, p.lo, ip('10.0.0.9'), 0)).toBe(false);
    expect(f.lookup(p.hi, p.lo)).toBe(ip('10.0.0.1'));
    expect(f.learn(l.hi, l.lo, ip('10.0.0.1'), 0)).toBe(true);
    expect(f.learn(l.hi, l.lo, ip('10.0.0.1'), 10)).toBe(false); // refresh only
    expect(f.learn(l.hi, l.lo, ip('10.0.0.2'), 20)).toBe(true); // moved
    expect(f.lookup(l.hi, l.lo)).toBe(ip('10.0.0.2'));
    expect(f.learnedCount).toBe(1);
    expect(f.entries(20).map((e) => [e.mac, e.kind])).toEqual([
      ['02:00:00:00:00:01', 'pinned'],
      ['0a:58:0a:f4:01:05', 'learned'],
    ]);
  });

  it('ages learned entries out after ageingMs without traffic; pinned entries stay', () => {
    const f = new Fdb({ ageingMs: 1000 });
    const p = mac('02:00:00:00:00:01');
    const l1 = mac('0a:00:00:00:00:01');
    const l2 = mac('0a:00:00:00:00:02');
    f.setPinned(p.hi, p.lo, ip('10.0.0.1'));
    f.learn(l1.hi, l1.lo, ip('10.0.0.1'), 0);
    f.learn(l2.hi, l2.lo, ip('10.0.0.1'), 0);
    f.learn(l2.hi, l2.lo, ip('10.0.0.1'), 900); // traffic refreshes l2
    expect(f.age(1500)).toBe(1);
    expect(f.lookup(l1.hi, l1.lo)).toBe(-1);
    expect(f.lookup(l2.hi, l2.lo)).toBe(ip('10.0.0.1'));
    expect(f.lookup(p.hi, p.lo)).toBe(ip('10.0.0.1'));
    expect(f.age(5000)).toBe(1);
    expect(f.learnedCount).toBe(0);
    expect(f.size).toBe(1);
  });

  it('bounds learned entries with the LRU: the least recently learned goes first', () => {
    const f = new Fdb({ learnMax: 8 });
    for (let i = 0; i < 20; i++) f.learn(0x0a00, i, ip('10.0.0.1'), i);
    expect(f.learnedCount).toBe(8);
    expect(f.size).toBe(8);
    expect(f.lookup(0x0a00, 0)).toBe(-1);
    expect(f.lookup(0x0a00, 19)).toBe(ip('10.0.0.1'));
    expect(f.lookup(0x0a00, 12)).toBe(ip('10.0.0.1'));
    expect(f.lookup(0x0a00, 11)).toBe(-1);
  });

  it('a pinned entry replaces a learned one for the same MAC', () => {
    const f = new Fdb();
    const m = mac('0a:00:00:00:00:07');
    f.learn(m.hi, m.lo, ip('10.0.0.1'), 0);
    f.setPinned(m.hi, m.lo, ip('10.0.0.3'));
    expect(f.learnedCount).toBe(0);
    expect(f.lookup(m.hi, m.lo)).toBe(ip('10.0.0.3'));
    expect(f.age(10_000_000)).toBe(0);
    expect(f.lookup(m.hi, m.lo)).toBe(ip('10.0.0.3'));
  });

  it('copies the flood list without allocating an array per call', () => {
    const f = new Fdb();
    for (let i = 1; i <= 5; i++) f.setPinned(0x0200, i, ip(`10.0.0.${i}`));
    const out = new Uint32Array(16);
    expect(f.copyPeers(out)).toBe(5);
    expect([...out.subarray(0, 5)].sort()).toEqual([1, 2, 3, 4, 5].map((i) => ip(`10.0.0.${i}`)).sort());
  });
});

describe('PairTable', () => {
  it('survives many inserts and deletes (rebuilds, tombstones) with exact contents', () => {
    const t = new PairTable(16);
    const ref = new Map<string, number>();
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let n = 0; n < 20_000; n++) {
      const hi = rnd() & 0xf;
      const lo = rnd() & 0x3ff;
      const k = `${hi}:${lo}`;
      if (rnd() % 3 === 0) {
        expect(t.delete(hi, lo)).toBe(ref.delete(k));
      } else {
        const v = rnd();
        t.set(hi, lo, v);
        ref.set(k, v);
      }
    }
    expect(t.size).toBe(ref.size);
    for (const [k, v] of ref) {
      const [hi, lo] = k.split(':').map(Number) as [number, number];
      expect(t.value[t.find(hi, lo)]).toBe(v);
    }
  });

  it('keys on the full 48 bits of a MAC', () => {
    const t = new PairTable();
    const a = parseMac('ff:ff:ff:ff:ff:ff');
    const b = parseMac('ff:fe:ff:ff:ff:ff');
    t.set(a.hi, a.lo, 1);
    t.set(b.hi, b.lo, 2);
    expect(t.value[t.find(a.hi, a.lo)]).toBe(1);
    expect(t.value[t.find(b.hi, b.lo)]).toBe(2);
    expect(formatMac(a.hi, a.lo)).toBe('ff:ff:ff:ff:ff:ff');
  });
});
