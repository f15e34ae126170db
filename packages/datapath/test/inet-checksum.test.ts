import { describe, expect, it } from 'vitest';
import { byteViews, completePartialChecksum, finish, fold, pseudoSum4, sum16, writeIpv4Checksum } from '../src/inet-checksum.js';
import { PacketArena } from '../src/packet-arena.js';
import { checksumMemory } from '../src/wasm-checksum.js';
import { ipv4ChecksumOk, l4ChecksumOk, prng, randomBytes, refSum, tcpFrame, udpFrame, countingPayload } from './packets.js';

describe('Internet checksum (RFC 1071) over arena memory', () => {
  it('matches a plain byte-pair sum at every alignment and length', () => {
    const v = byteViews(new ArrayBuffer(4096));
    const rand = prng(7);
    v.u8.set(randomBytes(rand, 4096));
    for (let off = 0; off < 9; off++) {
      for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 1397, 1398, 1400, 3000]) {
        expect(sum16(v, off, len), `off ${off} len ${len}`).toBe(refSum(v.u8.subarray(off, off + len)));
      }
    }
  });

  it('gives the same sums from WebAssembly SIMD memory (offload arenas) as the plain loop', () => {
    expect(checksumMemory(1000)).toBeDefined(); // Node 20 has WebAssembly SIMD
    const arena = new PacketArena(2, PacketArena.offloadSlotSize(), 4096);
    expect(arena.sumWords).toBeDefined();
    const rand = prng(9);
    arena.u8.set(randomBytes(rand, 70000), 100);
    for (let off = 100; off < 120; off++) {
      for (const len of [127, 128, 129, 143, 144, 1398, 1400, 9000, 65535]) {
        expect(sum16(arena, off, len), `off ${off} len ${len}`).toBe(refSum(arena.u8.subarray(off, off + len)));
      }
    }
    arena.u8.fill(0xff);
    expect(sum16(arena, 0, 65536)).toBe(0xffff);
    expect(new PacketArena(2, 1536).sumWords).toBeUndefined(); // per-packet arenas stay plain
  });

  it('keeps the SIMD sum exact over long lengths, across its unroll and 256 KiB chunk boundaries', () => {
    const chunk = 0x40000; // the module's chunk of 32-bit lane sums
    const mem = checksumMemory(4 * chunk + 4096)!;
    const v = { ...byteViews(mem.buffer), sumWords: mem.sumWords };
    const lens = [16, 32, 48, 64, 80, 112, 128, 144, 176, 192, 1392, 65536];
    for (const base of [chunk, 2 * chunk, 4 * chunk]) for (const d of [-64, -48, -16, 0, 16, 48, 64, 80]) lens.push(base + d);
    const raw = (off: number, len: number): number => {
      const r = mem.sumWords(off, len);
      expect(r, `raw off ${off} len ${len}`).toBeGreaterThanOrEqual(0);
      expect(r, `raw off ${off} len ${len}`).toBeLessThanOrEqual(0xffff);
      return (((r & 0xff) << 8) | (r >>> 8)) % 0xffff; // little-endian words' sum, 0 and 0xffff alike
    };
    const rand = prng(11);
    for (const [name, fill] of [
      ['random', () => v.u8.set(randomBytes(rand, 4 * chunk + 1024))],
      ['all 0xff', () => v.u8.fill(0xff)],
    ] as const) {
      fill();
      for (const len of lens) {
        for (const off of len > 4096 ? [0, 4, 1030] : [0, 1, 2, 4, 12]) {
          expect(raw(off, len), `${name} off ${off} len ${len}`).toBe(refSum(v.u8.subarray(off, off + len)) % 0xffff);
        }
        for (const extra of [0, 1, 15]) {
          const off = len > 4096 ? 2 : 0;
          expect(sum16(v, off, len + extra), `${name} sum16 len ${len + extra}`).toBe(refSum(v.u8.subarray(off, off + len + extra)));
        }
      }
    }
    v.u8.fill(0xff);
    expect(mem.sumWords(0, 1 << 20)).toBe(0xffff); // 65536 steps of 2 * 0xffff per lane: would wrap 32-bit lanes
    expect(sum16(v, 0, 1 << 20)).toBe(0xffff);
    v.u8.fill(0);
    expect(mem.sumWords(0, 1 << 20)).toBe(0);
    expect(mem.sumWords(0, 0)).toBe(0);
  });

  it('handles all-ones data (carries on every word)', () => {
    const v = byteViews(new ArrayBuffer(70000));
    v.u8.fill(0xff);
    expect(sum16(v, 1, 65535)).toBe(refSum(v.u8.subarray(1, 65536)));
    expect(sum16(v, 2, 65534)).toBe(0xffff);
  });

  it('folds and finishes', () => {
    expect(fold(0x1fffe)).toBe(0xffff);
    expect(fold(0x2_0000_0001)).toBe(3);
    expect(finish(0xffff)).toBe(0);
    expect(pseudoSum4(0x0a000001, 0x0a000002, 6, 20)).toBe(refSum([10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 20]));
  });

  it('writes an IPv4 header checksum that verifies', () => {
    const f = tcpFrame({ payload: new Uint8Array(10), ipOptions: [1, 1, 1, 0] });
    const v = byteViews(new ArrayBuffer(256));
    v.u8.set(f, 2);
    v.u8[2 + 24] = 0xde; // spoil it
    writeIpv4Checksum(v, 2 + 14, 24);
    expect(ipv4ChecksumOk(v.u8.slice(2, 2 + f.length))).toBe(true);
    expect([...v.u8.slice(2, 2 + f.length)]).toEqual([...f]);
  });

  it('completes partial TCP and UDP checksums (csum_start/csum_offset)', () => {
    const v = byteViews(new ArrayBuffer(4096));
    const tcp = tcpFrame({ payload: countingPayload(999) }, 'partial');
    v.u8.set(tcp, 64);
    expect(completePartialChecksum(v, 64, tcp.length, 34, 16)).toBe(true);
    expect(l4ChecksumOk(v.u8.slice(64, 64 + tcp.length))).toBe(true);
    const udp = udpFrame(countingPayload(61));
    v.u8.set(udp, 1001);
    expect(completePartialChecksum(v, 1001, udp.length, 34, 6)).toBe(true);
    expect(l4ChecksumOk(v.u8.slice(1001, 1001 + udp.length))).toBe(true);
    expect(completePartialChecksum(v, 64, 60, 34, 30)).toBe(false);
    expect(completePartialChecksum(v, 64, 60, 60, 0)).toBe(false);
  });
});
