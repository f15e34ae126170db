import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Lease, LeaseEvent } from '../src/subnet/types.js';
import { VxlanNetwork } from '../src/backend/vxlan-network.js';
import { FakeHostProgrammer, LoggingFakeVtep } from './fake-host-programmer.js';

const silent = pino({ level: 'silent' });

function lease(n: number, over: Partial<Lease['attrs']> = {}): Lease {
  const mac = `0a:00:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
  return {
    subnet: `10.${100 + (n >> 8)}.${n & 0xff}.0/24`,
    attrs: { PublicIP: `192.168.${n >> 8}.${n & 0xff}`, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac }, ...over },
  };
}

function setup(retryMs = 20) {
  const log: string[] = [];
  const host = new FakeHostProgrammer(log);
  const vtep = new LoggingFakeVtep(log);
  const net = new VxlanNetwork({ vtep, host, logger: silent, publicIp: '172.16.0.1', network: '10.96.0.0/12', retryMs });
  return { log, host, vtep, net };
}

async function send(net: VxlanNetwork, ...events: LeaseEvent[]): Promise<void> {
  net.handleEvents(events);
  await net.settled();
}

describe('VxlanNetwork programming order', () => {
  it('adds FDB entry, then neighbour, then route; removes in reverse', async () => {
    const { log, net } = setup();
    await net.setOwnLease(lease(250));
    log.length = 0;
    await send(net, { type: 'added', lease: lease(2) });
    expect(log).toEqual([
      'fdb 0a:00:00:00:00:02 192.168.0.2',
      'neigh 10.100.2.0 lladdr 0a:00:00:00:00:02',
      'route 10.100.2.0/24 via 10.100.2.0',
    ]);
    log.length = 0;
    await send(net, { type: 'removed', lease: lease(2) });
    expect(log).toEqual(['route-del 10.100.2.0/24', 'neigh-del 10.100.2.0', 'fdb-del 0a:00:00:00:00:02']);
    expect(net.peers()).toEqual([]);
  });

  it('addresses the device with the subnet network address /32 and skips our own lease', async () => {
    const { log, host, net } = setup();
    await net.setOwnLease(lease(7));
    expect(host.address).toBe('10.100.7.0/32');
    log.length = 0;
    await send(net, { type: 'added', lease: lease(7) });
    expect(log).toEqual([]);
  });

  it('skips non-vxlan, malformed and other-VNI leases, and leases carrying our PublicIP', async () => {
    const { log, net } = setup();
    await send(
      net,
      { type: 'added', lease: lease(3, { BackendType: 'udp' }) },
      { type: 'added', lease: lease(4, { BackendData: { VNI: 1 } }) },
      { type: 'added', lease: lease(5, { BackendData: { VNI: 1, VtepMAC: 'zz:00:00:00:00:01' } }) },
      { type: 'added', lease: lease(6, { BackendData: { VNI: 2, VtepMAC: '0a:00:00:00:00:06' } }) },
      { type: 'added', lease: lease(8, { PublicIP: '172.16.0.1' }) },
      { type: 'added', lease: { ...lease(9), subnet: '10.100.9.5/24' } },
      { type: 'added', lease: lease(10, { BackendData: null }) },
    );
    expect(log).toEqual([]);
    expect(net.stats.skippedLeases).toBe(7);
    expect(net.stats.rejected).toMatchObject({ malformed: 4, 'invalid-vtep-mac': 2, 'own-public-ip': 1 });
  });

  it('a lease that turns into another backend type is removed', async () => {
    const { net, host } = setup();
    await send(net, { type: 'added', lease: lease(2) });
    await send(net, { type: 'added', lease: lease(2, { BackendType: 'host-gw' }) });
    expect(host.routeTable.size).toBe(0);
    expect(net.peers()).toEqual([]);
  });

  it('a changed VTEP MAC re-points neighbour and FDB and drops the old MAC after', async () => {
    const { log, net, vtep } = setup();
    await send(net, { type: 'added', lease: lease(2) });
    log.length = 0;
    await send(net, { type: 'added', lease: lease(2, { BackendData: { VNI: 1, VtepMAC: '0a:ff:00:00:00:02' } }) });
    expect(log).toEqual([
      'fdb 0a:ff:00:00:00:02 192.168.0.2',
      'neigh 10.100.2.0 lladdr 0a:ff:00:00:00:02',
      'route 10.100.2.0/24 via 10.100.2.0',
      'fdb-del 0a:00:00:00:00:02',
    ]);
    expect([...vtep.fdb]).toEqual([['0a:ff:00:00:00:02', '192.168.0.2']]);
  });

  it('coalesces a burst of 1000 leases into one ip batch', async () => {
    const { net, host, vtep } = setup();
    const events: LeaseEvent[] = [];
    for (let i = 1; i <= 1000; i++) events.push({ type: 'added', lease: lease(i) });
    await send(net, ...events);
    expect(host.applyCalls).toBe(1);
    expect(host.routeTable.size).toBe(1000);
    expect(host.neighTable.size).toBe(1000);
    expect(vtep.fdb.size).toBe(1000);
  });

  it('retries an entry whose route failed', async () => {
    const { net, host } = setup(10);
    host.failNext(/^route 10\.100\.2\.0/);
    await send(net, { type: 'added', lease: lease(2) });
    expect(net.peers()).toEqual([]);
    expect(net.stats.failures).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    await net.settled();
    expect(net.peers().map((p) => p.subnet)).toEqual(['10.100.2.0/24']);
    expect(host.routeTable.has('10.100.2.0/24')).toBe(true);
  });
});

describe('VxlanNetwork reconcile on snapshot', () => {
  it('removes stale entries of an earlier run, keeps correct ones, adds missing ones', async () => {
    const { log, host, vtep, net } = setup();
    // Left by an earlier run: peer 2 (correct), peer 3 (gone from etcd), peer 4 with an old MAC.
    host.routeTable.set('10.100.2.0/24', { dst: '10.100.2.0/24', gateway: '10.100.2.0', onlink: true, dev: 'weft.1', weft: true });
    host.neighTable.set('10.100.2.0', { ip: '10.100.2.0', mac: '0a:00:00:00:00:02', permanent: true });
    host.routeTable.set('10.100.3.0/24', { dst: '10.100.3.0/24', gateway: '10.100.3.0', onlink: true, dev: 'weft.1', weft: true });
    host.neighTable.set('10.100.3.0', { ip: '10.100.3.0', mac: '0a:00:00:00:00:03', permanent: true });
    host.neighTable.set('10.100.4.0', { ip: '10.100.4.0', mac: '0a:ee:00:00:00:04', permanent: true });
    host.neighTable.set('10.100.9.9', { ip: '10.100.9.9', mac: '0a:00:00:00:00:09', permanent: false }); // kernel's
    vtep.fdb.set('0a:00:00:00:00:02', '192.168.0.2');
    vtep.fdb.set('0a:00:00:00:00:03', '192.168.0.3');

    await send(net, { type: 'snapshot', leases: [lease(2), lease(4), lease(5)] });

    expect(log).toEqual([
      'route-del 10.100.3.0/24',
      'neigh-del 10.100.3.0',
      'fdb-replace 3',
      'neigh 10.100.4.0 lladdr 0a:00:00:00:00:04',
      'route 10.100.4.0/24 via 10.100.4.0',
      'neigh 10.100.5.0 lladdr 0a:00:00:00:00:05',
      'route 10.100.5.0/24 via 10.100.5.0',
    ]);
    expect([...host.routeTable.keys()].sort()).toEqual(['10.100.2.0/24', '10.100.4.0/24', '10.100.5.0/24']);
    expect(host.neighTable.has('10.100.9.9')).toBe(true);
    expect(new Map(vtep.fdb)).toEqual(
      new Map([
        ['0a:00:00:00:00:02', '192.168.0.2'],
        ['0a:00:00:00:00:04', '192.168.0.4'],
        ['0a:00:00:00:00:05', '192.168.0.5'],
      ]),
    );
    expect(net.peers()).toHaveLength(3);
  });

  it('a snapshot equal to the host changes nothing (a restart with 1000 peers spawns nothing)', async () => {
    const first = setup();
    const leases = Array.from({ length: 1000 }, (_, i) => lease(i + 1));
    await send(first.net, { type: 'snapshot', leases });
    const log: string[] = [];
    const { host } = first;
    const vtep = new LoggingFakeVtep(log);
    const again = new VxlanNetwork({ vtep, host, logger: silent, publicIp: '172.16.0.1', network: '10.96.0.0/12' });
    // The new process's datapath starts empty: only the FDB is re-filled, routes and neighbours stay.
    host.applyCalls = 0;
    await send(again, { type: 'snapshot', leases });
    expect(host.applyCalls).toBe(0);
    expect(log).toEqual(['fdb-replace 1000']);
    expect(vtep.fdb.size).toBe(1000);
  });

  it('a later snapshot without a peer removes all three entries', async () => {
    const { host, vtep, net } = setup();
    await send(net, { type: 'snapshot', leases: [lease(2), lease(3)] });
    await send(net, { type: 'snapshot', leases: [lease(3)] });
    expect([...host.routeTable.keys()]).toEqual(['10.100.3.0/24']);
    expect([...host.neighTable.keys()]).toEqual(['10.100.3.0']);
    expect([...vtep.fdb.keys()]).toEqual(['0a:00:00:00:00:03']);
  });

  it('resync() repairs drift: a route someone deleted comes back, an unknown one goes', async () => {
    const { host, net } = setup();
    await send(net, { type: 'snapshot', leases: [lease(2), lease(3)] });
    host.routeTable.delete('10.100.2.0/24');
    host.routeTable.set('10.100.7.0/24', { dst: '10.100.7.0/24', gateway: '10.100.7.0', onlink: true, dev: 'weft.1', weft: true });
    net.resync();
    await net.settled();
    expect([...host.routeTable.keys()].sort()).toEqual(['10.100.2.0/24', '10.100.3.0/24']);
  });

  it('our lease moving onto a subnet that was a peer removes that peer', async () => {
    const { host, net } = setup();
    await net.setOwnLease(lease(250));
    await send(net, { type: 'snapshot', leases: [lease(2), lease(3)] });
    await net.setOwnLease({ ...lease(250), subnet: '10.100.2.0/24' });
    await net.settled();
    expect(host.address).toBe('10.100.2.0/32');
    expect([...host.routeTable.keys()]).toEqual(['10.100.3.0/24']);
  });
});

describe('VxlanNetwork lease admission', () => {
  const l = (subnet: string, ip: string, mac: string, order: number): Lease => ({
    subnet,
    attrs: { PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } },
    order,
  });

  it('overlap: the earlier lease is programmed; when it goes the later one is programmed in the same round', async () => {
    const { net, host, vtep } = setup();
    const a = l('10.100.5.0/24', '192.168.0.5', '0a:00:00:00:00:05', 10);
    const b = l('10.100.5.0/25', '192.168.0.66', '0a:00:00:00:00:66', 20);
    await send(net, { type: 'added', lease: b }, { type: 'added', lease: a });
    expect([...host.routeTable.keys()]).toEqual(['10.100.5.0/24']);
    expect(host.neighTable.get('10.100.5.0')?.mac).toBe('0a:00:00:00:00:05');
    await send(net, { type: 'removed', lease: a });
    expect([...host.routeTable.keys()]).toEqual(['10.100.5.0/25']);
    expect(host.neighTable.get('10.100.5.0')?.mac).toBe('0a:00:00:00:00:66');
    expect([...vtep.fdb.keys()]).toEqual(['0a:00:00:00:00:66']);
  });

  it('duplicate VtepMAC: the victim keeps its FDB entry, during and after the duplicate', async () => {
    const { net, vtep } = setup();
    const victim = l('10.100.6.0/24', '192.168.0.6', '0a:00:00:00:00:06', 1);
    const thief = l('10.100.7.0/24', '192.168.0.7', '0a:00:00:00:00:06', 2);
    await send(net, { type: 'added', lease: victim }, { type: 'added', lease: thief });
    expect(vtep.fdb.get('0a:00:00:00:00:06')).toBe('192.168.0.6');
    await send(net, { type: 'removed', lease: thief });
    expect(vtep.fdb.get('0a:00:00:00:00:06')).toBe('192.168.0.6');
    expect(net.stats.rejected['duplicate-vtep-mac']).toBe(1);
  });

  it('a route weft did not create is never replaced: the lease is a route-conflict', async () => {
    const { net, host } = setup();
    host.foreignRoutes.push({ dst: '10.100.8.0/24', gateway: '192.168.0.254', onlink: false, dev: 'eth0', weft: false });
    await send(net, { type: 'added', lease: lease(8) });
    expect(host.routeTable.size).toBe(0);
    expect(net.leaseStatuses()).toEqual([
      expect.objectContaining({ subnet: '10.100.8.0/24', status: 'rejected', reason: 'route-conflict' }),
    ]);
  });

  it('a rejection is counted once, not at every resync; unusable keys are counted and listed', async () => {
    const { net } = setup();
    await send(net, { type: 'added', lease: l('10.200.0.0/24', '192.168.0.9', '0a:00:00:00:00:09', 1) });
    net.resync();
    await net.settled();
    await send(net, {
      type: 'snapshot',
      leases: [l('10.200.0.0/24', '192.168.0.9', '0a:00:00:00:00:09', 1)],
      unusable: [{ key: 'x', reason: 'oversize', detail: 'big' }],
    });
    await send(net, {
      type: 'snapshot',
      leases: [l('10.200.0.0/24', '192.168.0.9', '0a:00:00:00:00:09', 1)],
      unusable: [{ key: 'x', reason: 'oversize', detail: 'big' }],
    });
    expect(net.stats.rejected['outside-network']).toBe(1);
    expect(net.stats.rejected.oversize).toBe(1);
    expect(net.leaseStatuses().map((s) => `${s.key} ${s.reason}`)).toEqual(['10.200.0.0-24 outside-network', 'x oversize']);
  });

  it('a reconcile removes only weft routes on its device, and re-marks legacy ones', async () => {
    const { net, host } = setup();
    host.routeTable.set('10.100.3.0/24', {
      dst: '10.100.3.0/24',
      gateway: '10.100.3.0',
      onlink: true,
      dev: 'weft.1',
      weft: true,
      legacy: true,
    });
    host.foreignRoutes.push({ dst: '10.100.4.0/24', gateway: '10.100.4.0', onlink: true, dev: 'weft.1', weft: false });
    await send(net, { type: 'snapshot', leases: [lease(2)] });
    expect([...host.routeTable.keys()]).toEqual(['10.100.2.0/24']);
    expect(host.foreignRoutes).toHaveLength(1);
  });
});
