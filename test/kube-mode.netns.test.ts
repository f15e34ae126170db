/**
 * weftd --kube-subnet-mgr end to end: two weft nodes in namespaces take their subnets from the
 * nodes' podCIDRs on an API server, publish flannel's annotations, learn each other from the node
 * watch, and their containers ping. The API server is the in-test fake (packages/control/test/
 * kube-api-server.ts; no real one can be installed here). It listens on the test's loopback, which a
 * node namespace cannot reach, so each node gets a forwarder: 127.0.0.1:6443 in the node → a unix
 * socket (file system, shared by all namespaces) → the fake server.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LoopbackBridge } from '@weft/netlab';
import { FakeKubeApiServer } from '../packages/control/test/kube-api-server.js';
import { NETWORK, WEFTD_BIN, WeftdLab, ping, waitUntil } from './lib/weftd-lab.js';

const PODCIDR = { 1: '10.244.11.0/24', 2: '10.244.12.0/24' } as const;

describe('weftd in Kubernetes mode (fake API server)', () => {
  let lab: Lab;
  let w: WeftdLab;
  let dir: string;
  let api: FakeKubeApiServer;
  let bridge: LoopbackBridge;
  const containerIp = new Map<number, string>();

  beforeAll(async () => {
    await Lab.sweep();
    lab = Lab.create('wkm');
    dir = mkdtempSync(join(tmpdir(), 'weftd-kube-'));
    w = new WeftdLab(lab, dir);
    api = new FakeKubeApiServer();
    await api.start();
    bridge = await LoopbackBridge.open(dir, Number(new URL(api.url).port));
    await w.buildUnderlay({ etcd: false });
    writeFileSync(join(dir, 'net-conf.json'), JSON.stringify({ Network: NETWORK, Backend: { Type: 'vxlan' } }));
    for (const i of [1, 2] as const) {
      const n = await w.addNode(i);
      await bridge.into(lab, n.ns);
      api.addNode(`n${i}`, PODCIDR[i]);
    }
  });

  afterAll(async () => {
    if (process.env.WEFT_TEST_LOGS)
      for (const n of w?.nodes ?? []) console.log(`--- weftd n${n.index}\n${n.weftd?.stdout}${n.weftd?.stderr}`);
    await lab?.destroy();
    bridge?.close();
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("takes the podCIDR, publishes flannel's annotations, learns the peer, pings across", async () => {
    for (const i of [1, 2] as const) {
      const n = w.node(i);
      const p = lab.spawn(
        n.ns,
        `weftd-n${i}`,
        process.execPath,
        [
          WEFTD_BIN,
          '--kube-subnet-mgr',
          '--kube-api-url=http://127.0.0.1:6443',
          `--net-config-path=${join(dir, 'net-conf.json')}`,
          `--subnet-file=${n.subnetFile}`,
          '--iface=eth0',
          '--healthz-ip=127.0.0.1',
          '--healthz-port=8081',
        ],
        { ...process.env, NODE_NAME: `n${i}` },
      );
      n.weftd = p;
      await p.waitFor(/"msg":"weftd is up"/, 30_000);
      expect(readFileSync(n.subnetFile, 'utf8')).toContain(`FLANNEL_SUBNET=${PODCIDR[i].replace('.0/', '.1/')}`);
    }
    for (const i of [1, 2] as const) {
      const n = w.node(i);
      const node = api.getNode(`n${i}`) as {
        metadata: { annotations: Record<string, string> };
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      const status = await w.status(n);
      expect(node.metadata.annotations['flannel.alpha.coreos.com/backend-type']).toBe('vxlan');
      expect(node.metadata.annotations['flannel.alpha.coreos.com/public-ip']).toBe(n.ip);
      expect(JSON.parse(node.metadata.annotations['flannel.alpha.coreos.com/backend-data']!)).toEqual({
        VNI: 1,
        VtepMAC: status.vtep!.mac,
      });
      await waitUntil(`n${i} NetworkUnavailable=False`, async () =>
        ((api.getNode(`n${i}`) as typeof node).status?.conditions ?? []).some(
          (c) => c.type === 'NetworkUnavailable' && c.status === 'False',
        ),
      );
      await waitUntil(`n${i} to program its peer`, async () => (await w.status(n)).peers.length === 1);
      containerIp.set(i, await w.addContainer(n, PODCIDR[i]));
    }
    await ping(lab, lab.ns('c1'), containerIp.get(2)!);
    await ping(lab, lab.ns('c2'), containerIp.get(1)!);
  });

  it('a node deleted from the API → the peer removes its route, neighbour and FDB entry', async () => {
    const n1 = w.node(1);
    const mac2 = (await w.status(w.node(2))).vtep!.mac;
    api.deleteNode('n2');
    await waitUntil(
      'n1 to drop n2',
      async () => JSON.stringify(await w.entriesFor(n1, PODCIDR[2], mac2)) === '{"route":false,"neigh":false,"fdb":false}',
      5000,
    );
  });
});
