import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdSubnetManager } from '../src/subnet/etcd-subnet-manager.js';
import { MemoryRegistry } from '../src/subnet/memory-registry.js';
import { encodeLeaseAttrs } from '../src/subnet/lease-codec.js';
import type { LeaseAttrs, LeaseEvent } from '../src/subnet/types.js';
import { leaseEventLines, until } from './lease-watch-support.js';

const silent = pino({ level: 'silent' });
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

const attrs = (ip: string, mac = '0a:00:00:00:00:01', type = 'vxlan'): LeaseAttrs => ({
  PublicIP: ip,
  PublicIPv6: null,
  BackendType: type,
  BackendData: { VNI: 1, VtepMAC: mac },
});
const value = (ip: string, mac?: string, type?: string) => encodeLeaseAttrs(attrs(ip, mac, type));

const aborts: AbortController[] = [];
afterEach(() => aborts.splice(0).forEach((a) => a.abort()));

function watch(registry: MemoryRegistry, o: { progressCheckMs?: number; logger?: Logger } = {}) {
  const manager = new EtcdSubnetManager({
    registry,
    logger: o.logger ?? silent,
    ...(o.progressCheckMs !== undefined ? { watchProgressCheckMs: o.progressCheckMs } : {}),
  });
  const batches: LeaseEvent[][] = [];
  const ac = new AbortController();
  aborts.push(ac);
  const done = manager.watchLeases((b) => batches.push(b), ac.signal);
  const flat = () => batches.flat();
  const describeEvents = () => leaseEventLines(flat());
  return { batches, flat, describeEvents, ac, done };
}

describe('lease watch', () => {
  it('starts with a snapshot, then delivers added and removed (removed carries the attrs)', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    expect(w.batches[0]).toEqual([{ type: 'snapshot', leases: [{ subnet: '10.244.1.0/24', attrs: attrs('192.168.1.1'), order: 2 }] }]);
    registry.put('10.244.2.0-24', value('192.168.1.2', '0a:00:00:00:00:02'), 100);
    registry.delete('10.244.1.0-24');
    await until(() => w.flat().length === 3);
    expect(w.flat()[1]).toEqual({
      type: 'added',
      lease: { subnet: '10.244.2.0/24', attrs: attrs('192.168.1.2', '0a:00:00:00:00:02'), order: 3 },
    });
    expect(w.flat()[2]).toEqual({ type: 'removed', lease: { subnet: '10.244.1.0/24', attrs: attrs('192.168.1.1'), order: 2 } });
    w.ac.abort();
    await w.done;
  });

  it('a changed lease is added again; an identical rewrite (renewal) is not', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    registry.put('10.244.1.0-24', value('192.168.1.1', '0a:00:00:00:00:09'), 100);
    registry.put('10.244.5.0-24', value('192.168.1.5'), 100);
    await until(() => w.flat().some((e) => e.type === 'added' && e.lease.subnet === '10.244.5.0/24'));
    expect(w.describeEvents()).toEqual(['snapshot ', 'added 10.244.1.0/24', 'added 10.244.1.0/24', 'added 10.244.5.0/24']);
  });

  it('ignores leases of other backend types, and reports a lease that turns into one as removed', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.3.0-24', value('192.168.1.3', undefined, 'host-gw'), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    expect(w.batches[0]).toEqual([{ type: 'snapshot', leases: [] }]);
    registry.put('10.244.4.0-24', value('192.168.1.4'), 100);
    registry.put('10.244.4.0-24', value('192.168.1.4', undefined, 'udp'), 100);
    registry.put('10.244.6.0-24', value('192.168.1.6', undefined, 'host-gw'), 100);
    registry.delete('10.244.3.0-24');
    registry.put('10.244.7.0-24', value('192.168.1.7'), 100);
    await until(() => w.flat().length === 4);
    expect(w.describeEvents()).toEqual(['snapshot ', 'added 10.244.4.0/24', 'removed 10.244.4.0/24', 'added 10.244.7.0/24']);
  });

  it('logs and skips malformed keys and values, never stops', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', '{"PublicIP":', 100);
    registry.put('garbage', value('192.168.1.9'), 100);
    registry.put('10.244.2.0-24', value('192.168.1.2'), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    expect(w.describeEvents()).toEqual(['snapshot 10.244.2.0/24']);
    const snap = w.flat()[0]!;
    expect(snap.type === 'snapshot' && snap.unusable?.map((u) => `${u.key} ${u.reason}`).sort()).toEqual([
      '10.244.1.0-24 malformed',
      'garbage malformed',
    ]);
    registry.put('10.244.2.0-24', '[]', 100); // a delivered lease turned to junk → removed, and unusable
    registry.put('10.244.2.0-24', '[]', 100); // the same junk again: nothing new
    registry.put('10.244.3.0-24', '{"PublicIP":"300.1.1.1","BackendType":"vxlan"}', 100);
    registry.put('10.244.4.0-24', value('192.168.1.4'), 100);
    registry.delete('10.244.3.0-24');
    await until(() => w.flat().length === 6);
    expect(w.describeEvents()).toEqual([
      'snapshot 10.244.2.0/24',
      'removed 10.244.2.0/24',
      'unusable 10.244.2.0-24 malformed',
      'unusable 10.244.3.0-24 malformed',
      'added 10.244.4.0/24',
      'usable 10.244.3.0-24',
    ]);
  });

  it('a value over 4 KiB is reported oversize without being parsed', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    // The memory registry hands values on as stored; the etcd registry marks oversize ones (boundedValue).
    registry.putKv({ name: '10.244.9.0-24', value: '', lease: '0', modRevision: 9, oversizeBytes: 1_400_000 });
    await until(() => w.flat().length === 2);
    expect(w.describeEvents()).toEqual(['snapshot ', 'unusable 10.244.9.0-24 oversize']);
  });

  it('etcd wiped (revision back to 1, new cluster id) → a snapshot flagged historyReset, watch continues', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    registry.put('10.244.2.0-24', value('192.168.1.2'), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    registry.wipe();
    registry.put('10.244.3.0-24', value('192.168.1.3'), 100);
    await until(() => w.flat().filter((e) => e.type === 'snapshot').length === 2, 6000);
    const snap = w.flat()[1]!;
    expect(snap.type === 'snapshot' && snap.historyReset).toMatch(/cluster id 1 → 2/);
    expect(w.describeEvents()).toEqual(['snapshot 10.244.1.0/24,10.244.2.0/24', 'snapshot 10.244.3.0/24']);
    registry.put('10.244.4.0-24', value('192.168.1.4'), 100);
    await until(() => w.flat().length === 3);
  });

  it('restored from an older backup (same cluster id, lower revision) → historyReset too', async () => {
    const registry = new MemoryRegistry(CONFIG);
    for (let i = 1; i <= 5; i++) registry.put(`10.244.${i}.0-24`, value(`192.168.1.${i}`), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    registry.wipe();
    registry.clusterId = '1';
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    await until(() => w.flat().filter((e) => e.type === 'snapshot').length === 2, 6000);
    const snap = w.flat()[1]!;
    expect(snap.type === 'snapshot' && snap.historyReset).toMatch(/revision 2 is below the 6 already seen/);
  });

  it('re-lists (a new snapshot) when the watch falls behind compaction', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    registry.setUnreachable(true); // the watch breaks; writes below happen while we are away
    registry.setUnreachable(false);
    registry.delete('10.244.1.0-24');
    registry.put('10.244.2.0-24', value('192.168.1.2'), 100);
    registry.compact();
    await until(() => w.flat().filter((e) => e.type === 'snapshot').length === 2);
    expect(w.describeEvents()).toEqual(['snapshot 10.244.1.0/24', 'snapshot 10.244.2.0/24']);
    registry.put('10.244.3.0-24', value('192.168.1.3'), 100);
    await until(() => w.flat().length === 3);
    expect(registry.calls.list).toBe(2);
  });

  it('after a lost connection it backs off and re-lists (a snapshot: nothing missed, whatever happened meanwhile)', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    await until(() => w.flat().length === 2);
    registry.setUnreachable(true);
    await new Promise((r) => setTimeout(r, 350)); // several failed attempts: 100, 200 ms...
    registry.setUnreachable(false);
    registry.put('10.244.2.0-24', value('192.168.1.2'), 100);
    registry.delete('10.244.1.0-24');
    await until(() => w.flat().filter((e) => e.type === 'snapshot').length === 2, 6000);
    expect(w.describeEvents()).toEqual(['snapshot ', 'added 10.244.1.0/24', 'snapshot 10.244.2.0/24']);
    const snap = w.flat()[2]!;
    expect(snap.type === 'snapshot' && snap.historyReset).toBe(undefined); // history went on: no reset
    expect(registry.calls.list).toBeGreaterThanOrEqual(2);
    expect(registry.calls.list).toBeLessThan(8);
  });

  it('an etcd that is down at start is retried until the first snapshot', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.setUnreachable(true);
    const w = watch(registry);
    await new Promise((r) => setTimeout(r, 150));
    expect(w.batches).toHaveLength(0);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    registry.setUnreachable(false);
    await until(() => w.batches.length === 1);
    expect(w.describeEvents()).toEqual(['snapshot 10.244.1.0/24']);
  });

  it('resolves when aborted and leaves no watch behind', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const w = watch(registry);
    await until(() => w.batches.length === 1);
    expect(registry.watchCount).toBe(1);
    w.ac.abort();
    await w.done;
    expect(registry.watchCount).toBe(0);
  });
});

/** A logger that keeps every line (debug and up), and the messages at info or above. */
function capturedLog() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines, loud: () => lines.filter((l) => l.level >= 30).map((l) => l.msg) };
}

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
const snapshots = (w: ReturnType<typeof watch>) => w.describeEvents().filter((t) => t.startsWith('snapshot'));

describe('lease watch progress check (a watch that stays open and delivers nothing)', () => {
  it('a silent watch that misses a new lease, then one that misses a deletion, is re-listed each time', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    const log = capturedLog();
    const w = watch(registry, { progressCheckMs: 20, logger: log.logger });
    await until(() => w.batches.length === 1);
    registry.muteWatches();
    registry.put('10.244.2.0-24', value('192.168.1.2', '0a:00:00:00:00:02'), 100);
    await until(() => snapshots(w).length === 2);
    expect(w.describeEvents()).toEqual(['snapshot 10.244.1.0/24', 'snapshot 10.244.1.0/24,10.244.2.0/24']);
    expect(log.loud()).toEqual(['lease snapshot', 'lease watch stalled: re-listing', 'lease snapshot']);
    registry.put('10.244.3.0-24', value('192.168.1.3', '0a:00:00:00:00:03'), 100); // the new watch delivers
    await until(() => w.describeEvents().includes('added 10.244.3.0/24'));
    registry.muteWatches();
    registry.delete('10.244.1.0-24'); // same number of writes seen, one key fewer
    await until(() => snapshots(w).length === 3);
    expect(snapshots(w)[2]).toBe('snapshot 10.244.2.0/24,10.244.3.0/24');
    expect(registry.calls.list).toBe(3);
  });

  it('a healthy watch, quiet or busy, is never re-listed and logs nothing after its snapshot', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const log = capturedLog();
    const w = watch(registry, { progressCheckMs: 10, logger: log.logger });
    await until(() => w.batches.length === 1);
    await sleepMs(150); // quiet: ~15 checks
    registry.revision += 100; // writes elsewhere in etcd move the store's revision, not these keys
    await sleepMs(50);
    for (let i = 1; i <= 40; i++) {
      registry.put(`10.244.${i}.0-24`, value(`192.168.2.${i}`, `0a:00:00:00:01:${i.toString(16).padStart(2, '0')}`), 100);
      if (i % 4 === 0) await sleepMs(3); // busy while the checks run
    }
    await until(() => w.flat().length === 41);
    await sleepMs(50);
    expect(registry.calls.list).toBe(1);
    expect(registry.calls.progress).toBeGreaterThan(15);
    expect(log.loud()).toEqual(['lease snapshot']);
  });

  it('a silent watch while no lease changes is left alone (nothing was missed)', async () => {
    const registry = new MemoryRegistry(CONFIG);
    registry.put('10.244.1.0-24', value('192.168.1.1'), 100);
    const w = watch(registry, { progressCheckMs: 10 });
    await until(() => w.batches.length === 1);
    registry.muteWatches();
    registry.revision += 10;
    await sleepMs(150);
    expect(registry.calls.list).toBe(1);
    expect(registry.calls.progress).toBeGreaterThan(5);
  });

  it('progressCheckMs 0 turns the check off', async () => {
    const registry = new MemoryRegistry(CONFIG);
    const w = watch(registry, { progressCheckMs: 0 });
    await until(() => w.batches.length === 1);
    await sleepMs(50);
    expect(registry.calls.progress).toBe(0);
  });
});
