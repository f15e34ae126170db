import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../src/config/net-conf.js';

const parse = (doc: unknown) => parseNetConf(JSON.stringify(doc), 'test.json');
const vx = { Type: 'vxlan' };

describe('net-conf.json defaults (flannel CheckNetworkConfig)', () => {
  it('a /16 gets /24 subnets from the second to the last', () => {
    const { config, notes } = parse({ Network: '10.244.0.0/16', Backend: vx });
    expect(config).toEqual({
      network: '10.244.0.0/16',
      subnetLen: 24,
      subnetMin: '10.244.1.0',
      subnetMax: '10.244.255.0',
      backend: { type: 'vxlan', vni: 1, port: 8472 },
    });
    expect(notes).toEqual([]);
  });

  it('a /22 still gets /24s; a /23 gets /25s (prefix+2); a /28 gets /30s', () => {
    expect(parse({ Network: '10.0.0.0/22', Backend: vx }).config).toMatchObject({
      subnetLen: 24,
      subnetMin: '10.0.1.0',
      subnetMax: '10.0.3.0',
    });
    expect(parse({ Network: '10.0.0.0/23', Backend: vx }).config).toMatchObject({
      subnetLen: 25,
      subnetMin: '10.0.0.128',
      subnetMax: '10.0.1.128',
    });
    expect(parse({ Network: '10.0.0.0/28', Backend: vx }).config).toMatchObject({
      subnetLen: 30,
      subnetMin: '10.0.0.4',
      subnetMax: '10.0.0.12',
    });
  });

  it('explicit SubnetLen, SubnetMin, SubnetMax, VNI, Port, MTU are kept', () => {
    const { config } = parse({
      Network: '10.1.0.0/16',
      SubnetLen: 26,
      SubnetMin: '10.1.4.0',
      SubnetMax: '10.1.8.192',
      Backend: { Type: 'vxlan', VNI: 42, Port: 4789, MTU: 1400 },
    });
    expect(config).toEqual({
      network: '10.1.0.0/16',
      subnetLen: 26,
      subnetMin: '10.1.4.0',
      subnetMax: '10.1.8.192',
      backend: { type: 'vxlan', vni: 42, port: 4789, mtu: 1400 },
    });
  });

  it('Port 0 means 8472; SubnetLen 0 and SubnetMin "0.0.0.0" mean the defaults (Go zero values)', () => {
    const { config } = parse({ Network: '10.2.0.0/16', SubnetLen: 0, SubnetMin: '0.0.0.0', Backend: { Type: 'vxlan', Port: 0 } });
    expect(config).toMatchObject({ subnetLen: 24, subnetMin: '10.2.1.0', backend: { port: 8472 } });
  });

  it('field names match case-insensitively, as Go encoding/json does', () => {
    const { config } = parse({ network: '10.3.0.0/16', subnetlen: 25, backend: { type: 'vxlan', vni: 7 } });
    expect(config).toMatchObject({ network: '10.3.0.0/16', subnetLen: 25, backend: { vni: 7 } });
  });

  it('missing Backend → vxlan, with a note that flannel differs', () => {
    const { config, notes } = parse({ Network: '10.4.0.0/16' });
    expect(config.backend).toEqual({ type: 'vxlan', vni: 1, port: 8472 });
    expect(notes.join('\n')).toMatch(/Backend is missing.*udp.*1221/);
  });

  it('host bits in Network are masked as flannel does, with a note', () => {
    const { config, notes } = parse({ Network: '10.5.3.7/16', Backend: vx });
    expect(config.network).toBe('10.5.0.0/16');
    expect(notes.join('\n')).toMatch(/host bits/);
  });

  it('unknown and ignored fields become notes', () => {
    const { notes } = parse({
      Network: '10.6.0.0/16',
      Subnetlength: 24,
      IPv6Network: 'fc00::/48',
      Backend: { Type: 'vxlan', Learning: true, Bogus: 1 },
    });
    const text = notes.join('\n');
    expect(text).toMatch(/Subnetlength is not a field/);
    expect(text).toMatch(/IPv6Network is ignored/);
    expect(text).toMatch(/Backend\.Learning is ignored/);
    expect(text).toMatch(/Backend\.Bogus is not a field/);
  });
});

describe('net-conf.json errors name the field and the cause', () => {
  const cases: [string, string | unknown, RegExp][] = [
    ['not JSON', '{"Network": ', /test\.json: not valid JSON/],
    ['not an object', [1, 2], /must be a JSON object, got an array/],
    ['Network missing', { Backend: vx }, /Network is missing/],
    ['Network not a string', { Network: 10, Backend: vx }, /Network must be a string/],
    ['Network not a CIDR', { Network: '10.0.0.0', Backend: vx }, /Network: "10\.0\.0\.0" is not an IPv4 CIDR/],
    ['Network bad octet', { Network: '10.0.0.300/16', Backend: vx }, /Network: invalid IPv4 address/],
    ['Network prefix > 32', { Network: '10.0.0.0/33', Backend: vx }, /prefix length 33/],
    ['Network too small for defaults', { Network: '10.0.0.0/29', Backend: vx }, /too small.*\/28/],
    ['SubnetLen > 30', { Network: '10.0.0.0/16', SubnetLen: 31, Backend: vx }, /SubnetLen 31 is out of range: at most 30/],
    [
      'SubnetLen too short',
      { Network: '10.0.0.0/16', SubnetLen: 17, Backend: vx },
      /SubnetLen 17 is too short.*at least four subnets.*>= 18/,
    ],
    ['SubnetLen fractional', { Network: '10.0.0.0/16', SubnetLen: 24.5, Backend: vx }, /SubnetLen must be a whole number/],
    ['SubnetLen string', { Network: '10.0.0.0/16', SubnetLen: '24', Backend: vx }, /SubnetLen must be a whole number, got "24"/],
    [
      'SubnetMin outside',
      { Network: '10.0.0.0/16', SubnetMin: '10.1.0.0', Backend: vx },
      /SubnetMin 10\.1\.0\.0 is not inside Network 10\.0\.0\.0\/16/,
    ],
    ['SubnetMax outside', { Network: '10.0.0.0/16', SubnetMax: '11.0.0.0', Backend: vx }, /SubnetMax 11\.0\.0\.0 is not inside/],
    [
      'SubnetMin unaligned',
      { Network: '10.0.0.0/16', SubnetMin: '10.0.1.5', Backend: vx },
      /SubnetMin 10\.0\.1\.5 is not on a \/24 boundary/,
    ],
    [
      'SubnetMax unaligned',
      { Network: '10.0.0.0/16', SubnetMax: '10.0.9.128', Backend: vx },
      /SubnetMax 10\.0\.9\.128 is not on a \/24 boundary/,
    ],
    ['SubnetMin not an address', { Network: '10.0.0.0/16', SubnetMin: 'ten', Backend: vx }, /SubnetMin: invalid IPv4 address "ten"/],
    ['SubnetMin not a string', { Network: '10.0.0.0/16', SubnetMin: 5, Backend: vx }, /SubnetMin must be an IPv4 address string/],
    [
      'SubnetMin above SubnetMax',
      { Network: '10.0.0.0/16', SubnetMin: '10.0.9.0', SubnetMax: '10.0.3.0', Backend: vx },
      /SubnetMin 10\.0\.9\.0 is above SubnetMax 10\.0\.3\.0/,
    ],
    ['Backend not an object', { Network: '10.0.0.0/16', Backend: 'vxlan' }, /Backend must be an object/],
    ['Backend.Type missing', { Network: '10.0.0.0/16', Backend: {} }, /Backend\.Type is missing/],
    [
      'Backend.Type not vxlan',
      { Network: '10.0.0.0/16', Backend: { Type: 'host-gw' } },
      /Backend\.Type "host-gw" is not supported: weft implements only "vxlan"/,
    ],
    ['Backend.Type udp', { Network: '10.0.0.0/16', Backend: { Type: 'udp' } }, /"udp" is not supported/],
    ['Backend.Type not a string', { Network: '10.0.0.0/16', Backend: { Type: 1 } }, /Backend\.Type must be a string/],
    [
      'VNI too big',
      { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', VNI: 16777216 } },
      /Backend\.VNI 16777216 is out of range 0\.\.16777215/,
    ],
    ['VNI negative', { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', VNI: -1 } }, /Backend\.VNI -1 is out of range/],
    ['VNI string', { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', VNI: '1' } }, /Backend\.VNI must be a whole number/],
    ['Port too big', { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', Port: 70000 } }, /Backend\.Port 70000 is out of range 0\.\.65535/],
    ['MTU too small', { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', MTU: 20 } }, /Backend\.MTU 20 is out of range 68\.\.65535/],
    ['GBP', { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', GBP: true } }, /Backend\.GBP is not supported/],
    [
      'DirectRouting',
      { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', DirectRouting: true } },
      /Backend\.DirectRouting is not supported/,
    ],
    [
      'DirectRouting not boolean',
      { Network: '10.0.0.0/16', Backend: { Type: 'vxlan', DirectRouting: 'yes' } },
      /Backend\.DirectRouting must be true or false/,
    ],
    ['EnableIPv6', { Network: '10.0.0.0/16', EnableIPv6: true, Backend: vx }, /EnableIPv6 is true: IPv6 overlays are not supported/],
    ['EnableIPv4 false', { Network: '10.0.0.0/16', EnableIPv4: false, Backend: vx }, /EnableIPv4 is false/],
    ['EnableIPv4 not boolean', { Network: '10.0.0.0/16', EnableIPv4: 'true', Backend: vx }, /EnableIPv4 must be true or false/],
  ];
  for (const [what, doc, re] of cases) {
    it(what, () => {
      const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
      expect(() => parseNetConf(text, 'test.json')).toThrow(re);
    });
  }

  it('every error names the source', () => {
    expect(() => parseNetConf('{}', 'etcd /coreos.com/network/config')).toThrow(/^etcd \/coreos\.com\/network\/config: Network is missing/);
  });
});
