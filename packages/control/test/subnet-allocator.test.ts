import { describe, expect, it } from 'vitest';
import { freeSubnets, isSubnetCompatible, MAX_CANDIDATES, pickFreeSubnet, subnetRange } from '../src/subnet/subnet-allocator.js';
import { formatIpv4Cidr, parseIpv4Cidr } from '@weft/netbase';
import { parseNetConf } from '../src/config/net-conf.js';

const range = (doc: object) => subnetRange(parseNetConf(JSON.stringify({ Backend: { Type: 'vxlan' }, ...doc })).config);
const c = (t: string) => parseIpv4Cidr(t);
const names = (l: { base: number; prefixLen: number }[]) => l.map(formatIpv4Cidr);

describe('subnet allocation', () => {
  it('offers the first 100 free subnets from SubnetMin, skipping taken ones', () => {
    const r = range({ Network: '10.244.0.0/16' });
    const free = freeSubnets(r, [c('10.244.1.0/24'), c('10.244.3.0/24')]);
    expect(free).toHaveLength(MAX_CANDIDATES);
    expect(names(free.slice(0, 3))).toEqual(['10.244.2.0/24', '10.244.4.0/24', '10.244.5.0/24']);
  });

  it('treats a lease of another length as taking every subnet it overlaps', () => {
    const r = range({ Network: '10.244.0.0/16' });
    const free = freeSubnets(r, [c('10.244.0.0/22'), c('10.244.5.128/25')], 3);
    expect(names(free)).toEqual(['10.244.4.0/24', '10.244.6.0/24', '10.244.7.0/24']);
  });

  it('picks at random within the window', () => {
    const r = range({ Network: '10.244.0.0/16' });
    expect(formatIpv4Cidr(pickFreeSubnet(r, [], () => 0)!)).toBe('10.244.1.0/24');
    expect(formatIpv4Cidr(pickFreeSubnet(r, [], () => 0.9999)!)).toBe('10.244.100.0/24');
    expect(formatIpv4Cidr(pickFreeSubnet(r, [], () => 1)!)).toBe('10.244.100.0/24');
  });

  it('stays within SubnetMin..SubnetMax', () => {
    const r = range({ Network: '10.244.0.0/16', SubnetMin: '10.244.10.0', SubnetMax: '10.244.12.0' });
    expect(names(freeSubnets(r, []))).toEqual(['10.244.10.0/24', '10.244.11.0/24', '10.244.12.0/24']);
  });

  it('reports a full network as undefined', () => {
    const r = range({ Network: '10.9.0.0/28' }); // /30 subnets 10.9.0.4, .8, .12
    const taken = [c('10.9.0.4/30'), c('10.9.0.8/30'), c('10.9.0.12/30')];
    expect(pickFreeSubnet(r, taken)).toBeUndefined();
    expect(names(freeSubnets(r, taken.slice(1)))).toEqual(['10.9.0.4/30']);
  });

  it('handles a crowded /8 quickly (sweep, not subnets x leases)', () => {
    const r = range({ Network: '10.0.0.0/8' });
    const taken = Array.from({ length: 60_000 }, (_, i) => ({ base: r.min + i * 256, prefixLen: 24 }));
    const t0 = performance.now();
    const free = freeSubnets(r, taken);
    expect(performance.now() - t0).toBeLessThan(2000); // ~100 ms here; subnets x leases would take minutes
    expect(formatIpv4Cidr(free[0]!)).toBe(formatIpv4Cidr({ base: r.min + 60_000 * 256, prefixLen: 24 }));
  });

  it('knows which existing subnets still fit the config', () => {
    const r = range({ Network: '10.244.0.0/16', SubnetMin: '10.244.10.0' });
    expect(isSubnetCompatible(r, c('10.244.10.0/24'))).toBe(true);
    expect(isSubnetCompatible(r, c('10.244.9.0/24'))).toBe(false); // below SubnetMin
    expect(isSubnetCompatible(r, c('10.244.10.0/25'))).toBe(false); // wrong length
    expect(isSubnetCompatible(r, c('10.245.10.0/24'))).toBe(false); // outside
  });
});
