/**
 * Result conversion between spec versions, prevResult decoding, and how an interface plugin appends
 * its result to a prevResult.
 */
import { describe, expect, it } from 'vitest';
import { CniError, appendResult, formatResult, parseResult, type CniResult } from '../dist/index.js';

const FULL: CniResult = {
  interfaces: [
    { name: 'cni0', mac: '0a:58:0a:f4:01:01', mtu: 1450 },
    { name: 'wv0123456789ab', mac: '22:0d:ae:b7:5d:c7', mtu: 1450 },
    { name: 'eth0', mac: '0a:58:0a:f4:01:02', mtu: 1450, sandbox: '/var/run/netns/p', socketPath: '/s' },
  ],
  ips: [{ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1', mtu: 1400, priority: 5 }],
  dns: { nameservers: ['10.96.0.10'] },
};

describe('formatResult', () => {
  it('1.1.0 carries interface mtu/socketPath and route attributes', () => {
    const out = formatResult(FULL, '1.1.0');
    expect(out.cniVersion).toBe('1.1.0');
    expect(out.interfaces).toEqual(FULL.interfaces);
    expect(out.routes).toEqual(FULL.routes);
    expect(out.ips).toEqual(FULL.ips);
    expect(out.dns).toEqual({ nameservers: ['10.96.0.10'] });
  });

  it('1.0.0 drops the 1.1.0-only fields and has no ips[].version', () => {
    const out = formatResult(FULL, '1.0.0') as { interfaces: object[]; routes: object[]; ips: object[] };
    expect(out.interfaces[2]).toEqual({ name: 'eth0', mac: '0a:58:0a:f4:01:02', sandbox: '/var/run/netns/p' });
    expect(out.routes[0]).toEqual({ dst: '0.0.0.0/0', gw: '10.244.1.1' });
    expect(out.ips[0]).toEqual({ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('%s carries ips[].version', (v) => {
    const out = formatResult({ ...FULL, ips: [...FULL.ips, { address: 'fd00::2/64', interface: 2 }] }, v) as { ips: object[] };
    expect(out.ips[0]).toEqual({ version: '4', address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 });
    expect(out.ips[1]).toMatchObject({ version: '6' });
  });

  it('leaves out empty lists but always has dns', () => {
    expect(formatResult({ interfaces: [], ips: [], routes: [], dns: {} }, '1.0.0')).toEqual({ cniVersion: '1.0.0', dns: {} });
  });
});

describe('parseResult', () => {
  it('reads a 0.4.0 prevResult (ips[].version is dropped) and round-trips to 1.0.0', () => {
    const prev = parseResult(formatResult(FULL, '0.4.0'));
    expect(prev.ips[0]).toEqual({ address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 2 });
    expect(formatResult(prev, '1.0.0')).toEqual(formatResult(FULL, '1.0.0'));
  });

  it('tolerates missing lists', () => {
    expect(parseResult({ cniVersion: '1.0.0' })).toEqual({ interfaces: [], ips: [], routes: [], dns: {} });
  });

  it.each([
    [[], 'prevResult must be an object'],
    [{ ips: {} }, 'prevResult.ips must be a list'],
    [{ ips: [{ gateway: '10.0.0.1' }] }, 'prevResult.ips[0].address must be a non-empty string'],
    [{ interfaces: [{ name: 'eth0', mtu: '1500' }] }, 'prevResult.interfaces[0].mtu must be a number'],
    [{ dns: { nameservers: [1] } }, 'prevResult.dns.nameservers[0] must be a non-empty string'],
  ])('names the bad field of %j (code 6)', (raw, msg) => {
    try {
      parseResult(raw);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CniError);
      expect((e as CniError).code).toBe(6);
      expect((e as CniError).message).toContain(msg);
    }
  });
});

describe('appendResult', () => {
  it('appends after a prevResult and moves interface indexes past its interfaces', () => {
    const prev: CniResult = {
      interfaces: [{ name: 'lo', sandbox: '/p' }],
      ips: [{ address: '127.0.0.1/8', interface: 0 }],
      routes: [],
      dns: { domain: 'x' },
    };
    const out = appendResult(prev, FULL);
    expect(out.interfaces.map((i) => i.name)).toEqual(['lo', 'cni0', 'wv0123456789ab', 'eth0']);
    expect(out.ips).toEqual([
      { address: '127.0.0.1/8', interface: 0 },
      { address: '10.244.1.2/24', gateway: '10.244.1.1', interface: 3 },
    ]);
    expect(out.dns).toEqual({ nameservers: ['10.96.0.10'], domain: 'x' });
  });

  it('returns its own result without a prevResult', () => {
    expect(appendResult(undefined, FULL)).toBe(FULL);
  });
});
