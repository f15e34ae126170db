import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EtcdSubnetManager, LeaseLostError, NetworkFullError } from '../src/subnet/etcd-subnet-manager.js';
import { MemoryRegistry } from '../src/subnet/memory-registry.js';
import { encodeLeaseAttrs } from '../src/subnet/lease-codec.js';
import type { LeaseAttrs } from '../src/subnet/types.js';

const silent = pino({ level: 'silent' });
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

function attrs(ip: string, mac = '0a:00:00:00:00:01'): LeaseAttrs {
  return { PublicIP: ip, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } };
}

function setup(opts: { config?: string; previousSubnet?: string; random?: () => number } = {}) {
  const registry = new MemoryRegistry(opts.config ?? CONFIG);
  const manager = new EtcdSubnetManager({
    registry,
    logger: silent,
    ...(opts.previousSubnet ? { previousSubnet: opts.previousSubnet } : {}),
    random: opts.random ?? (() => 0),
  });
  return { registry, manager };
}

describe('EtcdSubnetManager config', () => {
  it('reads and validates <prefix>/config', async () => {
    const { manager } = setup();
    expect(await manager.getNetworkConfig()).toMatchObject({ network: '10.244.0.0/16', subnetLen: 24 });
  });

  it('a missing config says where to put it', async () => {
    const { registry, manager } = setup();
    registry.setNetworkConfig(undefined);
    await expect(manager.getNetworkConfig()).rejects.toThrow(/no network config in memory registry.*etcdctl put/);
  });

  it('an invalid config names the source and the field', async () => {
    const { manager } = setup({ config: '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}' });
    await expect(manager.getNetworkConfig()).rejects.toThrow(/memory registry config: Backend\.Type "host-gw" is not supported/);
  });
});

describe('EtcdSubnetManager acquire (flannel order)', () => {
  it("allocates a new subnet with flannel's key and JSON, attached to a 24 h lease", async () => {
    const { registry, manager } = setup();
    const before = Date.now();
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    expect(lease.subnet).toBe('10.244.1.0/24');
    const kv = registry.get('10.244.1.0-24')!;
    expect(kv.value).toBe(encodeLeaseAttrs(attrs('192.168.1.1')));
    expect(kv.value).toBe(
      '{"PublicIP":"192.168.1.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}}',
    );
    expect(kv.lease).not.toBe('0');
    expect(lease.expiration!.getTime()).toBeGreaterThanOrEqual(before + 86_400_000);
  });

  it('reuses the lease carrying our PublicIP, rewriting it with our new attrs', async () => {
    const { registry, manager } = setup();
    registry.put('10.244.7.0-24', encodeLeaseAttrs(attrs('192.168.1.1', '0a:00:00:00:00:99')), 86400);
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    expect(lease.subnet).toBe('10.244.7.0/24');
    expect(JSON.parse(registry.get('10.244.7.0-24')!.value).BackendData.VtepMAC).toBe('0a:00:00:00:00:01');
    expect(registry.calls.create).toBe(0);
  });

  it('keeps a reservation (key without lease) a reservation', async () => {
    const { registry, manager } = setup();
    registry.put('10.244.8.0-24', encodeLeaseAttrs(attrs('192.168.1.1')), 0);
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    expect(lease.subnet).toBe('10.244.8.0/24');
    expect(lease.expiration).toBeUndefined();
    expect(registry.get('10.244.8.0-24')!.lease).toBe('0');
  });

  it('deletes a lease for our PublicIP that no longer fits the config, then allocates', async () => {
    const { registry, manager } = setup({ config: '{"Network":"10.244.0.0/16","SubnetMin":"10.244.10.0","Backend":{"Type":"vxlan"}}' });
    registry.put('10.244.2.0-24', encodeLeaseAttrs(attrs('192.168.1.1')), 86400);
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    expect(lease.subnet).toBe('10.244.10.0/24');
    expect(registry.get('10.244.2.0-24')).toBeUndefined();
  });

  it('takes the previous subnet (FLANNEL_SUBNET form) when it is free', async () => {
    const { manager } = setup({ previousSubnet: '10.244.42.1/24' });
    expect((await manager.acquireLease(attrs('192.168.1.1'))).subnet).toBe('10.244.42.0/24');
  });

  it('skips the previous subnet when someone holds it, or when it does not fit', async () => {
    const a = setup({ previousSubnet: '10.244.42.0/24' });
    a.registry.put('10.244.42.0-24', encodeLeaseAttrs(attrs('192.168.1.2')), 86400);
    expect((await a.manager.acquireLease(attrs('192.168.1.1'))).subnet).toBe('10.244.1.0/24');
    const b = setup({ previousSubnet: '10.99.42.0/24' });
    expect((await b.manager.acquireLease(attrs('192.168.1.1'))).subnet).toBe('10.244.1.0/24');
  });

  it('a malformed lease value still occupies its subnet', async () => {
    const { registry, manager } = setup();
    registry.put('10.244.1.0-24', '{not json', 86400);
    registry.put('not-a-subnet', '{}', 0);
    expect((await manager.acquireLease(attrs('192.168.1.1'))).subnet).toBe('10.244.2.0/24');
  });

  it('retries when it loses the create race, and gives up after 10 lost races', async () => {
    const { registry, manager } = setup();
    let races = 0;
    registry.beforeCreate = (name) => {
      if (races++ < 3) registry.put(name, encodeLeaseAttrs(attrs(`192.168.9.${races}`)), 86400);
    };
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    expect(registry.calls.create).toBe(4);
    expect(lease.subnet).toBe('10.244.4.0/24');

    const other = setup();
    let n = 0;
    other.registry.beforeCreate = (name) => other.registry.put(name, encodeLeaseAttrs(attrs(`192.168.8.${++n}`)), 86400);
    await expect(other.manager.acquireLease(attrs('192.168.1.1'))).rejects.toThrow(/lost 10 races/);
  });

  it('a full network is a clear error', async () => {
    const { registry, manager } = setup({ config: '{"Network":"10.9.0.0/28","Backend":{"Type":"vxlan"}}' });
    for (const s of ['10.9.0.4-30', '10.9.0.8-30', '10.9.0.12-30'])
      registry.put(s, encodeLeaseAttrs(attrs(`192.168.0.${s.length}`)), 86400);
    const err = await manager.acquireLease(attrs('192.168.1.1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkFullError);
    expect((err as Error).message).toMatch(/network full: no free \/30 between SubnetMin and SubnetMax.*3 leases/);
  });

  it('two managers never get the same subnet', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const managers = Array.from({ length: 10 }, () => new EtcdSubnetManager({ registry, logger: silent, random: () => 0 }));
    const leases = await Promise.all(managers.map((m, i) => m.acquireLease(attrs(`192.168.1.${i + 1}`))));
    expect(new Set(leases.map((l) => l.subnet)).size).toBe(10);
  });
});

describe('EtcdSubnetManager renew', () => {
  it('extends our lease and revokes the one it replaces', async () => {
    const { registry, manager } = setup();
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    const firstLease = registry.get('10.244.1.0-24')!.lease;
    const renewed = await manager.renewLease(lease);
    expect(renewed.subnet).toBe(lease.subnet);
    expect(registry.get('10.244.1.0-24')!.lease).not.toBe(firstLease);
    expect(renewed.expiration!.getTime()).toBeGreaterThanOrEqual(lease.expiration!.getTime());
  });

  it('refuses (LeaseLostError) when the key is gone or held by another node — never resurrects it', async () => {
    const { registry, manager } = setup();
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    registry.delete('10.244.1.0-24');
    await expect(manager.renewLease(lease)).rejects.toBeInstanceOf(LeaseLostError);
    expect(registry.get('10.244.1.0-24')).toBeUndefined();
    registry.put('10.244.1.0-24', encodeLeaseAttrs(attrs('192.168.1.2')), 86400);
    await expect(manager.renewLease(lease)).rejects.toThrow(/gone .* or held by another node/);
    expect(JSON.parse(registry.get('10.244.1.0-24')!.value).PublicIP).toBe('192.168.1.2');
  });

  it('an unreachable registry is an ordinary error, not a lost lease', async () => {
    const { registry, manager } = setup();
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    registry.setUnreachable(true);
    const err = await manager.renewLease(lease).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(LeaseLostError);
    expect((err as Error).message).toMatch(/unreachable/);
  });

  it('after losing a lease, acquire prefers the subnet it just had', async () => {
    const { registry, manager } = setup({ random: () => 0.5 });
    const lease = await manager.acquireLease(attrs('192.168.1.1'));
    registry.delete(lease.subnet.replace('/', '-'));
    expect((await manager.acquireLease(attrs('192.168.1.1'))).subnet).toBe(lease.subnet);
  });
});
