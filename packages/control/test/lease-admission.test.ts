import { describe, expect, it } from 'vitest';
import {
  admitLeases,
  protectedAddress,
  protectedEndpoints,
  type AdmissionContext,
  type LeaseVerdict,
  type OrderedLease,
} from '../src/subnet/lease-admission.js';
import { parseIpv4Cidr } from '@weft/netbase';
import type { Lease } from '../src/subnet/types.js';

const ctx = (over: Partial<AdmissionContext> = {}): AdmissionContext => ({
  network: parseIpv4Cidr('10.0.0.0/8'),
  ownSubnet: parseIpv4Cidr('10.0.1.0/24'),
  publicIp: '192.168.7.1',
  vtepMac: '02:00:00:00:00:01',
  vni: 1,
  // The underlay (eth0) lies outside Network; a management interface (eth1), the default gateway and
  // etcd lie inside it, where only covers-node-address keeps a lease from routing them away.
  protectedNets: [
    protectedAddress('192.168.7.1', 'eth0 address')!,
    protectedAddress('192.168.7.0/24', 'eth0 network')!,
    protectedAddress('10.97.0.1', 'eth1 address')!,
    protectedAddress('10.97.0.0/24', 'eth1 network')!,
    protectedAddress('10.98.0.254', 'default gateway')!,
    ...protectedEndpoints(['http://10.99.0.100:2379', 'https://etcd.example:2379']),
  ],
  foreignRoutes: new Set(),
  ...over,
});

let nextOrder = 1;
function lease(subnet: string, publicIp: string, mac: string, order = nextOrder++, data: unknown = { VNI: 1, VtepMAC: mac }): OrderedLease {
  const l: Lease = { subnet, attrs: { PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: data } };
  return { lease: l, order };
}

function verdict(vs: LeaseVerdict[], subnet: string): string {
  const v = vs.find((x) => x.subnet === subnet);
  if (!v) return 'missing';
  return v.status === 'rejected' ? `rejected ${v.reason}` : v.status;
}

const one = (l: OrderedLease, c = ctx()): string => verdict(admitLeases([l], c), l.lease.subnet);

describe('lease admission', () => {
  it('accepts a well-formed peer lease inside the network and names our own lease "own"', () => {
    const vs = admitLeases(
      [lease('10.0.2.0/24', '192.168.7.2', '02:00:00:00:00:02'), lease('10.0.1.0/24', '192.168.7.1', '02:00:00:00:00:01')],
      ctx(),
    );
    expect(verdict(vs, '10.0.2.0/24')).toBe('accepted');
    expect(verdict(vs, '10.0.1.0/24')).toBe('own');
  });

  it('malformed: not our VNI, BackendData missing', () => {
    expect(one(lease('10.0.2.0/24', '192.168.7.2', '', 1, { VNI: 7, VtepMAC: '02:00:00:00:00:02' }))).toBe('rejected malformed');
    expect(one(lease('10.0.2.0/24', '192.168.7.2', '', 1, null))).toBe('rejected malformed');
  });

  it('invalid-vtep-mac: missing, not a MAC, multicast, broadcast, zero', () => {
    for (const mac of [undefined, 'zz:00:00:00:00:01', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00']) {
      expect(one(lease('10.0.2.0/24', '192.168.7.2', '', 1, { VNI: 1, VtepMAC: mac }))).toBe('rejected invalid-vtep-mac');
    }
  });

  it('outside-network: half the address space, the underlay of a node outside Network', () => {
    expect(one(lease('128.0.0.0/1', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected outside-network');
    expect(one(lease('192.168.60.0/24', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected outside-network');
    expect(one(lease('10.0.0.0/7', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected outside-network');
  });

  it('overlaps-own-subnet: a /25 in our /24, a /16 around it, our subnet with another PublicIP', () => {
    expect(one(lease('10.0.1.128/25', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected overlaps-own-subnet');
    expect(one(lease('10.0.0.0/16', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected overlaps-own-subnet');
    expect(one(lease('10.0.1.0/24', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected overlaps-own-subnet');
  });

  it('covers-node-address: a network of the node, one of its addresses, a /32 for etcd, the default gateway', () => {
    expect(one(lease('10.97.0.0/24', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected covers-node-address');
    expect(one(lease('10.97.0.1/32', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected covers-node-address');
    expect(one(lease('10.99.0.100/32', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected covers-node-address');
    expect(one(lease('10.98.0.0/24', '192.168.7.2', '02:00:00:00:00:02'))).toBe('rejected covers-node-address');
    const vs = admitLeases([lease('10.99.0.0/16', '192.168.7.2', '02:00:00:00:00:02')], ctx());
    expect(vs[0]).toMatchObject({ detail: 'a route to 10.99.0.0/16 would cover endpoint http://10.99.0.100:2379 10.99.0.100' });
  });

  it('own-public-ip: another subnet carrying our PublicIP (stale or forged)', () => {
    expect(one(lease('10.0.9.0/24', '192.168.7.1', '02:00:00:00:00:09'))).toBe('rejected own-public-ip');
  });

  it('public-ip-in-network: VXLAN would be sent into the overlay', () => {
    expect(one(lease('10.0.2.0/24', '10.0.3.5', '02:00:00:00:00:02'))).toBe('rejected public-ip-in-network');
  });

  it('own-vtep-mac', () => {
    expect(one(lease('10.0.2.0/24', '192.168.7.2', '02:00:00:00:00:01'))).toBe('rejected own-vtep-mac');
  });

  it('route-conflict: a route weft did not create exists for the prefix', () => {
    expect(one(lease('10.0.2.0/24', '192.168.7.2', '02:00:00:00:00:02'), ctx({ foreignRoutes: new Set(['10.0.2.0/24']) }))).toBe(
      'rejected route-conflict',
    );
  });

  it('overlaps-earlier-lease: the earliest by order wins whatever the input order; the next takes over when it goes', () => {
    const winner = lease('10.0.5.0/24', '192.168.7.5', '02:00:00:00:00:05', 10);
    const loser = lease('10.0.5.0/25', '192.168.7.66', '02:00:00:00:00:66', 20);
    const vs = admitLeases([loser, winner], ctx());
    expect(verdict(vs, '10.0.5.0/24')).toBe('accepted');
    expect(verdict(vs, '10.0.5.0/25')).toBe('rejected overlaps-earlier-lease');
    expect(verdict(admitLeases([loser], ctx()), '10.0.5.0/25')).toBe('accepted');
  });

  it("duplicate-vtep-mac: a later lease reusing an accepted lease's MAC loses; the MAC check is case-insensitive", () => {
    const victim = lease('10.0.6.0/24', '192.168.7.6', '02:00:00:00:00:06', 1);
    const thief = lease('10.0.7.0/24', '192.168.7.7', '02:00:00:00:00:06'.toUpperCase(), 2);
    const vs = admitLeases([thief, victim], ctx());
    expect(verdict(vs, '10.0.6.0/24')).toBe('accepted');
    expect(verdict(vs, '10.0.7.0/24')).toBe('rejected duplicate-vtep-mac');
  });

  it('a rejected lease never shadows another: only accepted leases count for overlap and MAC', () => {
    const bad = lease('10.0.8.0/24', '192.168.7.1', '02:00:00:00:00:08', 1); // own-public-ip
    const good = lease('10.0.8.0/25', '192.168.7.8', '02:00:00:00:00:08', 2);
    const vs = admitLeases([bad, good], ctx());
    expect(verdict(vs, '10.0.8.0/25')).toBe('accepted');
  });

  it('without an own subnet yet, nothing is "own" and our PublicIP is still refused', () => {
    expect(one(lease('10.0.1.0/24', '192.168.7.1', '02:00:00:00:00:01'), ctx({ ownSubnet: undefined }))).toBe('rejected own-public-ip');
  });

  it('protectedEndpoints skips hostnames and bad URLs', () => {
    expect(protectedEndpoints(['http://etcd:2379', 'not a url', 'http://10.1.2.3:2379']).map((p) => p.what)).toEqual([
      'endpoint http://10.1.2.3:2379 10.1.2.3',
    ]);
  });
});
