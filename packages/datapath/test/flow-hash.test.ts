import { describe, expect, it } from 'vitest';
import { flowSource } from '../src/flow-hash.js';
import { GsoBatch } from '../src/gso-batch.js';
import { tcpFrame } from './packets.js';

const view = (f: Uint8Array): DataView => new DataView(f.buffer, f.byteOffset, f.byteLength);
const payload = new Uint8Array(100);

describe('flow entropy: the inner flow picks the source socket', () => {
  it('one flow always maps to one source; its payload and sequence numbers do not matter', () => {
    const a = tcpFrame({ sport: 40001, payload, seq: 1 });
    const b = tcpFrame({ sport: 40001, payload: new Uint8Array(900).fill(7), seq: 99999 });
    expect(flowSource(view(a), 0, a.length, 8)).toBe(flowSource(view(b), 0, b.length, 8));
  });

  it('distinct flows spread over the sources', () => {
    const used = new Set<number>();
    for (let p = 0; p < 64; p++) {
      const f = tcpFrame({ sport: 40000 + p, payload });
      const s = flowSource(view(f), 0, f.length, 8);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(8);
      used.add(s);
    }
    expect(used.size).toBe(8);
  });

  it('non-IPv4 frames and runts hash their MAC addresses without reading past the frame', () => {
    const arp = new Uint8Array(60);
    arp.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x06]);
    expect(flowSource(view(arp), 0, arp.length, 8)).toBe(flowSource(view(arp), 0, arp.length, 8));
    const runt = arp.subarray(0, 20);
    expect(flowSource(view(runt), 0, 20, 4)).toBeLessThan(4);
  });

  it('GsoBatch: equal-sized datagrams of two flows to one peer join only within their flow', () => {
    const srcOf = (sport: number): number => flowSource(view(tcpFrame({ sport, payload })), 0, 14 + 40 + payload.length, 8);
    let other = 40002;
    while (srcOf(other) === srcOf(40001)) other++;
    const frames = [40001, other, 40001, other].map((sport) => tcpFrame({ sport, payload }));
    // datagram = 8-byte VXLAN header + frame, laid out one after another in an "arena"
    const size = 8 + frames[0]!.length;
    const arena = new Uint8Array(size * frames.length + 1024);
    frames.forEach((f, i) => arena.set(f, i * size + 8));
    const s1 = flowSource(view(frames[0]!), 0, frames[0]!.length, 8);
    const s2 = flowSource(view(frames[1]!), 0, frames[1]!.length, 8);
    const batch = new GsoBatch(16, 16, size * frames.length, 1024);
    batch.spread(new DataView(arena.buffer), 8);
    frames.forEach((_, i) => batch.addDatagram(i * size, size, 0x0a000002));
    expect(s1).not.toBe(s2);
    expect(batch.count).toBe(4); // alternating flows: no two neighbours may join
    expect([...batch.src.subarray(0, 4)]).toEqual([s1, s2, s1, s2]);
    const plain = new GsoBatch(16, 16, size * frames.length, 1024);
    frames.forEach((_, i) => plain.addDatagram(i * size, size, 0x0a000002));
    expect(plain.count).toBe(1);
  });
});
