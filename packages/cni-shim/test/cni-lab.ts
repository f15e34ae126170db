/**
 * A node for CNI tests: a lab namespace playing the node (the plugin is executed inside it, as a
 * runtime on that node would: `ip netns exec <node> bin/weft`), a temp directory with the subnet file
 * weftd would write and the IPAM store, and pod namespaces on demand. Nothing touches the root
 * namespace; `destroy()` removes namespaces and files, also after a failure.
 *
 * `invokePlugin` runs one plugin with any verb and config and hands back its exit code, output and
 * CNI error, for assertions; whole conflists run through @weft/netlab's CniRuntime.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, run } from '@weft/netlab';

export interface PluginInvocation {
  /** Path of the plugin executable. */
  binary: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  config: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** Execute the plugin inside this named namespace (`ip netns exec NAME`): the test's node. */
  execNetns?: string;
  /** Extra environment (PATH is passed through). */
  env?: Record<string, string>;
}

export interface InvokeOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON. */
  output: unknown;
  /** The CNI error when the plugin failed. */
  error?: { code: number; msg: string; details?: string };
}

export function invokePlugin(inv: PluginInvocation): Promise<InvokeOutcome> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...inv.env, CNI_COMMAND: inv.command };
  if (inv.containerId !== undefined) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns !== undefined) env.CNI_NETNS = inv.netns;
  if (inv.ifName !== undefined) env.CNI_IFNAME = inv.ifName;
  const [file, args] = inv.execNetns ? ['ip', ['netns', 'exec', inv.execNetns, inv.binary]] : [inv.binary, []];
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const exitCode = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 128) : 0;
      resolve(outcome(exitCode, stdout, stderr));
    });
    child.stdin?.end(JSON.stringify(inv.config));
  });
}

function outcome(exitCode: number, stdout: string, stderr: string): InvokeOutcome {
  let output: unknown;
  try {
    output = stdout.trim() === '' ? undefined : JSON.parse(stdout);
  } catch {
    output = undefined;
  }
  const out: InvokeOutcome = { exitCode, stdout, stderr, output };
  const e = output as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (exitCode !== 0) {
    out.error =
      typeof e?.code === 'number'
        ? { code: e.code, msg: String(e.msg), ...(typeof e.details === 'string' ? { details: e.details } : {}) }
        : { code: -1, msg: (stdout + stderr).trim() };
  }
  return out;
}

export const WEFT_BIN = fileURLToPath(new URL('../bin/weft', import.meta.url));
export const WEFT_BIN_DIR = fileURLToPath(new URL('../bin', import.meta.url));
export const REFERENCE_PLUGINS = '/usr/lib/cni';
export const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

export class CniLab {
  private pods = 0;

  private constructor(
    readonly lab: Lab,
    readonly node: string,
    readonly dir: string,
  ) {}

  static async create(tag: string): Promise<CniLab> {
    await Lab.sweep();
    const lab = Lab.create(tag);
    const dir = mkdtempSync(join(tmpdir(), `weft-${tag}-`));
    const node = await lab.addNetns('node');
    const l = new CniLab(lab, node, dir);
    l.writeSubnetFile();
    return l;
  }

  get subnetFile(): string {
    return join(this.dir, 'subnet.env');
  }

  get dataDir(): string {
    return join(this.dir, 'ipam');
  }

  writeSubnetFile(text = SUBNET_ENV): void {
    writeFileSync(this.subnetFile, text);
  }

  removeSubnetFile(): void {
    rmSync(this.subnetFile, { force: true });
  }

  /** weft's config for this node. */
  conf(extra: Record<string, unknown> = {}, cniVersion = '1.0.0'): Record<string, unknown> {
    return { cniVersion, name: 'weft', type: 'weft', subnetFile: this.subnetFile, dataDir: this.dataDir, hairpinMode: true, ...extra };
  }

  /** A new pod namespace; returns its full name and CNI_NETNS path. */
  async addPod(): Promise<{ ns: string; netns: string; id: string }> {
    const n = this.pods++;
    const ns = await this.lab.addNetns(`pod${n}`);
    return { ns, netns: `/var/run/netns/${ns}`, id: `ctr${n}` };
  }

  /** Executes weft (or another plugin) inside the node namespace. */
  invoke(inv: Omit<PluginInvocation, 'binary' | 'execNetns'> & { binary?: string }): Promise<InvokeOutcome> {
    return invokePlugin({ binary: WEFT_BIN, execNetns: this.node, env: { WEFT_CNI_LOG: 'warn' }, ...inv });
  }

  add(pod: { id: string; netns: string }, conf = this.conf(), ifName = 'eth0'): Promise<InvokeOutcome> {
    return this.invoke({ command: 'ADD', config: conf, containerId: pod.id, netns: pod.netns, ifName });
  }

  del(pod: { id: string; netns: string }, conf = this.conf(), ifName = 'eth0'): Promise<InvokeOutcome> {
    return this.invoke({ command: 'DEL', config: conf, containerId: pod.id, netns: pod.netns, ifName });
  }

  /** `ip ...` inside a namespace; stdout. */
  async ip(ns: string, args: string[]): Promise<string> {
    return (await run('ip', ['-n', ns, ...args])).stdout;
  }

  async ipJson<T = Array<Record<string, unknown>>>(ns: string, args: string[]): Promise<T> {
    return JSON.parse(await this.ip(ns, ['-j', '-d', ...args])) as T;
  }

  async ping(fromNs: string, to: string): Promise<void> {
    await run('ip', ['netns', 'exec', fromNs, 'ping', '-c', '1', '-W', '2', to]);
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The parsed ADD output, asserting success with the plugin's own error in the message. */
export function added(out: InvokeOutcome): {
  interfaces: Array<Record<string, unknown>>;
  ips: Array<Record<string, unknown>>;
  routes: Array<Record<string, unknown>>;
  cniVersion: string;
} {
  if (out.exitCode !== 0) throw new Error(`plugin failed (${out.exitCode}): ${out.stdout}${out.stderr}`);
  return out.output as never;
}
