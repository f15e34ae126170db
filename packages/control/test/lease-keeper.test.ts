import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdSubnetManager } from '../src/subnet/etcd-subnet-manager.js';
import { LeaseKeeper } from '../src/subnet/lease-keeper.js';
import { MemoryRegistry } from '../src/subnet/memory-registry.js';
import { encodeLeaseAttrs } from '../src/subnet/lease-codec.js';
import type { Lease, LeaseAttrs } from '../src/subnet/types.js';
import { until } from './lease-watch-support.js';

const silent = pino({ level: 'silent' });
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const ME: LeaseAttrs = {
  PublicIP: '192.168.1.1',
  PublicIPv6: null,
  BackendType: 'vxlan',
  BackendData: { VNI: 1, VtepMAC: '0a:00:00:00:00:01' },
};

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

async function setup(o: { ttlSec?: number; marginMs?: number; retryMs?: number; watch?: boolean } = {}) {
  const registry = new MemoryRegistry(CONFIG);
  const manager = new EtcdSubnetManager({ registry, logger: silent, leaseTtlSec: o.ttlSec ?? 3600, random: () => 0.5 });
  let renewCalls = 0;
  const renew = manager.renewLease.bind(manager);
  manager.renewLease = (l: Lease) => (renewCalls++, renew(l));
  const lease = await manager.acquireLease(ME);
  const keeper = new LeaseKeeper({ manager, lease, logger: silent, renewMarginMs: o.marginMs ?? 1000, retryIntervalMs: o.retryMs ?? 50 });
  const events: string[] = [];
  keeper.on('renewed', (l) => events.push(`renewed ${l.subnet}`));
  keeper.on('lost', (l) => events.push(`lost ${l.subnet}`));
  keeper.on('reacquired', (l, prev) => events.push(`reacquired ${l.subnet} (was ${prev.subnet})`));
  const ac = new AbortController();
  if (o.watch) void manager.watchLeases((b) => keeper.observe(b), ac.signal);
  keeper.start();
  cleanups.push(() => {
    keeper.stop();
    ac.abort();
    void registry.close();
  });
  return { registry, manager, lease, keeper, events, renewCalls: () => renewCalls };
}

describe('LeaseKeeper', () => {
  it('renews renewMargin before expiry', async () => {
    const t0 = Date.now();
    const { keeper, events, lease } = await setup({ ttlSec: 2, marginMs: 1700 });
    await until(() => events.length === 1);
    const waited = Date.now() - t0;
    expect(events).toEqual([`renewed ${lease.subnet}`]);
    expect(waited).toBeGreaterThanOrEqual(250); // due at 300 ms
    expect(waited).toBeLessThan(1500);
    expect(keeper.lease.expiration!.getTime()).toBeGreaterThan(lease.expiration!.getTime());
  });

  it('a margin longer than the TTL renews halfway, not in a hot loop', async () => {
    const { renewCalls } = await setup({ ttlSec: 1, marginMs: 3_600_000 });
    await new Promise((r) => setTimeout(r, 1200));
    expect(renewCalls()).toBeGreaterThanOrEqual(1);
    expect(renewCalls()).toBeLessThanOrEqual(4);
  });

  it('etcd unreachable: keeps retrying every retryInterval without giving the lease up, recovers after', async () => {
    const { registry, events, renewCalls, lease } = await setup({ ttlSec: 30, marginMs: 29_900, retryMs: 50 });
    registry.setUnreachable(true);
    await until(() => renewCalls() >= 4);
    expect(events).toEqual([]);
    registry.setUnreachable(false);
    await until(() => events.length === 1);
    expect(events).toEqual([`renewed ${lease.subnet}`]);
  });

  it('an outage longer than the TTL: the lease expired, so it is re-acquired (same subnet) when etcd returns', async () => {
    const { registry, events, lease } = await setup({ ttlSec: 1, marginMs: 900, retryMs: 50 });
    registry.setUnreachable(true);
    await new Promise((r) => setTimeout(r, 1200)); // the lease expires in the store meanwhile
    expect(registry.get(lease.subnet.replace('/', '-'))).toBeUndefined();
    registry.setUnreachable(false);
    await until(() => events.some((e) => e.startsWith('reacquired')));
    expect(events).toEqual([`lost ${lease.subnet}`, `reacquired ${lease.subnet} (was ${lease.subnet})`]);
    expect(registry.get(lease.subnet.replace('/', '-'))!.value).toBe(encodeLeaseAttrs(ME));
  });

  it('our lease deleted (seen by the watch) → re-acquired, same subnet, event for re-programming', async () => {
    const { registry, events, lease, keeper } = await setup({ watch: true });
    await until(() => registry.watchCount === 1);
    registry.delete(lease.subnet.replace('/', '-'));
    await until(() => events.length === 2);
    expect(events).toEqual([`lost ${lease.subnet}`, `reacquired ${lease.subnet} (was ${lease.subnet})`]);
    expect(keeper.isLost).toBe(false);
    expect(registry.get(lease.subnet.replace('/', '-'))!.value).toBe(encodeLeaseAttrs(ME));
  });

  it('our subnet taken by another node → re-acquired elsewhere', async () => {
    const { registry, events, lease, keeper } = await setup({ watch: true });
    await until(() => registry.watchCount === 1);
    const key = lease.subnet.replace('/', '-');
    registry.delete(key);
    registry.put(key, encodeLeaseAttrs({ ...ME, PublicIP: '192.168.1.99' }), 3600);
    await until(() => events.some((e) => e.startsWith('reacquired')));
    expect(events[0]).toBe(`lost ${lease.subnet}`);
    expect(keeper.lease.subnet).not.toBe(lease.subnet);
    expect(JSON.parse(registry.get(key)!.value).PublicIP).toBe('192.168.1.99');
  });

  it('expiry noticed by the renewal alone (no watch) → re-acquired', async () => {
    const { registry, events, lease } = await setup({ ttlSec: 2, marginMs: 1700 });
    registry.expire(lease.subnet.replace('/', '-'));
    await until(() => events.length === 2);
    expect(events).toEqual([`lost ${lease.subnet}`, `reacquired ${lease.subnet} (was ${lease.subnet})`]);
  });

  it('a stale "removed" hint is checked with a renewal and does not give the lease up', async () => {
    const { keeper, events, lease } = await setup();
    keeper.observe([{ type: 'removed', lease }]);
    await until(() => events.length === 1);
    expect(events).toEqual([`renewed ${lease.subnet}`]);
    keeper.observe([
      { type: 'snapshot', leases: [lease] },
      { type: 'added', lease },
    ]);
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toHaveLength(1);
  });

  it('re-acquiring while etcd is down is retried until it works', async () => {
    const { registry, events, lease, keeper } = await setup({ retryMs: 40 });
    const key = lease.subnet.replace('/', '-');
    registry.delete(key);
    keeper.once('lost', () => registry.setUnreachable(true)); // down right when we notice
    keeper.observe([{ type: 'removed', lease }]);
    await until(() => events.length === 1);
    await new Promise((r) => setTimeout(r, 150));
    expect(keeper.isLost).toBe(true);
    registry.setUnreachable(false);
    await until(() => events.length === 2);
    expect(events[1]).toBe(`reacquired ${lease.subnet} (was ${lease.subnet})`);
  });

  it('stop() ends all timers', async () => {
    const { keeper, renewCalls } = await setup({ ttlSec: 1, marginMs: 900 });
    keeper.stop();
    await new Promise((r) => setTimeout(r, 300));
    expect(renewCalls()).toBe(0);
  });
});
