import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../dist/index.js';
import {
  cidrsOverlap,
  containsAddress,
  containsCidr,
  firstUsable,
  formatIpv4Cidr,
  isAligned,
  lastAddress,
  parseIpv4Cidr,
  subnetsBetween,
} from '../dist/index.js';

const c = (t: string) => parseIpv4Cidr(t);

describe('IPv4 CIDR blocks', () => {
  it('parses strictly and formats back', () => {
    expect(c('10.244.3.0/24')).toEqual({ base: parseIpv4('10.244.3.0'), prefixLen: 24, hadHostBits: false });
    expect(formatIpv4Cidr(c('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(formatIpv4Cidr(c('192.168.1.7/32'))).toBe('192.168.1.7/32');
    expect(() => c('10.244.3.1/24')).toThrow(/host bits set \(the network is 10\.244\.3\.0\/24\)/);
    expect(() => c('10.244.3.0')).toThrow(/not an IPv4 CIDR/);
    expect(() => c('10.244.3.0/40')).toThrow(/prefix length 40/);
    expect(() => c('10.244.3.0/24 ')).toThrow(/not an IPv4 CIDR/);
  });

  it('masks host bits only when asked', () => {
    const p = parseIpv4Cidr('10.244.3.1/24', { allowHostBits: true });
    expect(formatIpv4Cidr(p)).toBe('10.244.3.0/24');
    expect(p.hadHostBits).toBe(true);
  });

  it('answers containment, overlap, alignment, first usable and last address', () => {
    const net = c('10.244.0.0/16');
    expect(containsCidr(net, c('10.244.9.0/24'))).toBe(true);
    expect(containsCidr(net, c('10.245.0.0/24'))).toBe(false);
    expect(containsCidr(c('10.244.9.0/24'), net)).toBe(false);
    expect(containsAddress(net, parseIpv4('10.244.255.255'))).toBe(true);
    expect(cidrsOverlap(c('10.244.0.0/23'), c('10.244.1.0/24'))).toBe(true);
    expect(cidrsOverlap(c('10.244.0.0/24'), c('10.244.1.0/24'))).toBe(false);
    expect(isAligned(parseIpv4('10.244.1.128'), 25)).toBe(true);
    expect(isAligned(parseIpv4('10.244.1.128'), 24)).toBe(false);
    expect(firstUsable(c('10.244.1.0/24'))).toBe(parseIpv4('10.244.1.1'));
    expect(lastAddress(c('255.255.255.0/24'))).toBe(0xffffffff);
  });

  it('iterates subnets between two bases, including at the top of the address space', () => {
    const list = [...subnetsBetween(parseIpv4('255.255.254.0'), parseIpv4('255.255.255.0'), 24)].map(formatIpv4Cidr);
    expect(list).toEqual(['255.255.254.0/24', '255.255.255.0/24']);
  });
});
