/**
 * A whole weft cluster in namespaces: what `pnpm demo` runs and what the cross-package tests build.
 *
 *   underlay ns `u`:  bridge br0 192.168.60.254/24 (the nodes' default gateway; it routes nowhere)
 *   etcd ns:          192.168.60.100, a real etcd with a temp data dir, net-conf.json at <prefix>/config
 *   node ns `n<i>`:   eth0 192.168.60.<i>/24 on br0, weftd (etcd mode), its own state dir
 *                     (subnet.env, IPAM store) because all namespaces share one filesystem
 *   pod ns `n<i>p<k>`: attached by the real CNI path: the shipped conflist run with libcni semantics
 *                     (weft, then portmap) from inside the node namespace
 *
 * Nodes and pods are named by the lab's prefix; nothing is configured in the root namespace.
 * With `detached`, etcd and weftd write their logs to files under `dir` and may outlive this process
 * (the demo's --keep); otherwise their output is kept in memory for the caller.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CniRuntime, type CniConflist } from './cni-runtime.js';
import { startEtcd, type EtcdHandle } from './etcd.js';
import type { Lab, LabProcess } from './lab.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WEFTD_BIN = join(REPO_ROOT, 'packages/control/bin/weftd');
export const WEFTCTL_BIN = join(REPO_ROOT, 'packages/control/bin/weftctl');
export const WEFT_CNI_DIR = join(REPO_ROOT, 'packages/cni-shim/bin');
export const CONFLIST_PATH = join(REPO_ROOT, 'deploy/10-weft.conflist');
export const REFERENCE_CNI_DIR = '/usr/lib/cni';

export const UNDERLAY = '192.168.60';
export const ETCD_IP = `${UNDERLAY}.100`;
export const ETCD_ENDPOINT = `http://${ETCD_IP}:2379`;
export const ETCD_PREFIX = '/coreos.com/network';

export interface WeftClusterOptions {
  /** Cluster network written into net-conf.json (default 10.244.0.0/16). */
  network?: string;
  /** First three octets of the underlay /24 (default 192.168.60); etcd is .100, the bridge .254. */
  underlay?: string;
  /** etcd and weftd log to files under `dir` and may outlive this process (the demo's --keep). */
  detached?: boolean;
}
export const HEALTHZ_PORT = 8081;

export interface ClusterNode {
  index: number;
  name: string; // n1
  ns: string; // <prefix>n1
  ip: string; // 192.168.60.1
  dir: string; // state dir: subnet.env, ipam/
  subnetFile: string;
  weftd?: LabProcess;
  cni?: CniRuntime;
}

/** The parts of weftd's /v1/status the lab and its tests read. */
export interface ClusterNodeStatus {
  lease?: { subnet: string; publicIp: string };
  vtep?: { name: string; mac: string; mtu: number };
  peers: Array<{ subnet: string; gateway: string; vtepMac: string; publicIp: string }>;
  [more: string]: unknown;
}

export interface ClusterPod {
  name: string; // n1p1
  ns: string;
  node: ClusterNode;
  ip: string;
  containerId: string;
}

export class WeftCluster {
  underlay = '';
  etcdNs = '';
  etcd: EtcdHandle | undefined;
  readonly nodes: ClusterNode[] = [];
  readonly pods: ClusterPod[] = [];

  readonly underlayNet: string;
  readonly etcdIp: string;
  readonly etcdEndpoint: string;

  constructor(
    readonly lab: Lab,
    /** Where node state dirs go (one per node). */
    readonly dir: string,
    readonly opts: WeftClusterOptions = {},
  ) {
    this.underlayNet = opts.underlay ?? UNDERLAY;
    this.etcdIp = `${this.underlayNet}.100`;
    this.etcdEndpoint = `http://${this.etcdIp}:2379`;
  }

  get network(): string {
    return this.opts.network ?? '10.244.0.0/16';
  }

  /** The node with index i (throws if there is none). */
  node(i: number): ClusterNode {
    const n = this.nodes.find((x) => x.index === i);
    if (!n) throw new Error(`no node n${i}`);
    return n;
  }

  private logOpt(file: string): { logFile?: string } {
    return this.opts.detached ? { logFile: join(this.dir, file) } : {};
  }

  /** Underlay bridge; with `etcd` (default), etcd on it and the network config in etcd. */
  async buildUnderlay(opts: { etcd?: boolean } = {}): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.underlay = await this.lab.addNetns('u');
    await this.lab.addBridge(this.underlay, 'br0');
    await this.lab.addAddress(this.underlay, 'br0', `${this.underlayNet}.254/24`);
    if (opts.etcd === false) return;
    this.etcdNs = await this.lab.addNetns('etcd');
    await this.plug(this.etcdNs, 'etcd-u', this.etcdIp);
    this.etcd = await startEtcd(this.lab, {
      netns: this.etcdNs,
      ip: this.etcdIp,
      name: 'weft',
      ...(this.opts.detached ? { dataDir: join(this.dir, 'etcd-data') } : {}),
      ...this.logOpt('etcd.log'),
    });
    await this.etcdctl(['put', `${ETCD_PREFIX}/config`, JSON.stringify({ Network: this.network, Backend: { Type: 'vxlan' } })]);
  }

  etcdctl(args: string[]): Promise<{ stdout: string }> {
    return this.lab.exec(this.etcdNs, 'env', ['ETCDCTL_API=3', 'etcdctl', `--endpoints=${this.etcdEndpoint}`, ...args]);
  }

  /** A namespace with eth0 at <underlay>.<i>/24 on the bridge, default route via .254, forwarding on. */
  async addHost(name: string, i: number): Promise<string> {
    const ns = await this.lab.addNetns(name);
    await this.plug(ns, `${name}-u`, `${this.underlayNet}.${i}`);
    await this.lab.ipBatch(ns, [`route add default via ${this.underlayNet}.254`]);
    await this.lab.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    return ns;
  }

  /** A node namespace on the underlay (no weftd yet). */
  async addNode(i: number): Promise<ClusterNode> {
    const name = `n${i}`;
    const ns = await this.addHost(name, i);
    const ip = `${this.underlayNet}.${i}`;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const node: ClusterNode = { index: i, name, ns, ip, dir, subnetFile: join(dir, 'subnet.env') };
    this.nodes.push(node);
    return node;
  }

  /** Starts weftd in the node; resolves when it logs that it is up. */
  async startWeftd(node: ClusterNode, extra: string[] = []): Promise<LabProcess> {
    const args = [
      WEFTD_BIN,
      `--etcd-endpoints=${this.etcdEndpoint}`,
      `--etcd-prefix=${ETCD_PREFIX}`,
      '--iface=eth0',
      `--subnet-file=${node.subnetFile}`,
      '--healthz-ip=127.0.0.1',
      `--healthz-port=${HEALTHZ_PORT}`,
      ...extra,
    ];
    const p = this.lab.spawn(node.ns, `weftd ${node.name}`, process.execPath, args, process.env, this.logOpt(`${node.name}/weftd.log`));
    node.weftd = p;
    await p.waitFor(/"msg":"weftd is up"/, 30_000);
    return p;
  }

  /** GET a path of weftd's HTTP endpoint, from inside the node namespace (no curl needed). */
  async http(node: ClusterNode, path: string): Promise<string> {
    const script =
      'fetch(process.argv[1],{signal:AbortSignal.timeout(3000)})' +
      '.then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(e.message);process.exit(1)})';
    const { stdout } = await this.lab.exec(node.ns, process.execPath, ['-e', script, `http://127.0.0.1:${HEALTHZ_PORT}${path}`], 10_000);
    return stdout;
  }

  /** weftd's /v1/status. */
  async status(node: ClusterNode): Promise<ClusterNodeStatus> {
    return JSON.parse(await this.http(node, '/v1/status')) as ClusterNodeStatus;
  }

  /** The node's subnet from its subnet file (FLANNEL_SUBNET=10.244.3.1/24 -> 10.244.3.0/24). */
  subnetOf(node: ClusterNode): string {
    const m = /FLANNEL_SUBNET=([0-9.]+)\.1\/(\d+)/.exec(readFileSync(node.subnetFile, 'utf8'));
    if (!m) throw new Error(`no FLANNEL_SUBNET in ${node.subnetFile}`);
    return `${m[1]}.0/${m[2]}`;
  }

  /** The CNI runtime of a node: the shipped conflist with this node's subnet file and IPAM dir. */
  cniFor(node: ClusterNode): CniRuntime {
    if (node.cni) return node.cni;
    const list = JSON.parse(readFileSync(CONFLIST_PATH, 'utf8')) as CniConflist;
    const plugins = list.plugins.map((p) =>
      p.type === 'weft' ? { ...p, subnetFile: node.subnetFile, dataDir: join(node.dir, 'ipam') } : p,
    );
    node.cni = new CniRuntime({ ...list, plugins }, [WEFT_CNI_DIR, REFERENCE_CNI_DIR], node.ns);
    return node.cni;
  }

  /** A pod namespace attached through the real CNI path; returns it with its IPv4 address. */
  async addPod(node: ClusterNode, k: number): Promise<ClusterPod> {
    const name = `${node.name}p${k}`;
    const ns = await this.lab.addNetns(name);
    const containerId = `weft-${this.lab.prefix}${name}`;
    const result = (await this.cniFor(node).add({ containerId, netnsPath: `/var/run/netns/${ns}`, ifName: 'eth0' })) as {
      ips?: Array<{ address: string }>;
    };
    const ip = result.ips?.[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD for ${name} returned no IP: ${JSON.stringify(result)}`);
    const pod: ClusterPod = { name, ns, node, ip, containerId };
    this.pods.push(pod);
    return pod;
  }

  /** CNI DEL for every pod (reverse order), as a runtime does before tearing a node down. */
  async removePods(): Promise<void> {
    for (const p of [...this.pods].reverse()) {
      await this.cniFor(p.node)
        .del({ containerId: p.containerId, netnsPath: `/var/run/netns/${p.ns}`, ifName: 'eth0' })
        .catch(() => undefined);
    }
    this.pods.length = 0;
  }

  private async plug(ns: string, port: string, ip: string): Promise<void> {
    await this.lab.addVeth(ns, 'eth0', this.underlay, port);
    await this.lab.ipBatch(this.underlay, [`link set ${port} master br0`]);
    await this.lab.addAddress(ns, 'eth0', `${ip}/24`);
  }
}
