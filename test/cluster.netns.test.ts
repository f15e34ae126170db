/**
 * weftd end to end: three weft nodes on one underlay with a real etcd, containers pinging across
 * nodes; stop, lease deletion, restart, an etcd outage, a late joiner, and a node running flannel's
 * kernel vxlan backend in the same cluster. Steps share one cluster and run in order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, startEtcd, type EtcdHandle } from '@weft/netlab';
import { type WeftNode, WeftdLab, ETCD_IP, NETWORK, WEFTD_BIN, ping, waitUntil } from './lib/weftd-lab.js';

const NET_CONF = JSON.stringify({ Network: NETWORK, Backend: { Type: 'vxlan' } });
const PREFIX = '/coreos.com/network';

function subnetOf(node: WeftNode): string {
  const m = /FLANNEL_SUBNET=([0-9.]+)\.1\/(\d+)/.exec(readFileSync(node.subnetFile, 'utf8'));
  if (!m) throw new Error(`no FLANNEL_SUBNET in ${node.subnetFile}`);
  return `${m[1]}.0/${m[2]}`;
}

const keyOf = (subnet: string): string => `${PREFIX}/subnets/${subnet.replace('/', '-')}`;

describe('weftd cluster (etcd, three nodes, containers)', () => {
  let lab: Lab;
  let w: WeftdLab;
  let dir: string;
  let etcdAgain: EtcdHandle | undefined;
  const containerIp = new Map<number, string>();
  const node = (i: number): WeftNode => w.node(i);

  beforeAll(async () => {
    await Lab.sweep();
    lab = Lab.create('wcl');
    dir = mkdtempSync(join(tmpdir(), 'weftd-cluster-'));
    w = new WeftdLab(lab, dir);
    await w.buildUnderlay();
    await w.etcdctl(['put', `${PREFIX}/config`, NET_CONF]);
    for (const i of [1, 2, 3]) await w.addNode(i);
  });

  afterAll(async () => {
    if (process.env.WEFT_TEST_LOGS)
      for (const n of w?.nodes ?? []) console.log(`--- weftd n${n.index}\n${n.weftd?.stdout}${n.weftd?.stderr}`);
    await lab?.destroy();
    await etcdAgain?.stop();
    await w?.etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an invalid network config in etcd stops weftd with exit 2 and the field named', async () => {
    await w.etcdctl(['put', '/bad/config', JSON.stringify({ Network: NETWORK, Backend: { Type: 'host-gw' } })]);
    const x = await w.addHost('x', 9);
    const p = lab.spawn(x, 'weftd-bad', process.execPath, [
      WEFTD_BIN,
      `--etcd-endpoints=http://${ETCD_IP}:2379`,
      '--etcd-prefix=/bad',
      '--subnet-file=/dev/null/none',
    ]);
    expect(await p.exited).toBe(2);
    expect(p.stderr).toMatch(/^weftd: .*Backend\.Type.*host-gw.*\n$/);
  });

  it('every node learns the other two; containers ping across nodes', async () => {
    // n1 finds its underlay from the default route, n2 is told the interface, n3 the address.
    await w.startWeftd(node(1));
    await w.startWeftd(node(2), ['--iface=eth0']);
    await w.startWeftd(node(3), [`--iface=${node(3).ip}`, '--ip-masq', '--iptables-resync=1']);
    for (const i of [1, 2, 3]) {
      await waitUntil(`n${i} to program two peers`, async () => (await w.status(node(i))).peers.length === 2);
      containerIp.set(i, await w.addContainer(node(i), subnetOf(node(i))));
    }
    const s1 = await w.status(node(1));
    expect(s1.vtep?.mtu).toBe(1450);
    expect(s1.lease?.publicIp).toBe(node(1).ip);
    expect(readFileSync(node(1).subnetFile, 'utf8')).toMatch(
      /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n$/,
    );
    expect(await w.http(node(1), '/readyz')).toBe('ok\n');
    expect(await w.http(node(1), '/metrics')).toMatch(/^weft_peers 2$/m);
    for (const a of [1, 2, 3]) for (const b of [1, 2, 3]) if (a !== b) await ping(lab, lab.ns(`c${a}`), containerIp.get(b)!);
  });

  it('--ip-masq keeps its chain in place and removes it on SIGTERM; routes stay on both sides', async () => {
    const n3 = node(3);
    const save = async (): Promise<string> => (await lab.exec(n3.ns, 'iptables-save', ['-t', 'nat'])).stdout;
    expect(await save()).toMatch(/-A POSTROUTING -m comment --comment "weft masq" -j WEFT-POSTRTG/);
    // Pod traffic leaving the cluster network is masqueraded: etcd's namespace has no route to pods.
    await ping(lab, lab.ns('c3'), ETCD_IP);
    await lab.exec(n3.ns, 'iptables', ['-w', '-t', 'nat', '-F', 'WEFT-POSTRTG']);
    await waitUntil('WEFT-POSTRTG to be restored', async () => /-j MASQUERADE --random-fully/.test(await save()), 5000);

    const s3 = subnetOf(n3);
    const mac3 = (await w.status(n3)).vtep!.mac;
    await n3.weftd!.stop();
    expect(n3.weftd!.exitCode).toBe(0);
    expect(await save()).not.toMatch(/WEFT-POSTRTG/);
    // Its lease stays in etcd, so peers keep its entries; its own device keeps its routes.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await w.entriesFor(node(1), s3, mac3)).toEqual({ route: true, neigh: true, fdb: true });
    const ownRoutes = (await lab.exec(n3.ns, 'ip', ['-4', 'route', 'show', 'dev', 'weft.1'])).stdout;
    expect(ownRoutes.trim().split('\n')).toHaveLength(2);
  });

  it('lease deleted in etcd → peers remove route, neighbour and FDB entry within 2 s', async () => {
    const s3 = subnetOf(node(3));
    const mac3 = (await w.status(node(1))).peers.find((p) => p.subnet === s3)!.vtepMac;
    await w.etcdctl(['del', keyOf(s3)]);
    for (const i of [1, 2]) {
      const ms = await waitUntil(
        `n${i} to drop ${s3}`,
        async () => JSON.stringify(await w.entriesFor(node(i), s3, mac3)) === '{"route":false,"neigh":false,"fdb":false}',
        2000,
      );
      expect(ms).toBeLessThan(2000);
    }
  });

  it('restart (even with the device gone) → same subnet and VTEP MAC, peers re-learn it, pings work again', async () => {
    const n3 = node(3);
    const before = { subnet: subnetOf(n3), mac: (await lab.exec(n3.ns, 'cat', ['/sys/class/net/weft.1/address'])).stdout.trim() };
    // As after a reboot: the device is gone, only the subnet file is left. The MAC is derived, not stored.
    await lab.ipBatch(n3.ns, ['link del weft.1']);
    await w.startWeftd(n3, [`--iface=${n3.ip}`]);
    const s = await w.status(n3);
    expect({ subnet: s.lease?.subnet, mac: s.vtep?.mac }).toEqual(before);
    await waitUntil('n1 to program n3 again', async () => (await w.status(node(1))).peers.length === 2);
    await ping(lab, lab.ns('c1'), containerIp.get(3)!);
    // A restart with the lease still in etcd (reused by PublicIP) changes nothing either.
    // It re-attaches to its device, finds its routes and neighbours in place; the datapath FDB comes from
    // its state file before etcd answers (so the reconcile finds it filled); a stale route and neighbour
    // planted while it was down are removed.
    const subnet2 = subnetOf(node(2));
    await node(2).weftd!.stop();
    await lab.ipBatch(node(2).ns, [
      'neigh replace 10.244.251.0 lladdr 0e:00:00:00:02:51 dev weft.1 nud permanent',
      'route replace 10.244.251.0/24 via 10.244.251.0 dev weft.1 onlink',
    ]);
    const p2 = await w.startWeftd(node(2), ['--iface=eth0']);
    expect(subnetOf(node(2))).toBe(subnet2);
    await p2.waitFor(/"removedRoutes":1,"removedNeighbours":1,"added":0,"fdbReplaced":false,"failed":0/);
    expect((await lab.exec(node(2).ns, 'ip', ['-4', 'route', 'show', 'dev', 'weft.1'])).stdout).not.toContain('10.244.251.0');
    await ping(lab, lab.ns('c2'), containerIp.get(1)!);
  });

  it('etcd killed → pings keep working; etcd back → a fourth node joins and is reached', async () => {
    await w.etcd!.process.stop();
    await new Promise((r) => setTimeout(r, 1500));
    for (const [a, b] of [
      [1, 2],
      [2, 3],
      [3, 1],
    ] as const)
      await ping(lab, lab.ns(`c${a}`), containerIp.get(b)!);
    etcdAgain = await startEtcd(lab, { netns: w.etcdNs, ip: ETCD_IP, dataDir: w.etcd!.dataDir });
    const n4 = await w.addNode(4);
    await w.startWeftd(n4);
    containerIp.set(4, await w.addContainer(n4, subnetOf(n4)));
    for (const i of [1, 2, 3, 4])
      await waitUntil(`n${i} to program three peers`, async () => (await w.status(node(i))).peers.length === 3, 15_000);
    for (const i of [1, 2, 3]) {
      await ping(lab, lab.ns(`c${i}`), containerIp.get(4)!);
      await ping(lab, lab.ns('c4'), containerIp.get(i)!);
    }
  });

  it('own lease deleted → the node re-acquires it and is programmed again everywhere', async () => {
    const n1 = node(1);
    const s1 = subnetOf(n1);
    await w.etcdctl(['del', keyOf(s1)]);
    await n1.weftd!.waitFor(/"msg":"lease re-acquired"/, 10_000);
    expect((await w.etcdctl(['get', keyOf(s1), '--print-value-only'])).stdout).toContain(`"PublicIP":"${n1.ip}"`);
    expect(await w.http(n1, '/readyz')).toBe('ok\n');
    for (const i of [2, 3, 4])
      await waitUntil(`n${i} to program n1 again`, async () => (await w.status(node(i))).peers.some((p) => p.subnet === s1));
    await ping(lab, lab.ns('c2'), containerIp.get(1)!);
  });

  it("mixed cluster: a node on flannel's kernel vxlan backend and weft nodes ping both ways", async () => {
    const f = await w.addHost('f', 5);
    const fMac = '0e:fa:00:00:00:05';
    const fSubnet = '10.244.250.0/24';
    await lab.ipBatch(f, [
      'link add flannel.1 type vxlan id 1 dstport 8472 nolearning local 192.168.50.5 dev eth0',
      `link set flannel.1 address ${fMac} mtu 1450 up`,
      'addr add 10.244.250.0/32 dev flannel.1',
    ]);
    await lab.exec(f, 'ethtool', ['-K', 'eth0', 'tx', 'off']); // veth leaves kernel-encapsulated checksums partial
    const fNode: WeftNode = { index: 5, name: 'f', ns: f, ip: '192.168.50.5', dir: '', subnetFile: '' };
    const fIp = await w.addContainer(fNode, fSubnet);
    // flannel's lease, in flannel's JSON, as its etcd subnet manager writes it.
    await w.etcdctl([
      'put',
      keyOf(fSubnet),
      JSON.stringify({ PublicIP: '192.168.50.5', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: fMac } }),
    ]);
    // What flanneld would program for each weft node it sees.
    const lines: string[] = [];
    for (const i of [1, 2, 3, 4]) {
      const s = await w.status(node(i));
      const gw = s.lease!.subnet.split('/')[0]!;
      lines.push(
        `neigh replace ${gw} lladdr ${s.vtep!.mac} dev flannel.1 nud permanent`,
        `route replace ${s.lease!.subnet} via ${gw} dev flannel.1 onlink`,
      );
      await lab.exec(f, 'bridge', ['fdb', 'append', s.vtep!.mac, 'dev', 'flannel.1', 'dst', node(i).ip]);
    }
    await lab.ipBatch(f, lines);
    for (const i of [1, 2, 3, 4])
      await waitUntil(`n${i} to program the flannel node`, async () => (await w.status(node(i))).peers.length === 4);
    for (const i of [1, 2, 4]) {
      await ping(lab, lab.ns(`c${i}`), fIp);
      await ping(lab, lab.ns('c5'), containerIp.get(i)!);
    }
  });
});
