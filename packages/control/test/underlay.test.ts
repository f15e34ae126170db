import { describe, expect, it } from 'vitest';
import { findUnderlay, type IpLinkAddrs, type UnderlayProbe } from '../src/host/underlay.js';

const links: IpLinkAddrs[] = [
  { ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1', scope: 'host' }] },
  { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: '192.168.1.5', scope: 'global' }] },
  {
    ifname: 'eth1',
    mtu: 9000,
    addr_info: [
      { family: 'inet', local: '10.0.0.5', scope: 'global' },
      { family: 'inet', local: '10.0.0.6', scope: 'global' },
    ],
  },
  { ifname: 'eth2', mtu: 1500, addr_info: [] },
];
const probe = (defaultDev: string | undefined): UnderlayProbe => ({
  addresses: async () => links,
  defaultRouteDev: async () => defaultDev,
});

describe('underlay', () => {
  it("defaults to the default route's interface and its address", async () => {
    expect(await findUnderlay({ ifaces: [] }, probe('eth0'))).toEqual({
      iface: 'eth0',
      ifaceAddr: '192.168.1.5',
      publicIp: '192.168.1.5',
      mtu: 1500,
    });
  });

  it('--iface by name or by address; the first that exists wins', async () => {
    expect((await findUnderlay({ ifaces: ['eth9', 'eth1'] }, probe('eth0'))).iface).toBe('eth1');
    expect(await findUnderlay({ ifaces: ['10.0.0.6'] }, probe(undefined))).toMatchObject({
      iface: 'eth1',
      ifaceAddr: '10.0.0.6',
      mtu: 9000,
    });
  });

  it('--public-ip is advertised, the interface address is still bound', async () => {
    expect(await findUnderlay({ ifaces: [], publicIp: '203.0.113.7' }, probe('eth0'))).toMatchObject({
      ifaceAddr: '192.168.1.5',
      publicIp: '203.0.113.7',
    });
  });

  it('clear errors: no such interface, no default route, no address, bad --public-ip', async () => {
    await expect(findUnderlay({ ifaces: ['eth9'] }, probe('eth0'))).rejects.toThrow(/--iface: none of eth9/);
    await expect(findUnderlay({ ifaces: [] }, probe(undefined))).rejects.toThrow(/no default route/);
    await expect(findUnderlay({ ifaces: ['eth2'] }, probe(undefined))).rejects.toThrow(/eth2 has no global IPv4 address/);
    await expect(findUnderlay({ ifaces: [], publicIp: '1.2.3' }, probe('eth0'))).rejects.toThrow(/--public-ip: "1.2.3"/);
  });
});
