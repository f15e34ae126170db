/**
 * A cluster that runs a shipped DaemonSet for real: two namespace nodes (NodeHost: own network and
 * mount namespace, own host root) on one underlay, the manifest's containers run with podman and runc,
 * and what the control plane of each mode needs:
 *
 *   etcd mode (deploy/weft-etcd.yml)  etcd 3.4 over TLS with client certificates in its own namespace;
 *                                     the ConfigMap's etcd-endpoints set to it, the Secret a client cert.
 *   kube mode (deploy/weft.yml)       the in-test API server (packages/control/test/kube-api-server.ts)
 *                                     behind a TLS forwarder on 127.0.0.1:6443 in each node, reached the
 *                                     way an in-cluster client reaches it: KUBERNETES_SERVICE_HOST/PORT
 *                                     and the service account directory (token, ca.crt) that the
 *                                     kubelet adds. (The fake server does not check the token.)
 *
 * Image: what `pnpm image` builds from this tree (scripts/image.sh, its layer cache makes an unchanged
 * tree quick), or WEFT_TEST_IMAGE; it stands for the manifest's `image:`. It is copied into a shared
 * read-only store next to a busybox-static pod image built here (no registry anywhere).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, WeftCluster, run, type ClusterNode, type LabProcess } from '@weft/netlab';
import { FakeKubeApiServer } from '../../packages/control/test/kube-api-server.js';
import { loadManifests, type KubeObject } from './kube-manifests.js';
import { NodeHost } from './node-host.js';
import { podmanRunArgs, type NodeView, type PodSpec, type VolumeSpec } from './pod-to-podman.js';
import { runCommand, WEFT_IMAGE } from './podman.js';
import { makeEtcdPki, type TestPki } from './test-pki.js';

export const ROOT = join(import.meta.dirname, '../..');
/** WEFT_TEST_IMAGE: an image to use as is; otherwise `pnpm image` builds WEFT_IMAGE (localhost/weft:dev). */
export const IMAGE = process.env.WEFT_TEST_IMAGE ?? WEFT_IMAGE;
export const BUSYBOX = 'localhost/weft-test-busybox:1';
export const PORTMAP_MARK = 'weft portmap reached the pod';
const UNDERLAY = '192.168.71';
const ETCD_IP = `${UNDERLAY}.100`;
const ETCD_URL = `https://${ETCD_IP}:2379`;
const API_PORT = 6443;

export type Mode = 'etcd' | 'kube';

export interface DsNode {
  cluster: ClusterNode;
  host: NodeHost;
  /** The weft container's name. */
  weft: string;
}

/** 127.0.0.1:6443 with TLS inside a node namespace → a unix socket → the in-test API server. */
const TLS_FORWARDER = `
const [sock, key, cert] = process.argv.slice(1);
const fs = require('node:fs'), net = require('node:net'), tls = require('node:tls');
tls.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (c) => {
  const u = net.connect(sock); c.pipe(u).pipe(c); u.on('error', () => c.destroy()); c.on('error', () => u.destroy());
}).listen(${API_PORT}, '127.0.0.1', () => console.log('forwarding'));
`;

export class DaemonSetLab {
  readonly nodes: DsNode[] = [];
  manifest: KubeObject[] = [];
  cluster!: WeftCluster;
  pki!: TestPki;
  api: FakeKubeApiServer | undefined;
  private etcd: LabProcess | undefined;
  private bridge: Server | undefined;

  private constructor(
    readonly mode: Mode,
    readonly lab: Lab,
    readonly dir: string,
  ) {}

  /** Builds everything and runs the DaemonSet on both nodes; resolves when every weftd is ready. */
  static async create(mode: Mode): Promise<DaemonSetLab> {
    await Lab.sweep();
    const d = new DaemonSetLab(mode, Lab.create(mode === 'etcd' ? 'dse' : 'dsk'), mkdtempSync(join(tmpdir(), 'weft-daemonset-')));
    try {
      await d.setUp();
    } catch (e) {
      await d.destroy();
      throw e;
    }
    return d;
  }

  get imageStore(): string {
    return join(this.dir, 'images');
  }

  private async setUp(): Promise<void> {
    this.manifest = await loadManifests(join(ROOT, 'deploy', this.mode === 'etcd' ? 'weft-etcd.yml' : 'weft.yml'));
    await this.prepareImages();
    this.pki = await makeEtcdPki(this.dir, ETCD_IP);
    this.cluster = new WeftCluster(this.lab, this.dir, { underlay: UNDERLAY, network: '10.244.0.0/16' });
    await this.cluster.buildUnderlay({ etcd: false });
    if (this.mode === 'etcd') await this.startTlsEtcd();
    else await this.startApiServer();
    const limits = hardLimits();
    for (const i of [1, 2]) {
      const c = await this.cluster.addNode(i);
      const host = new NodeHost({ ns: c.ns, dir: join(this.dir, c.name), imageStore: this.imageStore, lab: this.lab, ...limits });
      this.nodes.push({ cluster: c, host, weft: '' });
      await host.start();
      // The node's OS ships the reference plugins, as kubeadm's kubernetes-cni package does.
      for (const plugin of ['portmap', 'loopback']) copyFileSync(`/usr/lib/cni/${plugin}`, host.onDisk(`/opt/cni/bin/${plugin}`));
      if (this.mode === 'kube') await this.forwardApi(c);
    }
    for (const node of this.nodes) node.weft = await this.runDaemonSetPod(node);
    for (const node of this.nodes) {
      await poll(
        `weftd on ${node.cluster.name} to be ready`,
        async () => (await this.cluster.http(node.cluster, '/readyz')) === 'ok\n',
        120_000,
      ).catch(async (e) => {
        throw new Error(`${String(e)}\nweft container log:\n${await this.logs(node)}`);
      });
    }
  }

  /** The weft container's output. */
  async logs(node: DsNode): Promise<string> {
    const r = await node.host.podman(['logs', node.weft]).catch(() => ({ stdout: '', stderr: '' }));
    return r.stdout + r.stderr;
  }

  /** Builds the image from this tree (or takes WEFT_TEST_IMAGE) and fills the shared read-only image store. */
  private async prepareImages(): Promise<void> {
    if (!process.env.WEFT_TEST_IMAGE) {
      const out = await runCommand('sh', [join(ROOT, 'scripts/image.sh')], 40 * 60_000);
      console.log(
        out.stdout
          .split('\n')
          .filter((l) => l.startsWith('image: ') && !l.includes('layers'))
          .join('\n'),
      );
    }
    const store = ['--root', this.imageStore, '--runroot', `${this.imageStore}-run`, '--storage-driver', 'overlay'];
    await run('podman', ['save', '--format', 'oci-archive', '-o', join(this.dir, 'weft.tar'), IMAGE], { timeout: 600_000 });
    await run('podman', [...store, 'load', '-i', join(this.dir, 'weft.tar')], { timeout: 600_000 });
    rmSync(join(this.dir, 'weft.tar'));
    // A busybox-static pod image: sh, ping, ip, nc, httpd serving one page.
    const ctx = join(this.dir, 'busybox');
    mkdirSync(join(ctx, 'bin'), { recursive: true });
    mkdirSync(join(ctx, 'www'), { recursive: true });
    copyFileSync('/usr/bin/busybox', join(ctx, 'bin/busybox'));
    for (const applet of ['sh', 'ping', 'ip', 'nc', 'httpd', 'sleep', 'cat', 'wget'])
      await run('ln', ['-sf', 'busybox', join(ctx, 'bin', applet)]);
    writeFileSync(join(ctx, 'www/index.html'), `${PORTMAP_MARK}\n`);
    const c = (await run('buildah', [...store, 'from', 'scratch'])).stdout.trim();
    await run('buildah', [...store, 'copy', c, ctx, '/']);
    await run('buildah', [...store, 'config', '--cmd', '["sh"]', c]);
    await run('buildah', [...store, 'commit', '--quiet', c, BUSYBOX]);
    await run('buildah', [...store, 'rm', c]);
    await run('podman', [...store, 'save', '--format', 'docker-archive', '-o', join(this.dir, 'busybox.tar'), BUSYBOX]);
  }

  async etcdctl(args: string[]): Promise<string> {
    const tls = [`--cacert=${this.pki.ca}`, `--cert=${this.pki.clientCert}`, `--key=${this.pki.clientKey}`];
    return (
      await this.lab.exec(this.cluster.etcdNs, 'env', ['ETCDCTL_API=3', 'etcdctl', `--endpoints=${ETCD_URL}`, ...tls, ...args], 15_000)
    ).stdout;
  }

  private async startTlsEtcd(): Promise<void> {
    const { pki } = this;
    this.cluster.etcdNs = await this.cluster.addHost('etcd', 100);
    const peer = `http://${ETCD_IP}:2380`;
    this.etcd = this.lab.spawn(this.cluster.etcdNs, 'etcd', 'etcd', [
      '--name=weft',
      `--data-dir=${join(this.dir, 'etcd-data')}`,
      `--listen-client-urls=${ETCD_URL}`,
      `--advertise-client-urls=${ETCD_URL}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=weft=${peer}`,
      `--cert-file=${pki.serverCert}`,
      `--key-file=${pki.serverKey}`,
      `--trusted-ca-file=${pki.ca}`,
      '--client-cert-auth',
      '--log-level=warn',
      '--logger=zap',
    ]);
    await poll('etcd to serve TLS clients', async () => (await this.etcdctl(['endpoint', 'health']), true), 30_000);
    // The network config: the same JSON as weft.yml's net-conf.json, as weft-etcd.yml tells the user.
    const kube = await loadManifests(join(ROOT, 'deploy/weft.yml'));
    await this.etcdctl(['put', '/coreos.com/network/config', configMapOf(kube, 'kube-weft-cfg')['net-conf.json']!]);
  }

  private async startApiServer(): Promise<void> {
    this.api = new FakeKubeApiServer();
    await this.api.start();
    const port = Number(new URL(this.api.url).port);
    this.bridge = createServer((c) => {
      const up = createConnection(port, '127.0.0.1');
      c.pipe(up).pipe(c);
      up.on('error', () => c.destroy());
      c.on('error', () => up.destroy());
    });
    await new Promise<void>((r) => this.bridge!.listen(join(this.dir, 'api.sock'), () => r()));
    // The API server's certificate for 127.0.0.1, from the same CA; the service account directory with it.
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(this.dir, 'api.key'),
      '-out',
      join(this.dir, 'api.csr'),
      '-subj',
      '/CN=kube-apiserver',
    ]);
    writeFileSync(join(this.dir, 'api.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      join(this.dir, 'api.csr'),
      '-CA',
      this.pki.ca,
      '-CAkey',
      join(this.dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      join(this.dir, 'api.crt'),
      '-days',
      '1',
      '-extfile',
      join(this.dir, 'api.ext'),
    ]);
    const sa = join(this.dir, 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'weft-test-token');
    writeFileSync(join(sa, 'namespace'), 'kube-weft');
    copyFileSync(this.pki.ca, join(sa, 'ca.crt'));
  }

  private async forwardApi(c: ClusterNode): Promise<void> {
    const fwd = this.lab.spawn(c.ns, `api forwarder ${c.name}`, process.execPath, [
      '-e',
      TLS_FORWARDER,
      join(this.dir, 'api.sock'),
      join(this.dir, 'api.key'),
      join(this.dir, 'api.crt'),
    ]);
    await fwd.waitFor(/forwarding/);
    this.api!.addNode(c.name, `10.244.${10 + c.index}.0/24`);
  }

  configMap(name: string): Record<string, string> {
    const data = configMapOf(this.manifest, name);
    // The manifest asks the user to put their etcd here.
    return 'etcd-endpoints' in data ? { ...data, 'etcd-endpoints': ETCD_URL } : data;
  }

  podSpec(): PodSpec {
    return (this.manifest.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  }

  /** The kubelet's part for one node: identities, each volume's files, the service account. */
  private nodeView(node: DsNode): NodeView {
    const { host, cluster: n } = node;
    const files = join(host.opts.dir, 'volumes');
    return {
      nodeName: n.name,
      nodeIp: n.ip,
      podName: `kube-weft-ds-${n.name}`,
      namespace: 'kube-weft',
      image: () => IMAGE,
      configMap: (name) => this.configMap(name),
      ...(this.mode === 'kube'
        ? {
            serviceAccount: {
              dir: join(this.dir, 'serviceaccount'),
              env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(API_PORT) },
            },
          }
        : {}),
      volumeSource: (v: VolumeSpec): string => {
        if (v.hostPath) return hostPathSource(host, v.hostPath);
        const d = join(files, v.name);
        mkdirSync(d, { recursive: true });
        if (v.configMap) for (const [k, text] of Object.entries(this.configMap(v.configMap.name))) writeFileSync(join(d, k), text);
        else if (v.secret) {
          if (v.secret.secretName !== 'weft-etcd-tls') throw new Error(`no Secret ${v.secret.secretName} in this test`);
          const { ca, clientCert, clientKey } = this.pki;
          for (const [k, from] of [
            ['ca.crt', ca],
            ['tls.crt', clientCert],
            ['tls.key', clientKey],
          ] as const)
            writeFileSync(join(d, k), readFileSync(from), { mode: 0o400 });
        } else if (!v.emptyDir) throw new Error(`volume ${v.name}: type not translated`);
        return d;
      },
    };
  }

  /** Runs the DaemonSet's pod on a node: init containers to completion, in order, then the weft container. */
  private async runDaemonSetPod(node: DsNode): Promise<string> {
    const pod = this.podSpec();
    const view = this.nodeView(node);
    for (const c of pod.initContainers ?? []) {
      const name = `${view.podName}-${c.name}`;
      await node.host.podman(['run', ...podmanRunArgs(pod, c, view, name)]).catch(async (e) => {
        const log = await node.host.podman(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
        throw new Error(`init container ${c.name} on ${node.cluster.name} failed: ${String(e)}\n${log.stdout}${log.stderr}`);
      });
    }
    const weft = pod.containers.find((c) => c.name === 'weft')!;
    const name = `${view.podName}-weft`;
    await node.host.podman(['run', '--detach', ...podmanRunArgs(pod, weft, view, name)]);
    return name;
  }

  /** The node's subnet prefix from its subnet file ("10.244.84" for 10.244.84.0/24). */
  subnetOf(node: DsNode): string {
    const m = /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(readFileSync(node.host.onDisk('/run/flannel/subnet.env'), 'utf8'));
    if (!m) throw new Error(`no FLANNEL_SUBNET on ${node.cluster.name}`);
    return m[1]!;
  }

  /** The addresses reserved in the node's IPAM store. */
  reservations(node: DsNode): string[] {
    const d = node.host.onDisk('/var/lib/cni/networks/weft');
    return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  }

  async nodeLinks(node: DsNode): Promise<string[]> {
    return (JSON.parse((await run('ip', ['-n', node.cluster.ns, '-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map(
      (l) => l.ifname,
    );
  }

  /** Removes every container, stops daemons, deletes namespaces and files. Never throws. */
  async destroy(): Promise<void> {
    if (process.env.WEFT_TEST_LOGS) for (const n of this.nodes) console.log(`--- ${n.weft}\n${await this.logs(n)}`);
    for (const n of this.nodes) await n.host.destroy();
    await this.etcd?.stop(3000).catch(() => null);
    await this.lab.destroy();
    this.bridge?.close();
    await this.api?.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function configMapOf(objects: KubeObject[], name: string): Record<string, string> {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as { data?: Record<string, string> } | undefined;
  if (!cm?.data) throw new Error(`the manifest has no ConfigMap ${name}`);
  return cm.data;
}

/** A hostPath as the kubelet prepares it, in the node's own directories (devices are the machine's). */
function hostPathSource(host: NodeHost, hp: { path: string; type?: string }): string {
  if (hp.type === 'CharDevice') {
    if (!statSync(hp.path).isCharacterDevice()) throw new Error(`${hp.path} is not a character device`);
    return hp.path;
  }
  const onDisk = host.onDisk(hp.path);
  if (hp.type === 'DirectoryOrCreate') mkdirSync(onDisk, { recursive: true });
  else if (hp.type === 'FileOrCreate' && !existsSync(onDisk)) writeFileSync(onDisk, '');
  return hp.path;
}

/** This machine's hard limits, which podman must not ask runc to exceed. */
function hardLimits(): { nofile: number; nproc: number } {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string): number => {
    const v = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1] ?? 'unlimited';
    return v === 'unlimited' ? 1048576 : Math.min(Number(v), 1048576);
  };
  // nproc at the hard limit is refused here (EPERM: the machine withholds CAP_SYS_RESOURCE); below it is not.
  return { nofile: hard('Max open files'), nproc: Math.min(hard('Max processes'), 8192) };
}

/** Polls `check` every 250 ms until it returns true; rejects after `timeoutMs` with the last error. */
export async function poll(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last ?? '')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
