import { describe, expect, it } from 'vitest';
import {
  decodeLease,
  decodeLeaseAttrs,
  encodeLeaseAttrs,
  LeaseDecodeError,
  parseSubnetKeyName,
  subnetKeyName,
} from '../src/subnet/lease-codec.js';
import { formatIpv4Cidr } from '@weft/netbase';

// Byte for byte what flannel's etcd manager writes (Go encoding/json of lease.LeaseAttrs).
const FLANNEL_VALUE =
  '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';

describe('lease keys', () => {
  it('subnet ↔ key name', () => {
    expect(subnetKeyName('10.244.3.0/24')).toBe('10.244.3.0-24');
    expect(formatIpv4Cidr(parseSubnetKeyName('10.244.3.0-24'))).toBe('10.244.3.0/24');
  });

  it('reads the IPv4 half of a dual-stack key', () => {
    expect(formatIpv4Cidr(parseSubnetKeyName('10.5.52.0-24&fc00::-64'))).toBe('10.5.52.0/24');
  });

  it('rejects keys that are not subnets', () => {
    for (const bad of ['config', '10.244.3.0', '10.244.3.0-24x', '10.244.3.9-24', '10.244.3.0-33', 'a/b']) {
      expect(() => parseSubnetKeyName(bad), bad).toThrow(LeaseDecodeError);
    }
  });
});

describe('lease JSON', () => {
  it("decodes and re-encodes flannel's value byte for byte", () => {
    const attrs = decodeLeaseAttrs(FLANNEL_VALUE);
    expect(attrs).toEqual({
      PublicIP: '192.168.64.3',
      PublicIPv6: null,
      BackendType: 'vxlan',
      BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' },
    });
    expect(encodeLeaseAttrs(attrs)).toBe(FLANNEL_VALUE);
  });

  it('writes PublicIPv6 null when absent, keeps it when set', () => {
    expect(encodeLeaseAttrs({ PublicIP: '10.0.0.1', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:ff' } })).toBe(
      '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
    );
    const v6 = decodeLeaseAttrs('{"PublicIP":"10.0.0.1","PublicIPv6":"fc00::1","BackendType":"vxlan","BackendData":null}');
    expect(v6.PublicIPv6).toBe('fc00::1');
    expect(encodeLeaseAttrs(v6)).toBe('{"PublicIP":"10.0.0.1","PublicIPv6":"fc00::1","BackendType":"vxlan"}');
  });

  it('tolerates PublicIPv6 absent, unknown fields and a missing BackendType', () => {
    const a = decodeLeaseAttrs('{"PublicIP":"10.0.0.2","BackendType":"vxlan","BackendData":{"VNI":1},"BackendV6Data":{"x":1}}');
    expect(a).toEqual({ PublicIP: '10.0.0.2', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1 } });
    expect(decodeLeaseAttrs('{"PublicIP":"10.0.0.3"}')).toEqual({
      PublicIP: '10.0.0.3',
      PublicIPv6: null,
      BackendType: '',
      BackendData: null,
    });
  });

  it('rejects malformed values with a message naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['', /not JSON/],
      ['{"PublicIP":', /not JSON/],
      ['[1]', /not a JSON object/],
      ['"x"', /not a JSON object/],
      ['{"BackendType":"vxlan"}', /PublicIP is missing/],
      ['{"PublicIP":17}', /PublicIP is missing or not a string/],
      ['{"PublicIP":"10.0.0.256"}', /PublicIP "10\.0\.0\.256" is not an IPv4 address/],
      ['{"PublicIP":"010.0.0.1"}', /is not an IPv4 address/],
      ['{"PublicIP":"fc00::1"}', /is not an IPv4 address/],
      ['{"PublicIP":"10.0.0.1","PublicIPv6":5}', /PublicIPv6 must be a string or null/],
      ['{"PublicIP":"10.0.0.1","BackendType":7}', /BackendType must be a string/],
    ];
    for (const [text, re] of cases) expect(() => decodeLeaseAttrs(text), text).toThrow(re);
  });

  it('decodes a whole lease from key and value', () => {
    expect(decodeLease('10.244.3.0-24', FLANNEL_VALUE)).toEqual({ subnet: '10.244.3.0/24', attrs: decodeLeaseAttrs(FLANNEL_VALUE) });
  });
});
