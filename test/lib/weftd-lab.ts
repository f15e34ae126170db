/**
 * weftd's netns tests on netlab's WeftCluster (underlay 192.168.50.0/24, etcd at .100, node namespaces
 * `n<i>` with weftd), plus what only these tests need: a hand-made `cni0` with one container per node
 * (the CNI plugin's job, done by hand here so weftd is tested alone) and a check of the three entries
 * (route, permanent neighbour, FDB) weftd programs for a peer. Nothing touches the root namespace.
 */
import { type ClusterNode, WeftCluster, WEFTD_BIN } from '@weft/netlab';

export const UNDERLAY_PREFIX = '192.168.50';
export const ETCD_IP = `${UNDERLAY_PREFIX}.100`;
export const NETWORK = '10.244.0.0/16';
export { WEFTD_BIN };
export type WeftNode = ClusterNode;

export class WeftdLab extends WeftCluster {
  constructor(lab: ConstructorParameters<typeof WeftCluster>[0], dir: string) {
    super(lab, dir, { underlay: UNDERLAY_PREFIX, network: NETWORK });
  }

  /** route, permanent neighbour and FDB entry for `subnet` on `node`: which of the three are present. */
  async entriesFor(node: WeftNode, subnet: string, mac: string): Promise<{ route: boolean; neigh: boolean; fdb: boolean }> {
    const gw = subnet.split('/')[0]!;
    const [routes, neighs, fdb] = await Promise.all([
      this.lab.exec(node.ns, 'ip', ['-j', '-4', 'route', 'show', 'dev', 'weft.1']),
      this.lab.exec(node.ns, 'ip', ['-j', '-4', 'neigh', 'show', 'dev', 'weft.1']),
      this.http(node, '/v1/fdb'),
    ]);
    return {
      route: (JSON.parse(routes.stdout) as Array<{ dst: string; gateway?: string }>).some((r) => r.dst === subnet && r.gateway === gw),
      neigh: (JSON.parse(neighs.stdout) as Array<{ dst: string; lladdr?: string; state?: string[] }>).some(
        (n) => n.dst === gw && n.lladdr === mac && (n.state ?? []).includes('PERMANENT'),
      ),
      fdb: (JSON.parse(fdb) as Array<{ mac: string }>).some((e) => e.mac === mac),
    };
  }

  /** cni0 at the subnet's first address and container c<i> at its second, default route via cni0. */
  async addContainer(node: WeftNode, subnet: string): Promise<string> {
    const [net, len] = subnet.split('/') as [string, string];
    const base = net.split('.').slice(0, 3).join('.');
    await this.lab.addBridge(node.ns, 'cni0');
    await this.lab.addAddress(node.ns, 'cni0', `${base}.1/${len}`);
    const c = await this.lab.addNetns(`c${node.index}`);
    await this.lab.addVeth(c, 'eth0', node.ns, `veth${node.index}`);
    await this.lab.ipBatch(node.ns, [`link set veth${node.index} master cni0`]);
    await this.lab.addAddress(c, 'eth0', `${base}.2/${len}`);
    await this.lab.ipBatch(c, [`route add default via ${base}.1`]);
    return `${base}.2`;
  }
}

/** Polls `check` every 100 ms until it returns true; rejects after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One ICMP echo from namespace `from` to `ip`, a few tries (first packets may wait for ARP). */
export async function ping(lab: WeftCluster['lab'], from: string, ip: string, tries = 5): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      await lab.exec(from, 'ping', ['-c', '1', '-W', '1', '-n', '-q', ip]);
      return;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no ping reply from ${ip} in ${from}: ${String(last)}`);
}
