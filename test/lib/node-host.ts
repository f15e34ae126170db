/**
 * A lab namespace made into a whole node, with container runtimes on it.
 *
 * A node is more than a network namespace: the DaemonSet writes host paths (/opt/cni/bin, /etc/cni/net.d,
 * /run/flannel) and the runtimes read them. Each node gets a host root in a temp directory and a private
 * mount namespace, held open by a `sleep`, in which that root's run/, opt/, etc/cni/ and var/lib/cni/ are
 * bind-mounted over /run, /opt, /etc/cni and /var/lib/cni. Inside, every path is the standard one, so the
 * shipped conflist (subnetFile /run/flannel/subnet.env, dataDir /var/lib/cni/networks), hostPath volumes
 * and the runtimes' default CNI directories work unchanged, and nothing reaches the machine's real
 * directories (only an empty /var/lib/cni is created as a mount point). Everything runs as
 *   nsenter --net=/run/netns/<node> --mount=/proc/<holder>/ns/mnt <command>
 * (`ip netns exec` would remount /sys and hide the cgroup hierarchy from runc).
 *
 * Runtimes: podman with its CNI backend (containers.conf `network_backend = "cni"`, runc, storage in the
 * node's temp dir, images from a shared read-only store) and containerd 1.6 (its own root, state and
 * socket) driven by `ctr run --cni`. `destroy()` removes containers, stops containerd and the holder.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabProcess, run, type Lab, type RunResult } from '@weft/netlab';

/** Directories a node owns privately: mount point → directory under the node's host root. */
const PRIVATE_DIRS = ['/run', '/opt', '/etc/cni', '/var/lib/cni'];

export interface NodeHostOptions {
  /** The node's network namespace (full name). */
  ns: string;
  /** Temp directory for this node: host root, runtime storage, configs. */
  dir: string;
  /** Read-only image store shared by the nodes (podman's additionalimagestores). */
  imageStore: string;
  /** Hard limits of this machine: podman must not ask runc for more (rlimit EPERM otherwise). */
  nofile: number;
  nproc: number;
  /** The lab that records this node's long-running processes (so a sweep after a killed run stops them). */
  lab?: Lab;
}

export class NodeHost {
  readonly root: string;
  private holder: LabProcess | undefined;
  private containerd: LabProcess | undefined;
  private readonly longRunning: LabProcess[] = [];

  constructor(readonly opts: NodeHostOptions) {
    this.root = join(opts.dir, 'host');
  }

  /** Creates the host root, the mount namespace and the runtimes' configuration. */
  async start(): Promise<void> {
    for (const d of PRIVATE_DIRS) mkdirSync(this.onDisk(d), { recursive: true });
    for (const d of ['/opt/cni/bin', '/etc/cni/net.d']) mkdirSync(this.onDisk(d), { recursive: true });
    mkdirSync('/var/lib/cni', { recursive: true });
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${this.opts.ns}`, 'unshare', '--mount', '--propagation', 'private', 'sleep', 'infinity'],
      { stdio: 'ignore' },
    );
    this.holder = new LabProcess(`mount ns holder ${this.opts.ns}`, child);
    this.opts.lab?.adopt(this.holder);
    const own = readlinkSync('/proc/self/ns/mnt');
    for (let i = 0; ; i++) {
      if (!this.holder.running) throw new Error(`the mount namespace holder of ${this.opts.ns} exited (${this.holder.exitCode})`);
      const mnt = (() => {
        try {
          return readlinkSync(`/proc/${this.holder!.pid}/ns/mnt`);
        } catch {
          return own;
        }
      })();
      if (mnt !== own) break;
      if (i > 200) throw new Error(`the mount namespace of ${this.opts.ns} did not appear`);
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const d of PRIVATE_DIRS) await run('nsenter', [`--mount=/proc/${this.holder.pid}/ns/mnt`, 'mount', '--bind', this.onDisk(d), d]);
    this.writeRuntimeConfigs();
  }

  /** Where a path of this node lives on the machine's disk; throws for paths the node does not own. */
  onDisk(path: string): string {
    const base = PRIVATE_DIRS.find((d) => path === d || path.startsWith(`${d}/`));
    if (!base)
      throw new Error(
        `${path} is not one of the node's own directories (${PRIVATE_DIRS.join(', ')}): the test would touch the real machine`,
      );
    return join(this.root, path);
  }

  /** The environment every runtime command gets. */
  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      CONTAINERS_CONF: join(this.opts.dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(this.opts.dir, 'storage.conf'),
    };
  }

  /** argv prefix that runs a command on this node (its network and mount namespaces). */
  get enter(): string[] {
    if (!this.holder) throw new Error('node not started');
    return [`--net=/run/netns/${this.opts.ns}`, `--mount=/proc/${this.holder.pid}/ns/mnt`];
  }

  exec(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
    return run('nsenter', [...this.enter, cmd, ...args], { env: this.env, timeout: timeoutMs, killSignal: 'SIGKILL' });
  }

  /** A long-running command on this node (stopped by destroy()). */
  spawn(name: string, cmd: string, args: readonly string[]): LabProcess {
    const p = new LabProcess(name, spawn('nsenter', [...this.enter, cmd, ...args], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.longRunning.push(p);
    this.opts.lab?.adopt(p);
    return p;
  }

  podman(args: readonly string[], timeoutMs = 180_000): Promise<RunResult> {
    return this.exec('podman', args, timeoutMs);
  }

  /** Starts this node's containerd (own root, state and socket); resolves when it serves. */
  async startContainerd(): Promise<void> {
    const config = join(this.opts.dir, 'containerd.toml');
    writeFileSync(
      config,
      [
        'version = 2',
        `root = "${join(this.opts.dir, 'containerd-root')}"`,
        'state = "/run/containerd"',
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        '  address = "/run/containerd/containerd.sock"',
        '[ttrpc]',
        '  address = "/run/containerd/containerd.sock.ttrpc"',
        '',
      ].join('\n'),
    );
    this.containerd = this.spawn(`containerd ${this.opts.ns}`, 'containerd', ['--config', config]);
    await this.containerd.waitFor(/containerd successfully booted/, 60_000);
  }

  /** `ctr` against this node's containerd, namespace "weft". */
  ctr(args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
    return this.exec('ctr', ['--address', '/run/containerd/containerd.sock', '--namespace', 'weft', ...args], timeoutMs);
  }

  /** `ctr run --cni --rm` in the foreground, as a long-running process: it runs CNI DEL when the task exits. */
  ctrRun(id: string, image: string, cmd: readonly string[]): LabProcess {
    return this.spawn(`ctr run ${id}`, 'ctr', [
      '--address',
      '/run/containerd/containerd.sock',
      '--namespace',
      'weft',
      'run',
      '--cni',
      '--rm',
      image,
      id,
      ...cmd,
    ]);
  }

  /** Removes every container, stops containerd and the mount namespace. Never throws. */
  async destroy(): Promise<void> {
    if (!this.holder) return;
    if (this.holder.running) {
      await this.podman(['rm', '--all', '--force', '--time', '0'], 120_000).catch((e) =>
        console.warn(`podman rm on ${this.opts.ns}: ${String(e)}`),
      );
      if (this.containerd?.running) {
        const tasks = await this.ctr(['task', 'ls', '--quiet']).catch(() => ({ stdout: '' }));
        for (const id of tasks.stdout.split('\n').filter(Boolean))
          await this.ctr(['task', 'kill', '--signal', 'KILL', id]).catch(() => undefined);
      }
    }
    await Promise.all(this.longRunning.filter((p) => p !== this.containerd).map((p) => p.stop(5000).catch(() => null)));
    await this.containerd?.stop(5000).catch(() => null);
    await this.holder.stop(2000).catch(() => null);
  }

  private writeRuntimeConfigs(): void {
    const { dir, imageStore, nofile, nproc } = this.opts;
    writeFileSync(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
        '[network]',
        'network_backend = "cni"',
        // The node's own /opt/cni/bin (weft, installed by the DaemonSet) first, then Debian's reference plugins (portmap).
        'cni_plugin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]',
        'network_config_dir = "/etc/cni/net.d"',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'runtime = "runc"',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'storage.conf'),
      [
        '[storage]',
        'driver = "overlay"',
        `graphroot = "${join(dir, 'storage')}"`,
        'runroot = "/run/containers/storage"',
        '[storage.options]',
        `additionalimagestores = ["${imageStore}"]`,
        '',
      ].join('\n'),
    );
  }
}
