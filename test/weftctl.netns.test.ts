/**
 * weftctl against a running two-node cluster (etcd, weftd in each node): status, fdb and leases in
 * both output forms, and probe telling a blocked VXLAN port from an unreachable underlay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETCD_ENDPOINT, Lab, WEFTCTL_BIN, WeftCluster, type ClusterNode } from '@weft/netlab';

describe('weftctl on a two-node cluster', () => {
  const lab = Lab.create('ctl');
  const dir = mkdtempSync(join(tmpdir(), 'weftctl-'));
  const cluster = new WeftCluster(lab, dir);
  let n1: ClusterNode, n2: ClusterNode;

  const weftctl = async (node: ClusterNode, args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const r = await lab.exec(node.ns, process.execPath, [WEFTCTL_BIN, ...args], 30_000);
      return { code: 0, out: r.stdout };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; message: string };
      return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}\n${err.message}` };
    }
  };

  beforeAll(async () => {
    await cluster.buildUnderlay();
    n1 = await cluster.addNode(1);
    n2 = await cluster.addNode(2);
    await Promise.all([cluster.startWeftd(n1), cluster.startWeftd(n2)]);
    for (let i = 0; i < 100 && (await cluster.status(n1)).peers.length < 1; i++) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('status shows lease, VTEP, the peer and counters; --json is the same data', async () => {
    const human = await weftctl(n1, ['status']);
    expect(human.code).toBe(0);
    expect(human.out).toMatch(/lease\s+10\.244\.\d+\.0\/24\s+public IP 192\.168\.60\.1/);
    expect(human.out).toMatch(/VTEP\s+weft\.1 +mac [0-9a-f:]{17} +mtu 1450 +vni 1 +port 8472 +offload [a-z,-]+ +up/);
    expect(human.out).toContain('192.168.60.2');
    expect(human.out).toMatch(/drops\s+/);
    const json = JSON.parse((await weftctl(n1, ['status', '--json'])).out) as { peers: Array<{ publicIp: string }>; counters: unknown };
    expect(json.peers.map((p) => p.publicIp)).toEqual(['192.168.60.2']);
    expect(json.counters).toBeDefined();
  });

  it('fdb lists the peer VTEP as pinned; leases reads etcd', async () => {
    const peerMac = ((await cluster.status(n2)).vtep as { mac: string }).mac;
    expect((await weftctl(n1, ['fdb'])).out).toMatch(new RegExp(`${peerMac}\\s+192\\.168\\.60\\.2\\s+pinned`));
    const leases = await weftctl(n1, ['leases', `--etcd-endpoints=${ETCD_ENDPOINT}`, '--json']);
    const rows = JSON.parse(leases.out) as Array<{ publicIp: string; vtepMac: string }>;
    expect(rows.map((r) => r.publicIp).sort()).toEqual(['192.168.60.1', '192.168.60.2']);
  });

  it('probe: healthy, then VXLAN blocked, then the underlay unreachable', async () => {
    const ok = await weftctl(n1, ['probe', n2.ip]);
    expect(ok.out).toMatch(/^healthy: underlay/);
    await lab.exec(n2.ns, 'iptables', ['-I', 'INPUT', '-p', 'udp', '--dport', '8472', '-j', 'DROP']);
    const blocked = await weftctl(n1, ['probe', n2.ip]);
    expect(blocked.code).toBe(1);
    expect(blocked.out).toContain('vxlan-blocked-or-vtep-down');
    await lab.exec(n2.ns, 'iptables', ['-I', 'INPUT', '-s', n1.ip, '-j', 'DROP']);
    const down = await weftctl(n1, ['probe', cluster.subnetOf(n2)]);
    expect(down.code).toBe(1);
    expect(down.out).toContain('underlay-unreachable');
  });

  it('says clearly when weftd is not reachable', async () => {
    const r = await weftctl(n1, ['status', '--endpoint=http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/cannot reach weftd at http:\/\/127\.0\.0\.1:9/);
  });
});
