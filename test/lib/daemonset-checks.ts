/**
 * What both DaemonSet tests (etcd and kube mode) prove on a running DaemonSetLab, registered as tests:
 * - the init containers installed plugin and conflist into each node's host root;
 * - weftd runs hardened (read from /proc/<pid>/status and mountinfo, not from podman's word);
 * - real runtimes attach pods through what was installed: podman's CNI backend (addresses of the node
 *   subnet, `--ip` exactly or a clear error, ping across nodes, portmap from the other node, DEL on rm)
 *   and containerd 1.6 `ctr run --cni` (address, ping across nodes, DEL when the task exits).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hostVethName } from '@weft/cni-shim';
import { describe, expect, it } from 'vitest';
import { BUSYBOX, PORTMAP_MARK, poll, type DaemonSetLab, type DsNode } from './daemonset-lab.js';

const podmanExec = (name: string): string[] => ['podman', 'exec', name];

async function podAddress(node: DsNode, exec: string[]): Promise<string> {
  let addr = '';
  await poll('a pod address', async () => {
    const { stdout } = await node.host.exec(exec[0]!, [...exec.slice(1), 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    addr = /inet (\d+\.\d+\.\d+\.\d+)\/24/.exec(stdout)?.[1] ?? '';
    return addr !== '';
  });
  return addr;
}

async function pingFrom(node: DsNode, exec: string[], ip: string): Promise<void> {
  await poll(
    `ping ${ip} from a pod on ${node.cluster.name}`,
    async () => (await node.host.exec(exec[0]!, [...exec.slice(1), 'ping', '-c', '1', '-W', '2', ip]), true),
  );
}

export function describeDaemonSet(get: () => DaemonSetLab): void {
  describe('the DaemonSet as shipped', () => {
    it("init containers install the plugin and the conflist into each node's host root", () => {
      const d = get();
      const conflist = JSON.parse(d.configMap('kube-weft-cfg')['cni-conf.json']!) as unknown;
      for (const node of d.nodes) {
        const plugin = statSync(node.host.onDisk('/opt/cni/bin/weft'));
        expect(plugin.isFile() && (plugin.mode & 0o111) !== 0, node.cluster.name).toBe(true);
        expect(JSON.parse(readFileSync(node.host.onDisk('/etc/cni/net.d/10-weft.conflist'), 'utf8'))).toEqual(conflist);
      }
    });

    it('weftd runs hardened: only NET_ADMIN and NET_RAW, no new privileges, seccomp filter, read-only root', async () => {
      for (const node of get().nodes) {
        const pid = (await node.host.podman(['inspect', '--format', '{{.State.Pid}}', node.weft])).stdout.trim();
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const field = (k: string): string => new RegExp(`^${k}:\\s*(\\S+)$`, 'm').exec(status)?.[1] ?? '';
        // CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13; nothing else, not even in the bounding set.
        expect(field('CapEff')).toBe('0000000000003000');
        expect(field('CapBnd')).toBe('0000000000003000');
        expect(field('NoNewPrivs')).toBe('1');
        expect(field('Seccomp')).toBe('2');
        const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .map((l) => l.split(' '))
          .find((f) => f[4] === '/');
        expect(root?.[5]?.split(',')).toContain('ro');
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('weftd');
      }
    });

    it('weftd leases a subnet per node, writes the subnet file and programs the other node as its peer', async () => {
      const d = get();
      expect(new Set(d.nodes.map((n) => d.subnetOf(n))).size).toBe(2);
      for (const node of d.nodes) {
        await poll(`${node.cluster.name} to program its peer`, async () => (await d.cluster.status(node.cluster)).peers.length === 1);
        expect(readFileSync(node.host.onDisk('/run/flannel/subnet.env'), 'utf8')).toMatch(
          /^FLANNEL_NETWORK=10\.244\.0\.0\/16\nFLANNEL_SUBNET=10\.244\.\d+\.1\/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n$/,
        );
      }
    });
  });

  describe('runtimes attach pods through the installed conflist and plugin', () => {
    let webIp = '';
    let askedIp = '';

    it('podman (CNI backend): addresses of the node subnet, --ip exactly that address, ping across nodes', async () => {
      const d = get();
      const [n1, n2] = d.nodes as [DsNode, DsNode];
      await n1.host.podman([
        'run',
        '--detach',
        '--name',
        'web',
        '--network',
        'weft',
        '--publish',
        '8080:80',
        BUSYBOX,
        'httpd',
        '-f',
        '-p',
        '80',
        '-h',
        '/www',
      ]);
      askedIp = `${d.subnetOf(n2)}.77`;
      await n2.host.podman(['run', '--detach', '--name', 'asked', '--network', 'weft', '--ip', askedIp, BUSYBOX, 'sleep', '100000']);
      webIp = await podAddress(n1, podmanExec('web'));
      expect(webIp.startsWith(`${d.subnetOf(n1)}.`)).toBe(true);
      expect(await podAddress(n2, podmanExec('asked'))).toBe(askedIp);
      expect(d.reservations(n2)).toContain(askedIp);
      await pingFrom(n1, podmanExec('web'), askedIp);
      await pingFrom(n2, podmanExec('asked'), webIp);
    });

    it('podman --ip of an address another pod holds fails with the plugin error; the holder keeps it', async () => {
      const d = get();
      const n2 = d.nodes[1]!;
      const err = await n2.host
        .podman(['run', '--detach', '--name', 'again', '--network', 'weft', '--ip', askedIp, BUSYBOX, 'sleep', '100000'])
        .then(
          () => '',
          (e: Error) => e.message,
        );
      expect(err).toContain(`requested address ${askedIp} is already allocated`);
      await n2.host.podman(['rm', '--force', '--time', '0', 'again']).catch(() => undefined);
      expect(d.reservations(n2)).toContain(askedIp);
      await pingFrom(d.nodes[0]!, podmanExec('web'), askedIp);
    });

    it("portmap: the published port answers on the node's address, from the other node", async () => {
      const d = get();
      const [n1, n2] = d.nodes as [DsNode, DsNode];
      const script = `fetch(process.argv[1],{signal:AbortSignal.timeout(3000)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(e.message);process.exit(1)})`;
      let body = '';
      await poll('the published port', async () => {
        body = (await d.lab.exec(n2.cluster.ns, process.execPath, ['-e', script, `http://${n1.cluster.ip}:8080/`], 10_000)).stdout;
        return true;
      });
      expect(body).toBe(`${PORTMAP_MARK}\n`);
    });

    it('containerd 1.6 ctr run --cni: a pod of the node subnet pings across nodes; the task exit runs DEL', async () => {
      const d = get();
      const n2 = d.nodes[1]!;
      await n2.host.startContainerd();
      await n2.host.ctr(['images', 'import', join(d.dir, 'busybox.tar')], 300_000);
      const task = n2.host.ctrRun('box', BUSYBOX, ['sleep', '100000']);
      let k = 0;
      const ctrExec = (): string[] => [
        'ctr',
        '--address',
        '/run/containerd/containerd.sock',
        '--namespace',
        'weft',
        'task',
        'exec',
        '--exec-id',
        `e${k++}`,
        'box',
      ];
      const boxIp = await podAddress(n2, ctrExec()).catch((e) => {
        throw new Error(`${String(e)}\nctr run: ${task.stdout}${task.stderr}`);
      });
      expect(boxIp.startsWith(`${d.subnetOf(n2)}.`)).toBe(true);
      expect(d.reservations(n2)).toContain(boxIp);
      await pingFrom(n2, ctrExec(), webIp);
      await pingFrom(d.nodes[0]!, podmanExec('web'), boxIp);
      await n2.host.ctr(['task', 'kill', '--signal', 'KILL', 'box']);
      await task.exited;
      expect(task.stderr).toMatch(/"msg":"pod detached"/);
      expect(d.reservations(n2)).not.toContain(boxIp);
    });

    it('podman rm runs DEL: the address file and the host veth go', async () => {
      const d = get();
      const n2 = d.nodes[1]!;
      const id = (await n2.host.podman(['inspect', '--format', '{{.Id}}', 'asked'])).stdout.trim();
      const veth = hostVethName(id, 'eth0');
      expect(await d.nodeLinks(n2)).toContain(veth);
      await n2.host.podman(['rm', '--force', '--time', '0', 'asked']);
      expect(d.reservations(n2)).not.toContain(askedIp);
      expect(await d.nodeLinks(n2)).not.toContain(veth);
    });
  });
}
