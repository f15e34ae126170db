/**
 * The DaemonSet as shipped, run for real: deploy/weft-etcd.yml's pod, container by container, on two
 * namespace nodes with podman and runc, against a TLS etcd, then pods attached by real runtimes through
 * what the init containers installed.
 *
 * - Image: the one `pnpm image` builds from this tree (scripts/image.sh, run here; its layer cache makes
 *   an unchanged tree a few seconds), or WEFT_TEST_IMAGE. It stands for the manifest's `image:`.
 * - Each node is a NodeHost (test/lib/node-host.ts): its own network namespace, mount namespace and host
 *   root, so /opt/cni/bin, /etc/cni/net.d, /run/flannel and /var/lib/cni are the node's, never the
 *   machine's. Like a node's OS package, Debian's portmap and loopback are in the node's /opt/cni/bin.
 * - The containers run with exactly the manifest's image, command, args, env (fieldRef, configMapKeyRef),
 *   volumes and securityContext (test/lib/pod-to-podman.ts); the ConfigMap's etcd-endpoints is set to
 *   this etcd, as the manifest tells a user to do, and the Secret holds a client certificate.
 * - Pods: podman with its CNI backend and containerd 1.6 `ctr run --cni` on the nodes' conflist, with a
 *   busybox-static image built here (no registry).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostVethName } from '@weft/cni-shim';
import { Lab, WeftCluster, run, type ClusterNode, type LabProcess } from '@weft/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifests, type KubeObject } from './lib/kube-manifests.js';
import { NodeHost } from './lib/node-host.js';
import { podmanRunArgs, type NodeView, type PodSpec, type VolumeSpec } from './lib/pod-to-podman.js';
import { makeEtcdPki, type TestPki } from './lib/test-pki.js';

const ROOT = join(import.meta.dirname, '..');
const IMAGE = process.env.WEFT_TEST_IMAGE ?? 'localhost/weft:dev';
const BUSYBOX = 'localhost/weft-test-busybox:1';
const UNDERLAY = '192.168.71';
const ETCD_IP = `${UNDERLAY}.100`;
const ETCD_URL = `https://${ETCD_IP}:2379`;
const PORTMAP_MARK = 'weft portmap reached the pod';
const NODES = [1, 2];

interface Node {
  cluster: ClusterNode;
  host: NodeHost;
  weft: string;
}

let lab: Lab;
let cluster: WeftCluster;
let dir: string;
let pki: TestPki;
let etcd: LabProcess | undefined;
const nodes: Node[] = [];
let manifest: KubeObject[];

/** Builds the image from this tree (or takes WEFT_TEST_IMAGE) and fills the shared read-only image store. */
async function prepareImages(store: string): Promise<void> {
  if (!process.env.WEFT_TEST_IMAGE) {
    const out = await run('sh', [join(ROOT, 'scripts/image.sh')], { cwd: ROOT, timeout: 1_500_000, env: { ...process.env, WEFT_IMAGE: IMAGE } }).catch((e: Error & { stdout?: string }) => {
      throw new Error(`pnpm image failed: ${e.message}\n${e.stdout ?? ''}`);
    });
    console.log(out.stdout.split('\n').filter((l) => l.startsWith('image: ')).join('\n'));
  }
  const storeArgs = ['--root', store, '--runroot', `${store}-run`, '--storage-driver', 'overlay'];
  await run('podman', ['save', '--format', 'oci-archive', '-o', join(dir, 'weft.tar'), IMAGE], { timeout: 600_000 });
  await run('podman', [...storeArgs, 'load', '-i', join(dir, 'weft.tar')], { timeout: 600_000 });
  // A busybox-static pod image: sh, ping, ip, nc, httpd serving one page.
  const ctx = join(dir, 'busybox');
  mkdirSync(join(ctx, 'bin'), { recursive: true });
  mkdirSync(join(ctx, 'www'), { recursive: true });
  copyFileSync('/usr/bin/busybox', join(ctx, 'bin/busybox'));
  for (const applet of ['sh', 'ping', 'ip', 'nc', 'httpd', 'sleep', 'cat', 'wget']) await run('ln', ['-sf', 'busybox', join(ctx, 'bin', applet)]);
  writeFileSync(join(ctx, 'www/index.html'), `${PORTMAP_MARK}\n`);
  const b = ['--root', store, '--runroot', `${store}-run`, '--storage-driver', 'overlay'];
  const c = (await run('buildah', [...b, 'from', 'scratch'])).stdout.trim();
  await run('buildah', [...b, 'copy', c, ctx, '/']);
  await run('buildah', [...b, 'config', '--cmd', '["sh"]', c]);
  await run('buildah', [...b, 'commit', '--quiet', c, BUSYBOX]);
  await run('buildah', [...b, 'rm', c]);
  await run('podman', [...storeArgs, 'save', '--format', 'docker-archive', '-o', join(dir, 'busybox.tar'), BUSYBOX]);
}

function hardLimits(): { nofile: number; nproc: number } {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string): number => {
    const v = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1] ?? 'unlimited';
    return v === 'unlimited' ? 1048576 : Math.min(Number(v), 1048576);
  };
  // nproc at the hard limit is refused here (EPERM: the machine withholds CAP_SYS_RESOURCE); below it is not.
  return { nofile: hard('Max open files'), nproc: Math.min(hard('Max processes'), 8192) };
}

async function etcdctl(args: string[]): Promise<string> {
  const tls = [`--cacert=${pki.ca}`, `--cert=${pki.clientCert}`, `--key=${pki.clientKey}`];
  return (await lab.exec(cluster.etcdNs, 'env', ['ETCDCTL_API=3', 'etcdctl', `--endpoints=${ETCD_URL}`, ...tls, ...args], 15_000)).stdout;
}

async function startTlsEtcd(): Promise<void> {
  cluster.etcdNs = await cluster.addHost('etcd', 100);
  const peer = `http://${ETCD_IP}:2380`;
  etcd = lab.spawn(cluster.etcdNs, 'etcd', 'etcd', [
    '--name=weft', `--data-dir=${join(dir, 'etcd-data')}`,
    `--listen-client-urls=${ETCD_URL}`, `--advertise-client-urls=${ETCD_URL}`,
    `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=weft=${peer}`,
    `--cert-file=${pki.serverCert}`, `--key-file=${pki.serverKey}`, `--trusted-ca-file=${pki.ca}`, '--client-cert-auth',
    '--log-level=warn', '--logger=zap',
  ]);
  await poll('etcd to serve TLS clients', async () => (await etcdctl(['endpoint', 'health']), true), 30_000);
}

const configMap = (name: string): Record<string, string> => {
  const cm = manifest.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as { data?: Record<string, string> } | undefined;
  if (!cm?.data) throw new Error(`the manifest has no ConfigMap ${name}`);
  // The manifest asks the user to put their etcd here.
  return 'etcd-endpoints' in cm.data ? { ...cm.data, 'etcd-endpoints': ETCD_URL } : cm.data;
};

const podSpec = (): PodSpec =>
  (manifest.find((o) => o.kind === 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

/** The kubelet's part for one node: identities, and each volume's files. */
function nodeView(n: ClusterNode, host: NodeHost): NodeView {
  const files = join(host.opts.dir, 'volumes');
  return {
    nodeName: n.name,
    nodeIp: n.ip,
    podName: `kube-weft-ds-${n.name}`,
    namespace: 'kube-weft',
    image: () => IMAGE,
    configMap,
    volumeSource: (v: VolumeSpec): string => {
      if (v.hostPath) return hostPathSource(host, v.hostPath);
      const d = join(files, v.name);
      mkdirSync(d, { recursive: true });
      if (v.configMap) for (const [k, text] of Object.entries(configMap(v.configMap.name))) writeFileSync(join(d, k), text);
      else if (v.secret) {
        if (v.secret.secretName !== 'weft-etcd-tls') throw new Error(`no Secret ${v.secret.secretName} in this test`);
        for (const [k, from] of [['ca.crt', pki.ca], ['tls.crt', pki.clientCert], ['tls.key', pki.clientKey]] as const) writeFileSync(join(d, k), readFileSync(from), { mode: 0o400 });
      } else if (!v.emptyDir) throw new Error(`volume ${v.name}: type not translated`);
      return d;
    },
  };
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

/** Runs the DaemonSet's pod on a node: init containers to completion, in order, then the weft container. */
async function runDaemonSetPod(n: ClusterNode, host: NodeHost): Promise<string> {
  const pod = podSpec();
  const view = nodeView(n, host);
  for (const c of pod.initContainers ?? []) {
    const name = `${view.podName}-${c.name}`;
    await host.podman(['run', ...podmanRunArgs(pod, c, view, name)]).catch(async (e) => {
      throw new Error(`init container ${c.name} on ${n.name} failed: ${String(e)}\n${(await host.podman(['logs', name]).catch(() => ({ stdout: '' }))).stdout}`);
    });
  }
  const weft = pod.containers.find((c) => c.name === 'weft')!;
  const name = `${view.podName}-weft`;
  await host.podman(['run', '--detach', ...podmanRunArgs(pod, weft, view, name)]);
  return name;
}

async function poll(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
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

const subnetOf = (node: Node): string => {
  const m = /FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24/.exec(readFileSync(node.host.onDisk('/run/flannel/subnet.env'), 'utf8'));
  if (!m) throw new Error(`no FLANNEL_SUBNET on ${node.cluster.name}`);
  return m[1]!;
};

const reservations = (node: Node): string[] => {
  const d = node.host.onDisk('/var/lib/cni/networks/weft');
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
};

const nodeLinks = async (node: Node): Promise<string[]> =>
  (JSON.parse((await run('ip', ['-n', node.cluster.ns, '-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>).map((l) => l.ifname);

async function podAddress(node: Node, exec: string[]): Promise<string> {
  let addr = '';
  await poll('a pod address', async () => {
    const { stdout } = await node.host.exec(exec[0]!, [...exec.slice(1), 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    addr = /inet (\d+\.\d+\.\d+\.\d+)\/24/.exec(stdout)?.[1] ?? '';
    return addr !== '';
  });
  return addr;
}

async function pingFrom(node: Node, exec: string[], ip: string): Promise<void> {
  await poll(`ping ${ip} from a pod on ${node.cluster.name}`, async () => (await node.host.exec(exec[0]!, [...exec.slice(1), 'ping', '-c', '1', '-W', '2', ip]), true), 60_000);
}

const podmanExec = (name: string): string[] => ['podman', 'exec', name];

beforeAll(async () => {
  await Lab.sweep();
  lab = Lab.create('ds');
  dir = mkdtempSync(join(tmpdir(), 'weft-daemonset-'));
  manifest = await loadManifests(join(ROOT, 'deploy/weft-etcd.yml'));
  const imageStore = join(dir, 'images');
  await prepareImages(imageStore);
  pki = await makeEtcdPki(dir, ETCD_IP);
  cluster = new WeftCluster(lab, dir, { underlay: UNDERLAY, network: '10.244.0.0/16' });
  await cluster.buildUnderlay({ etcd: false });
  await startTlsEtcd();
  // The network config, from the manifest's own net-conf.json (weft.yml; the etcd variant says to put the same JSON in etcd).
  const netConf = (await loadManifests(join(ROOT, 'deploy/weft.yml'))).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
  await etcdctl(['put', '/coreos.com/network/config', netConf.data['net-conf.json']!]);
  const limits = hardLimits();
  for (const i of NODES) {
    const c = await cluster.addNode(i);
    const host = new NodeHost({ ns: c.ns, dir: join(dir, c.name), imageStore, ...limits });
    nodes.push({ cluster: c, host, weft: '' });
    await host.start();
    for (const plugin of ['portmap', 'loopback']) copyFileSync(`/usr/lib/cni/${plugin}`, host.onDisk(`/opt/cni/bin/${plugin}`));
  }
  for (const node of nodes) node.weft = await runDaemonSetPod(node.cluster, node.host);
  for (const node of nodes) {
    await poll(`weftd on ${node.cluster.name} to be ready`, async () => (await cluster.http(node.cluster, '/readyz')) === 'ok\n', 120_000).catch(async (e) => {
      throw new Error(`${String(e)}\nweft container log:\n${(await node.host.podman(['logs', node.weft]).catch(() => ({ stdout: '', stderr: '' }))).stderr}`);
    });
  }
}, 1_800_000);

afterAll(async () => {
  if (process.env.WEFT_TEST_LOGS) for (const n of nodes) console.log(`--- ${n.weft}\n${(await n.host.podman(['logs', n.weft]).catch(() => ({ stderr: '' }))).stderr}`);
  for (const n of nodes) await n.host.destroy();
  await etcd?.stop(3000).catch(() => null);
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('the DaemonSet of deploy/weft-etcd.yml on two nodes (podman, runc, TLS etcd)', () => {
  it("init containers install the plugin and the conflist into each node's host root", () => {
    const conflist = JSON.parse(configMap('kube-weft-cfg')['cni-conf.json']!) as unknown;
    for (const node of nodes) {
      const plugin = statSync(node.host.onDisk('/opt/cni/bin/weft'));
      expect(plugin.isFile() && (plugin.mode & 0o111) !== 0, node.cluster.name).toBe(true);
      expect(JSON.parse(readFileSync(node.host.onDisk('/etc/cni/net.d/10-weft.conflist'), 'utf8'))).toEqual(conflist);
    }
  });

  it('weftd runs hardened: only NET_ADMIN and NET_RAW, no new privileges, seccomp filter, read-only root', async () => {
    for (const node of nodes) {
      const pid = (await node.host.podman(['inspect', '--format', '{{.State.Pid}}', node.weft])).stdout.trim();
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (k: string): string => new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(status)?.[1] ?? '';
      // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13.
      expect(field('CapEff')).toBe('0000000000003000');
      expect(field('CapBnd')).toBe('0000000000003000');
      expect(field('NoNewPrivs')).toBe('1');
      expect(field('Seccomp')).toBe('2');
      const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === '/');
      expect(rootMount?.[5]?.split(',')).toContain('ro');
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('weftd');
    }
  });

  it('weftd leases a subnet per node and programs the other node as its peer', async () => {
    const subnets = nodes.map(subnetOf);
    expect(new Set(subnets).size).toBe(2);
    for (const node of nodes) {
      await poll(`${node.cluster.name} to program its peer`, async () => (await cluster.status(node.cluster)).peers.length === 1);
      expect(readFileSync(node.host.onDisk('/run/flannel/subnet.env'), 'utf8')).toMatch(/^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n$/);
    }
    expect(await etcdctl(['get', '--prefix', '--keys-only', '/coreos.com/network/subnets/'])).toContain(`${subnets[0]}.0-24`);
  });
});

describe('runtimes attach pods through the installed conflist and plugin', () => {
  let webIp = '';
  let askedIp = '';

  it('podman (CNI backend): pods get addresses of their node subnet, --ip exactly, and ping across nodes', async () => {
    const [n1, n2] = nodes as [Node, Node];
    await n1.host.podman(['run', '--detach', '--name', 'web', '--network', 'weft', '--publish', '8080:80', BUSYBOX, 'httpd', '-f', '-p', '80', '-h', '/www']);
    askedIp = `${subnetOf(n2)}.77`;
    await n2.host.podman(['run', '--detach', '--name', 'asked', '--network', 'weft', '--ip', askedIp, BUSYBOX, 'sleep', '100000']);
    webIp = await podAddress(n1, podmanExec('web'));
    expect(webIp.startsWith(`${subnetOf(n1)}.`)).toBe(true);
    expect(await podAddress(n2, podmanExec('asked'))).toBe(askedIp);
    expect(reservations(n2)).toContain(askedIp);
    await pingFrom(n1, podmanExec('web'), askedIp);
    await pingFrom(n2, podmanExec('asked'), webIp);
  });

  it('podman refuses --ip of an address another pod holds, with the plugin error', async () => {
    const n2 = nodes[1]!;
    const out = await n2.host.podman(['run', '--detach', '--name', 'again', '--network', 'weft', '--ip', askedIp, BUSYBOX, 'sleep', '100000']).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(out).toContain(`requested address ${askedIp} is already allocated`);
    await n2.host.podman(['rm', '--force', '--time', '0', 'again']).catch(() => undefined);
    expect(reservations(n2).filter((ip) => ip === askedIp)).toHaveLength(1);
  });

  it("portmap: the published port answers on the node's address, from the other node", async () => {
    const [n1, n2] = nodes as [Node, Node];
    const script = `fetch(process.argv[1],{signal:AbortSignal.timeout(3000)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(e.message);process.exit(1)})`;
    let body = '';
    await poll('the published port', async () => {
      body = (await lab.exec(n2.cluster.ns, process.execPath, ['-e', script, `http://${n1.cluster.ip}:8080/`], 10_000)).stdout;
      return true;
    });
    expect(body).toBe(`${PORTMAP_MARK}\n`);
  });

  it('containerd 1.6 ctr run --cni: a pod on the node subnet pings across nodes; its exit runs DEL', async () => {
    const n2 = nodes[1]!;
    await n2.host.startContainerd();
    await n2.host.ctr(['images', 'import', join(dir, 'busybox.tar')], 300_000);
    const task = n2.host.ctrRun('box', BUSYBOX, ['sleep', '100000']);
    const exec = ['ctr', '--address', '/run/containerd/containerd.sock', '--namespace', 'weft', 'task', 'exec', '--exec-id'];
    let n = 0;
    const ctrExec = (): string[] => [...exec, `e${n++}`, 'box'];
    let boxIp = '';
    await poll('the ctr pod address', async () => {
      boxIp = await podAddress(n2, ctrExec());
      return true;
    }, 120_000).catch((e) => {
      throw new Error(`${String(e)}\nctr run: ${task.stdout}${task.stderr}`);
    });
    expect(boxIp.startsWith(`${subnetOf(n2)}.`)).toBe(true);
    await pingFrom(n2, ctrExec(), webIp);
    await pingFrom(nodes[0]!, podmanExec('web'), boxIp);
    expect(reservations(n2)).toContain(boxIp);
    await n2.host.ctr(['task', 'kill', '--signal', 'KILL', 'box']);
    expect(await task.exited).not.toBe(null);
    expect(task.stderr).toMatch(/"msg":"pod detached"/);
    expect(reservations(n2)).not.toContain(boxIp);
  });

  it('podman rm runs DEL: the address file and the host veth go', async () => {
    const n2 = nodes[1]!;
    const id = (await n2.host.podman(['inspect', '--format', '{{.Id}}', 'asked'])).stdout.trim();
    const veth = hostVethName(id, 'eth0');
    expect(await nodeLinks(n2)).toContain(veth);
    await n2.host.podman(['rm', '--force', '--time', '0', 'asked']);
    expect(reservations(n2)).not.toContain(askedIp);
    expect(await nodeLinks(n2)).not.toContain(veth);
  });
});
