/**
 * The plugin with weftd, as on a cluster: two node namespaces on one underlay, a real etcd, weftd on
 * each node writing its subnet file; pods attached through the shipped conflist (netlab's
 * WeftCluster, libcni semantics). Pods on the two nodes ping each other through the overlay. Then
 * weftd stops on one node: DEL still works there (it never depends on weftd), and ADD still works
 * from the subnet file weftd left (existing nodes keep working during an outage, as with flannel).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, WeftCluster, run, type ClusterPod } from '@weft/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVethName } from '../dist/index.js';

let lab: Lab;
let dir: string;
let c: WeftCluster;
beforeAll(async () => {
  await Lab.sweep();
  lab = Lab.create('cni2n');
  dir = mkdtempSync(join(tmpdir(), 'weft-cni-2n-'));
  c = new WeftCluster(lab, dir);
  await c.buildUnderlay();
  for (const i of [1, 2]) await c.startWeftd(await c.addNode(i));
});
afterAll(async () => {
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Pings until the overlay carries it (weftd programs a peer when it sees its lease). */
async function pingUntil(from: ClusterPod, to: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await run('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '1', to]);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
}

const reservations = (nodeDir: string): string[] => {
  const d = join(nodeDir, 'ipam', 'weft');
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};

describe('weft pods on two weftd nodes', () => {
  it('pods on different nodes reach each other through the overlay', async () => {
    const a = await c.addPod(c.node(1), 1);
    const b = await c.addPod(c.node(2), 1);
    expect(a.ip.split('.').slice(0, 3)).not.toEqual(b.ip.split('.').slice(0, 3));
    await pingUntil(a, b.ip);
    await pingUntil(b, a.ip);
  });

  it('with weftd stopped, DEL and ADD still work on that node', async () => {
    const n1 = c.node(1);
    await n1.weftd!.stop();
    const [a] = c.pods.filter((p) => p.node === n1);
    await c.cniFor(n1).del({ containerId: a!.containerId, netnsPath: `/var/run/netns/${a!.ns}`, ifName: 'eth0' });
    expect(reservations(n1.dir)).not.toContain(a!.ip);
    expect((await run('ip', ['-n', n1.ns, 'link', 'show'])).stdout).not.toContain(hostVethName(a!.containerId, 'eth0'));
    c.pods.splice(c.pods.indexOf(a!), 1);

    const again = await c.addPod(n1, 2);
    expect(reservations(n1.dir)).toContain(again.ip);
    await pingUntil(again, `${again.ip.split('.').slice(0, 3).join('.')}.1`);
  });
});
