/**
 * A weft cluster in namespaces, for weftd's netns tests: an underlay namespace holding bridge `br0`
 * (192.168.50.0/24), etcd in a namespace of its own on it (192.168.50.100), node namespaces `n<i>` at
 * 192.168.50.<i> with weftd, and per node a hand-made `cni0` bridge with one container namespace
 * `c<i>` on it (the CNI plugin's job, done by hand here). Queries go through the node's HTTP endpoint
 * (curl inside the node namespace) and `ip -n`; nothing touches the root namespace.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Lab, type LabProcess, type EtcdHandle, startEtcd } from '@weft/netlab';

export const UNDERLAY_PREFIX = '192.168.50';
export const ETCD_IP = `${UNDERLAY_PREFIX}.100`;
export const ETCD_ENDPOINT = `http://${ETCD_IP}:2379`;
export const NETWORK = '10.244.0.0/16';
export const HEALTHZ_PORT = 8081;
export const WEFTD_BIN = fileURLToPath(new URL('../../packages/control/bin/weftd', import.meta.url));

export interface WeftNode {
  index: number;
  ns: string;
  ip: string;
  subnetFile: string;
  weftd?: LabProcess;
}

export interface NodeStatusJson {
  lease?: { subnet: string; publicIp: string };
  vtep?: { name: string; mac: string; mtu: number };
  peers: Array<{ subnet: string; gateway: string; vtepMac: string; publicIp: string }>;
}

export class WeftdLab {
  underlay = '';
  etcdNs = '';
  etcd: EtcdHandle | undefined;
  readonly nodes = new Map<number, WeftNode>();

  constructor(
    readonly lab: Lab,
    readonly dir: string,
  ) {}

  async buildUnderlay(): Promise<void> {
    this.underlay = await this.lab.addNetns('u');
    await this.lab.addBridge(this.underlay, 'br0');
    this.etcdNs = await this.lab.addNetns('etcd');
    await this.plug(this.etcdNs, 'etcd0', ETCD_IP);
    this.etcd = await startEtcd(this.lab, { netns: this.etcdNs, ip: ETCD_IP });
  }

  /** A namespace with eth0 on br0 at 192.168.50.<i>/24 (a default route via .254, forwarding on). */
  async addHost(name: string, i: number): Promise<string> {
    const ns = await this.lab.addNetns(name);
    await this.plug(ns, `${name}-u`, `${UNDERLAY_PREFIX}.${i}`);
    await this.lab.ipBatch(ns, [`route add default via ${UNDERLAY_PREFIX}.254`]);
    await this.lab.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    return ns;
  }

  async addNode(i: number): Promise<WeftNode> {
    const ns = await this.addHost(`n${i}`, i);
    const dir = join(this.dir, `n${i}`);
    mkdirSync(dir, { recursive: true });
    const node: WeftNode = { index: i, ns, ip: `${UNDERLAY_PREFIX}.${i}`, subnetFile: join(dir, 'subnet.env') };
    this.nodes.set(i, node);
    return node;
  }

  etcdctl(args: string[]): Promise<{ stdout: string }> {
    return this.lab.exec(this.etcdNs, 'env', ['ETCDCTL_API=3', 'etcdctl', `--endpoints=${ETCD_ENDPOINT}`, ...args]);
  }

  /** Starts weftd in the node and waits until it reports itself up. */
  async startWeftd(node: WeftNode, extra: string[] = []): Promise<LabProcess> {
    const args = [
      WEFTD_BIN,
      `--etcd-endpoints=${ETCD_ENDPOINT}`,
      `--subnet-file=${node.subnetFile}`,
      '--healthz-ip=127.0.0.1',
      `--healthz-port=${HEALTHZ_PORT}`,
      ...extra,
    ];
    const p = this.lab.spawn(node.ns, `weftd-n${node.index}`, process.execPath, args);
    node.weftd = p;
    await p.waitFor(/"msg":"weftd is up"/, 30_000);
    return p;
  }

  async http(node: WeftNode, path: string): Promise<string> {
    return (await this.lab.exec(node.ns, 'curl', ['-sS', '--max-time', '3', `http://127.0.0.1:${HEALTHZ_PORT}${path}`])).stdout;
  }

  async status(node: WeftNode): Promise<NodeStatusJson> {
    return JSON.parse(await this.http(node, '/v1/status')) as NodeStatusJson;
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

  private async plug(ns: string, port: string, ip: string): Promise<void> {
    await this.lab.addVeth(ns, 'eth0', this.underlay, port);
    await this.lab.ipBatch(this.underlay, [`link set ${port} master br0`]);
    await this.lab.addAddress(ns, 'eth0', `${ip}/24`);
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
export async function ping(lab: Lab, from: string, ip: string, tries = 5): Promise<void> {
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
