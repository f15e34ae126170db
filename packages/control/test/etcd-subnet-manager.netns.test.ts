/**
 * The etcd subnet manager, its watch and the lease keeper against a real etcd 3.4 on loopback
 * (started by the test through netlab, stopped by pid, data dir removed). Each test uses its own
 * key prefix. Needs root (netlab's lab registry) and the etcd binary.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, Lab, LabProcess, run, startEtcd, type EtcdHandle } from '@weft/netlab';
import { EtcdRegistry } from '../src/subnet/etcd-registry.js';
import { EtcdSubnetManager } from '../src/subnet/etcd-subnet-manager.js';
import { LeaseKeeper } from '../src/subnet/lease-keeper.js';
import { encodeLeaseAttrs } from '../src/subnet/lease-codec.js';
import { WatchCompactedError, type SubnetRegistry } from '../src/subnet/subnet-registry.js';
import type { LeaseAttrs } from '../src/subnet/types.js';
import { collectLeaseEvents, knownSubnets, until } from './lease-watch-support.js';

const log = pino({ level: process.env.WEFT_TEST_LOG ?? 'silent' });
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const attrs = (i: number): LeaseAttrs => ({
  PublicIP: `192.168.7.${i}`,
  PublicIPv6: null,
  BackendType: 'vxlan',
  BackendData: { VNI: 1, VtepMAC: `0a:00:00:00:07:${i.toString(16).padStart(2, '0')}` },
});

let lab: Lab;
let etcd: EtcdHandle;
let restarted: LabProcess | undefined;
let client: Etcd3;
let prefixN = 0;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  lab = Lab.create('subn');
  etcd = await startEtcd(lab);
  client = new Etcd3({ hosts: etcd.endpoint });
});

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

afterAll(async () => {
  client?.close();
  await restarted?.stop();
  await etcd?.stop();
  await lab?.destroy();
});

/** A fresh prefix with the network config in place. */
async function freshPrefix(): Promise<string> {
  const prefix = `/weft-test-${process.pid}-${++prefixN}/network`;
  await client.put(`${prefix}/config`).value(CONFIG);
  return prefix;
}

function manager(prefix: string, o: { registry?: SubnetRegistry; ttl?: number; progressCheckMs?: number } = {}): EtcdSubnetManager {
  const m = new EtcdSubnetManager({
    endpoints: [etcd.endpoint],
    prefix,
    logger: log,
    ...(o.registry ? { registry: o.registry } : {}),
    ...(o.ttl ? { leaseTtlSec: o.ttl } : {}),
    ...(o.progressCheckMs !== undefined ? { watchProgressCheckMs: o.progressCheckMs } : {}),
  });
  cleanups.push(() => m.close());
  return m;
}

const watch = (m: EtcdSubnetManager) => collectLeaseEvents(m, (stop) => cleanups.push(stop));

/** Kills etcd (data kept) and starts it again with the very same command line: same ports, same data. */
async function restartEtcdAfter(downMs: number, whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  const current = restarted ?? etcd.process;
  const [cmd, ...args] = current.child.spawnargs;
  await current.stop();
  await whileDown();
  await new Promise((r) => setTimeout(r, downMs));
  restarted = new LabProcess('etcd-restarted', spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const probe = new Etcd3({ hosts: etcd.endpoint });
  try {
    const end = Date.now() + 20_000;
    for (;;) {
      try {
        await probe.get('probe').string();
        return;
      } catch (e) {
        if (Date.now() > end || !restarted.running) throw new Error(`etcd did not come back: ${String(e)} ${restarted.stderr.slice(-500)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    probe.close();
  }
}

describe('etcd subnet manager on a real etcd', () => {
  it("ten managers started at once never get the same subnet; keys, JSON and TTL are flannel's", async () => {
    const prefix = await freshPrefix();
    const managers = Array.from({ length: 10 }, () => manager(prefix));
    const leases = await Promise.all(managers.map((m, i) => m.acquireLease(attrs(i + 1))));
    expect(new Set(leases.map((l) => l.subnet)).size).toBe(10);
    const kvs = await client.getAll().prefix(`${prefix}/subnets/`).strings();
    expect(Object.keys(kvs)).toHaveLength(10);
    const l = leases[3]!;
    const key = `${prefix}/subnets/${l.subnet.replace('/', '-')}`;
    expect(kvs[key]).toBe(encodeLeaseAttrs(attrs(4)));
    expect(kvs[key]).toBe(
      `{"PublicIP":"192.168.7.4","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:07:04"}}`,
    );
    const raw = await client.get(key).exec();
    const ttl = await client.leaseClient.leaseTimeToLive({ ID: raw.kvs[0]!.lease });
    expect(Number(ttl.grantedTTL)).toBe(86400);
    // Restarting a node (a new manager, same PublicIP) reuses its subnet.
    expect((await manager(prefix).acquireLease(attrs(4))).subnet).toBe(l.subnet);
  });

  it("a watch sees the others' leases come and go, with their attrs on removal", async () => {
    const prefix = await freshPrefix();
    const a = manager(prefix);
    const own = await a.acquireLease(attrs(1));
    const w = watch(a);
    await until(() => w.events.length === 1);
    expect(w.text()).toEqual([`snapshot ${own.subnet}`]);
    const b = await manager(prefix).acquireLease(attrs(2));
    const c = await manager(prefix).acquireLease(attrs(3));
    await client
      .delete()
      .key(`${prefix}/subnets/${b.subnet.replace('/', '-')}`)
      .exec();
    await until(() => w.events.length === 4);
    expect(w.text()).toEqual([`snapshot ${own.subnet}`, `added ${b.subnet}`, `added ${c.subnet}`, `removed ${b.subnet}`]);
    expect((w.events[3] as { lease: { attrs: LeaseAttrs } }).lease.attrs).toEqual(attrs(2));
  });

  it('a watch from a compacted revision is WatchCompactedError; the lease watch re-lists with a new snapshot', async () => {
    const prefix = await freshPrefix();
    const registry = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix, logger: log });
    cleanups.push(() => registry.close());
    await manager(prefix).acquireLease(attrs(1));
    const { revision } = await registry.listSubnets();
    const second = await manager(prefix).acquireLease(attrs(2));
    await client.put(`${prefix}/bump`).value('1'); // compact past the watch's start revision, not onto it
    const now = Number((await client.get('x').exec()).header.revision);
    await client.kv.compact({ revision: now, physical: true });
    const ac = new AbortController();
    await expect(registry.watchSubnets(revision + 1, () => undefined, ac.signal)).rejects.toBeInstanceOf(WatchCompactedError);

    // The whole loop: hold its first watch until history is compacted away under it.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let watches = 0;
    const gated: SubnetRegistry = Object.create(registry, {
      watchSubnets: {
        value: async (from: number, on: Parameters<SubnetRegistry['watchSubnets']>[1], signal: AbortSignal) => {
          if (watches++ === 0) await gate;
          return registry.watchSubnets(from, on, signal);
        },
      },
    });
    const w = watch(manager(prefix, { registry: gated }));
    await until(() => w.events.length === 1);
    const third = await manager(prefix).acquireLease(attrs(3));
    await client.put(`${prefix}/bump`).value('2');
    const rev = Number((await client.get('x').exec()).header.revision);
    await client.kv.compact({ revision: rev, physical: true });
    release();
    await until(() => w.events.length === 2);
    expect(w.events[1]!.type).toBe('snapshot');
    expect(w.text()[1]).toContain(third.subnet);
    expect(w.text()[1]).toContain(second.subnet);
    const fourth = await manager(prefix).acquireLease(attrs(4));
    await until(() => w.events.length === 3);
    expect(w.text()[2]).toBe(`added ${fourth.subnet}`);
  });

  it('a watch gone silent is found by the progress check (one range read) and re-listed', async () => {
    const prefix = await freshPrefix();
    const registry = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix, logger: log });
    cleanups.push(() => registry.close());
    const a = await manager(prefix).acquireLease(attrs(1));
    const b = await manager(prefix).acquireLease(attrs(2));
    await client.put(`${prefix}/elsewhere`).value('x'); // moves the store's revision, not the lease keys
    const listed = await client.getAll().prefix(`${prefix}/subnets/`).exec();
    expect(await registry.subnetsProgress()).toEqual({
      count: 2,
      newestModRevision: Math.max(...listed.kvs.map((kv) => Number(kv.mod_revision))),
    });
    // The first watch drops every event, as a stream over a connection that died without a word would.
    let watches = 0;
    const silent: SubnetRegistry = Object.create(registry, {
      watchSubnets: {
        value: (from: number, on: Parameters<SubnetRegistry['watchSubnets']>[1], signal: AbortSignal) =>
          registry.watchSubnets(from, watches++ === 0 ? () => undefined : on, signal),
      },
    });
    const w = watch(manager(prefix, { registry: silent, progressCheckMs: 200 }));
    await until(() => w.events.length === 1);
    const c = await manager(prefix).acquireLease(attrs(3));
    const written = Date.now();
    await until(
      () => knownSubnets(w.events).has(c.subnet),
      5000,
      10,
      () => JSON.stringify(w.text()),
    );
    log.info({ foundMs: Date.now() - written }, 'silent watch found and re-listed');
    expect(w.text()).toEqual([
      `snapshot ${[a.subnet, b.subnet].sort().join(',')}`,
      `snapshot ${[a.subnet, b.subnet, c.subnet].sort().join(',')}`,
    ]);
    expect(watches).toBe(2);
    const d = await manager(prefix).acquireLease(attrs(4)); // the new watch delivers
    await until(() => w.text().includes(`added ${d.subnet}`));
  });

  it('our lease deleted in etcd → the keeper re-acquires the same subnet', async () => {
    const prefix = await freshPrefix();
    const m = manager(prefix);
    const lease = await m.acquireLease(attrs(1));
    const keeper = new LeaseKeeper({ manager: m, lease, logger: log, retryIntervalMs: 200 });
    cleanups.push(() => keeper.stop());
    const seen: string[] = [];
    keeper.on('lost', (l) => seen.push(`lost ${l.subnet}`));
    keeper.on('reacquired', (l) => seen.push(`reacquired ${l.subnet}`));
    keeper.start();
    const ac = new AbortController();
    const done = m.watchLeases((b) => keeper.observe(b), ac.signal);
    cleanups.push(async () => {
      ac.abort();
      await done;
    });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await client
      .delete()
      .key(`${prefix}/subnets/${lease.subnet.replace('/', '-')}`)
      .exec();
    await until(() => seen.length === 2, 5000);
    expect(seen).toEqual([`lost ${lease.subnet}`, `reacquired ${lease.subnet}`]);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await client.get(`${prefix}/subnets/${lease.subnet.replace('/', '-')}`).string()).toBe(encodeLeaseAttrs(attrs(1)));
  });

  it('etcd stopped and restarted: the keeper keeps retrying without losing the lease, the watch re-lists', async () => {
    const prefix = await freshPrefix();
    const registry = new EtcdRegistry({ endpoints: [etcd.endpoint], prefix, logger: log, callTimeoutMs: 1000 });
    const m = manager(prefix, { registry, ttl: 20 });
    const lease = await m.acquireLease(attrs(1));
    const keeper = new LeaseKeeper({ manager: m, lease, logger: log, renewMarginMs: 19_000, retryIntervalMs: 300 });
    cleanups.push(() => keeper.stop());
    const seen: string[] = [];
    keeper.on('renewed', () => seen.push('renewed'));
    keeper.on('lost', () => seen.push('lost'));
    keeper.start();
    const w = watch(m);
    await until(() => w.events.length === 1 && seen.includes('renewed'));

    let whileDown: string[] = [];
    await restartEtcdAfter(0, async () => {
      seen.length = 0;
      await new Promise((r) => setTimeout(r, 2500)); // several renewals fail meanwhile
      whileDown = [...seen];
    });
    expect(whileDown).toEqual([]); // nothing renewed, nothing given up
    const back = Date.now();
    await until(() => seen.includes('renewed'), 15_000);
    const recoveredMs = Date.now() - back;
    expect(seen).not.toContain('lost');
    const joiner = await manager(prefix).acquireLease(attrs(2)); // a join works again
    // The watch learns the joiner as `added`, or in its re-list's snapshot when it re-lists after the
    // write (its backoff reaches 5 s while etcd is down; 3 of 20 loaded runs re-listed 1.1 s after it).
    await until(
      () => knownSubnets(w.events).has(joiner.subnet),
      15_000,
      10,
      () => `joiner ${joiner.subnet} not seen; watch events: ${JSON.stringify(w.text())}`,
    );
    const how = w.text().includes(`added ${joiner.subnet}`) ? 'added' : 'snapshot';
    log.info({ recoveredMs, watchResumedMs: Date.now() - back, joinerSeenAs: how }, 'recovered after the etcd restart');
    expect(recoveredMs).toBeLessThan(10_000); // the etcd3 client's circuit breaker holds calls off for up to 5 s
    // Re-listed, not resumed: a resumed watch cannot tell a restarted etcd from a wiped or restored one.
    expect(w.text().filter((t) => t.startsWith('snapshot')).length).toBeGreaterThanOrEqual(2);
    expect(await client.get(`${prefix}/subnets/${lease.subnet.replace('/', '-')}`).string()).toBe(encodeLeaseAttrs(attrs(1)));
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl in `dir`. */
async function makeCerts(dir: string): Promise<void> {
  const o = (...args: string[]) => run('openssl', args, { cwd: dir });
  await o(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=weft-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  for (const who of ['server', 'client']) {
    await o('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=weft-${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
    await o(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'san.ext',
      '-out',
      `${who}.crt`,
    );
  }
}

describe('etcd over TLS with client certificates', () => {
  it('acquires with --etcd-cafile/certfile/keyfile; names an unreadable file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-tls-'));
    let proc: LabProcess | undefined;
    try {
      await makeCerts(dir);
      const [cport, pport] = [await freePort(), await freePort()];
      const endpoint = `https://127.0.0.1:${cport}`;
      const f = (n: string) => join(dir, n);
      proc = new LabProcess(
        'etcd-tls',
        spawn(
          'etcd',
          [
            '--name',
            'tls',
            '--data-dir',
            f('data'),
            '--listen-client-urls',
            endpoint,
            '--advertise-client-urls',
            endpoint,
            '--listen-peer-urls',
            `http://127.0.0.1:${pport}`,
            '--initial-advertise-peer-urls',
            `http://127.0.0.1:${pport}`,
            '--initial-cluster',
            `tls=http://127.0.0.1:${pport}`,
            '--cert-file',
            f('server.crt'),
            '--key-file',
            f('server.key'),
            '--trusted-ca-file',
            f('ca.crt'),
            '--client-cert-auth',
            '--log-level',
            'warn',
            '--logger',
            'zap',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      );
      const tls = { caFile: f('ca.crt'), certFile: f('client.crt'), keyFile: f('client.key') };
      const setup = new Etcd3({
        hosts: endpoint,
        credentials: {
          rootCertificate: readFileSync(tls.caFile),
          certChain: readFileSync(tls.certFile),
          privateKey: readFileSync(tls.keyFile),
        },
      });
      await retry(() =>
        setup
          .put('/tls/network/config')
          .value(CONFIG)
          .exec()
          .then(() => undefined),
      ); // until etcd serves
      setup.close();
      const m = new EtcdSubnetManager({ endpoints: [endpoint], prefix: '/tls/network', tls, logger: log });
      expect((await m.acquireLease(attrs(1))).subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
      await m.close();
      expect(() => new EtcdSubnetManager({ endpoints: [endpoint], tls: { ...tls, keyFile: f('nope.key') }, logger: log })).toThrow(
        /etcd TLS: cannot read key file .*nope\.key/,
      );
      expect(
        () => new EtcdSubnetManager({ endpoints: [endpoint], tls: { caFile: tls.caFile, certFile: tls.certFile }, logger: log }),
      ).toThrow(/--etcd-certfile and --etcd-keyfile go together/);
    } finally {
      await proc?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function retry(f: () => Promise<void>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
