/**
 * weftd's lifecycle through its seams (weftd-deps.ts), without a device, root or etcd: a FakeVtep, a
 * FakeHostProgrammer, the etcd subnet manager over a MemoryRegistry, a fixed underlay, a temp run dir and subnet
 * file. Covers start → up → stop, lease lost → re-acquired, which errors stop weftd and which are retried, and the
 * teardown after a start that failed half-way.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostLock, type VtepOptions } from '@weft/datapath';
import { FakeVtep } from '@weft/datapath/testing';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWeftdArgs, type WeftdConfig } from '../src/cli/weftd-flags.js';
import { NetConfError } from '../src/config/net-conf.js';
import { EtcdSubnetManager } from '../src/subnet/etcd-subnet-manager.js';
import { MemoryRegistry } from '../src/subnet/memory-registry.js';
import type { SubnetManager } from '../src/subnet/types.js';
import { Weftd } from '../src/weftd.js';
import type { WeftdDeps } from '../src/weftd-deps.js';
import { FakeHostProgrammer } from './fake-host-programmer.js';

const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function configIn(dir: string, extra: string[] = []): WeftdConfig {
  const parsed = parseWeftdArgs(
    [
      `--subnet-file=${join(dir, 'subnet.env')}`,
      `--run-dir=${join(dir, 'run')}`,
      '--healthz-port=0',
      '--iptables-forward-rules=false',
      '--public-ip=192.168.60.1',
      ...extra,
    ],
    {},
  );
  if (parsed.kind !== 'run') throw new Error('not a run config');
  return parsed.config;
}

interface Node {
  weftd: Weftd;
  config: WeftdConfig;
  registry: MemoryRegistry;
  host: FakeHostProgrammer;
  vteps: FakeVtep[];
  /** What weftd asked of each VTEP it opened. */
  opened: VtepOptions[];
  logs: Array<{ level: number; msg: string }>;
  closedManagers: number;
  policyRemoved: number;
}

/** A weftd on fakes. `manager` wraps the real subnet manager (to inject failures); `openVtep` may fail. */
function node(o: { manager?: (sm: SubnetManager) => SubnetManager; openVtep?: (v: VtepOptions) => Promise<FakeVtep> } = {}): Node {
  const dir = mkdtempSync(join(tmpdir(), 'weftd-unit-'));
  dirs.push(dir);
  const logs: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const registry = new MemoryRegistry(CONFIG);
  const host = new FakeHostProgrammer();
  const n: Node = {
    weftd: undefined as unknown as Weftd,
    config: configIn(dir),
    registry,
    host,
    vteps: [],
    opened: [],
    logs,
    closedManagers: 0,
    policyRemoved: 0,
  };
  const deps: WeftdDeps = {
    findUnderlay: async () => ({ iface: 'eth0', ifaceAddr: '192.168.60.1', publicIp: '192.168.60.1', mtu: 1500 }),
    createSubnetManager: async (_c, ctx) => {
      const sm = new EtcdSubnetManager({ registry, logger: ctx.logger, random: () => 0 });
      const closing: SubnetManager = Object.assign(Object.create(sm) as SubnetManager, {
        close: async () => {
          n.closedManagers++;
          await sm.close();
        },
      });
      return o.manager ? o.manager(closing) : closing;
    },
    openVtep: async (v) => {
      n.opened.push(v);
      const vtep = o.openVtep ? await o.openVtep(v) : new FakeVtep(v.name, v.mac, v.mtu, v.vni, v.port);
      n.vteps.push(vtep);
      return vtep;
    },
    linkMac: async () => undefined,
    hostProgrammer: () => host,
    removePolicy: async () => void n.policyRemoved++,
    startPolicy: async () => {
      throw new Error('policy is off in these tests');
    },
  };
  n.weftd = new Weftd(n.config, logger, 'test', deps);
  return n;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const logged = (n: Node, re: RegExp): boolean => n.logs.some((l) => re.test(l.msg));

describe('weftd lifecycle', () => {
  it('comes up (lease, device address, subnet file, state file), and a stop leaves the lease and state for the next start', async () => {
    const n = node();
    const run = n.weftd.run();
    await until('ready', async () => (await n.weftd.readiness()).ready);
    const status = await n.weftd.status();
    expect(status.lease?.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
    expect(n.host.address).toBe(`${status.lease!.subnet.replace('/24', '')}/32`);
    expect(readFileSync(n.config.subnetFile, 'utf8')).toContain(`FLANNEL_SUBNET=${status.lease!.subnet.replace('.0/24', '.1/24')}`);
    expect(n.policyRemoved).toBe(1);
    expect(n.opened[0]).toMatchObject({ sourcePorts: 8, offload: 'auto', persist: true, multiQueue: true });
    n.weftd.stop();
    await run;
    expect(n.vteps[0]!.closed).toBe(true);
    expect(n.closedManagers).toBe(1);
    expect(n.registry.get(status.lease!.subnet.replace('/', '-'))).toBeDefined();
    expect(JSON.parse(readFileSync(join(n.config.runDir, 'weftd-state.json'), 'utf8'))).toMatchObject({
      ownLease: { subnet: status.lease!.subnet },
    });
  });

  it('a lost lease is re-acquired and the node re-programmed; readiness follows', async () => {
    const n = node();
    const run = n.weftd.run();
    await until('ready', async () => (await n.weftd.readiness()).ready);
    const subnet = (await n.weftd.status()).lease!.subnet;
    n.registry.delete(subnet.replace('/', '-'));
    await until('the lease back in the registry', () => n.registry.get(subnet.replace('/', '-')) !== undefined);
    await until('ready again', async () => (await n.weftd.readiness()).ready);
    expect(logged(n, /lease was deleted or expired/)).toBe(true);
    n.weftd.stop();
    await run;
  });

  it('etcd trouble is retried (logged, never fatal); a bad network config stops weftd with its cause', async () => {
    let failures = 2;
    const flaky = node({
      manager: (sm) =>
        Object.assign(Object.create(sm) as SubnetManager, {
          getNetworkConfig: async () => {
            if (failures-- > 0) throw new Error('etcd: connection refused');
            return sm.getNetworkConfig();
          },
        }),
    });
    const run = flaky.weftd.run();
    await until('ready after two failed reads', async () => (await flaky.weftd.readiness()).ready);
    expect(flaky.logs.filter((l) => /reading the network config failed; retrying/.test(l.msg))).toHaveLength(2);
    flaky.weftd.stop();
    await run;

    const broken = node({
      manager: (sm) =>
        Object.assign(Object.create(sm) as SubnetManager, {
          getNetworkConfig: async () => Promise.reject(new NetConfError('Network is missing')),
        }),
    });
    await expect(broken.weftd.run()).rejects.toThrow(/Network is missing/);
    expect(broken.closedManagers).toBe(1);
  });

  it('a start that fails half-way (the VTEP does not open) takes down what it started and frees the node', async () => {
    const n = node({ openVtep: async () => Promise.reject(new Error('TUNSETIFF weft.1: Operation not permitted')) });
    await expect(n.weftd.run()).rejects.toThrow(/TUNSETIFF/);
    expect(n.closedManagers).toBe(1);
    expect(n.registry.get('10.244.0.0-24')).toBeUndefined(); // no lease taken without a VTEP
    const lock = new HostLock(join(n.config.runDir, 'weftd.lock'));
    expect(lock.tryAcquire()).toBe(true); // the host lock was released
    lock.release();
  });
});
