import { describe, expect, it } from 'vitest';
import { VXLAN_BAD_FLAGS, VXLAN_HEADER_LEN, assertPort, assertVni, readVxlanVni, writeVxlanHeader } from '../src/vxlan-header.js';

function header(bytes: number[]): DataView {
  return new DataView(new Uint8Array(bytes).buffer);
}

describe('VXLAN header (RFC 7348 §5)', () => {
  it('writes flags 0x08, zero reserved bits and the 24-bit VNI in network order', () => {
    const b = new Uint8Array(16).fill(0xee);
    writeVxlanHeader(new DataView(b.buffer), 4, 0x123456);
    expect([...b.subarray(4, 4 + VXLAN_HEADER_LEN)]).toEqual([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00]);
    expect(b[3]).toBe(0xee); // nothing written outside the 8 bytes
    expect(b[12]).toBe(0xee);
  });

  it('round-trips every boundary VNI', () => {
    for (const vni of [0, 1, 42, 0xffff, 0x10000, 0xfffffe, 0xffffff]) {
      const dv = new DataView(new ArrayBuffer(8));
      writeVxlanHeader(dv, 0, vni);
      expect(readVxlanVni(dv, 0)).toBe(vni);
    }
  });

  it('matches the bytes Linux vxlan puts on the wire for VNI 1', () => {
    expect(readVxlanVni(header([0x08, 0, 0, 0, 0, 0, 1, 0]), 0)).toBe(1);
  });

  it('rejects a header without the I flag', () => {
    expect(readVxlanVni(header([0x00, 0, 0, 0, 0, 0, 1, 0]), 0)).toBe(VXLAN_BAD_FLAGS);
    expect(readVxlanVni(header([0xf7, 0xff, 0xff, 0xff, 0, 0, 1, 0xff]), 0)).toBe(VXLAN_BAD_FLAGS);
  });

  it('ignores reserved bits on receipt, as the RFC says', () => {
    expect(readVxlanVni(header([0xff, 0xff, 0xff, 0xff, 0, 0, 7, 0xff]), 0)).toBe(7);
  });

  it('validates VNI and port ranges with clear messages', () => {
    expect(() => assertVni(-1)).toThrow(/VNI -1 out of range/);
    expect(() => assertVni(0x1000000)).toThrow(/out of range/);
    expect(() => assertVni(1.5)).toThrow(/out of range/);
    expect(assertVni(1)).toBe(1);
    expect(() => assertPort(0)).toThrow(/UDP port 0/);
    expect(() => assertPort(65536)).toThrow(/UDP port/);
    expect(assertPort(8472)).toBe(8472);
  });
});
