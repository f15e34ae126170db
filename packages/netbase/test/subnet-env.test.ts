import { describe, expect, it } from 'vitest';
import { formatIpv4Cidr, formatIpv4Prefix } from '../dist/index.js';
import { SubnetEnvError, formatSubnetEnv, parseEnvLines, parseSubnetEnv } from '../dist/index.js';

const node = { network: '10.244.0.0/16', subnet: '10.244.3.0/24', mtu: 1450, ipMasq: true };

describe('subnet.env', () => {
  it("is flannel's four lines, FLANNEL_SUBNET being the first usable address", () => {
    expect(formatSubnetEnv(node)).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
  });

  it('what weftd writes, the plugin reads back as the same node', () => {
    for (const c of [
      node,
      { network: '10.0.0.0/8', subnet: '10.200.16.0/20', mtu: 8950, ipMasq: false },
      { network: '172.16.0.0/12', subnet: '172.31.255.252/30', mtu: 576, ipMasq: true },
    ]) {
      const env = parseSubnetEnv(formatSubnetEnv(c));
      expect(formatIpv4Cidr(env.network)).toBe(c.network);
      expect(formatIpv4Cidr(env.subnet)).toBe(c.subnet);
      expect(env.gateway.addr).toBe(env.subnet.base + 1);
      expect({ mtu: env.mtu, ipMasq: env.ipMasq }).toEqual({ mtu: c.mtu, ipMasq: c.ipMasq });
    }
  });

  it('reads flannel-written files: comments, blank lines, extra and IPv6 keys, no FLANNEL_IPMASQ', () => {
    const env = parseSubnetEnv(
      '# written by flanneld\n\nFLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_SUBNET=10.244.9.1/24\nFLANNEL_MTU=1450\n',
    );
    expect(formatIpv4Prefix(env.gateway)).toBe('10.244.9.1/24');
    expect(env.ipMasq).toBe(false);
  });

  it('names the line and the cause of what is wrong', () => {
    const base = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\n';
    const cases: Array<[string, RegExp]> = [
      ['FLANNEL_NETWORK=10.244.0.0/16\nnonsense\n', /line 2 "nonsense" is not KEY=VALUE/],
      [base.replace('FLANNEL_MTU=1450\n', ''), /FLANNEL_MTU is missing/],
      [base.replace('10.244.3.1/24', '10.244.3.0/24'), /is a network address/],
      [base.replace('10.244.3.1/24', '10.245.3.1/24'), /not inside FLANNEL_NETWORK 10.244.0.0\/16/],
      [base.replace('10.244.3.1/24', '10.244.3.1/31'), /leaves no room for pods/],
      [base.replace('10.244.3.1/24', 'banana'), /FLANNEL_SUBNET "banana" \(line 2\) is not an IPv4 prefix/],
      [base.replace('1450', '99999'), /FLANNEL_MTU "99999" \(line 3\) is not an MTU/],
      [base + 'FLANNEL_IPMASQ=yes\n', /FLANNEL_IPMASQ "yes" is not true or false/],
    ];
    for (const [text, error] of cases) {
      expect(() => parseSubnetEnv(text)).toThrow(SubnetEnvError);
      expect(() => parseSubnetEnv(text)).toThrow(error);
    }
  });

  it('gives the raw lines with their numbers to lenient readers', () => {
    expect(parseEnvLines('# c\nA=1\n\nB=x=y\n')).toEqual(
      new Map([
        ['A', { value: '1', line: 2 }],
        ['B', { value: 'x=y', line: 4 }],
      ]),
    );
  });
});
