/**
 * A container runtime's CNI half, as libcni does it, for the demo and the chaining tests:
 *
 * - ADD: each plugin of the conflist in order; plugin k gets the list's `cniVersion` and `name`, its own
 *   config, `prevResult` = plugin k-1's result, and `runtimeConfig` for the capabilities it declares
 *   (e.g. `portMappings`). The last result is the attachment's result, kept for CHECK and DEL.
 * - CHECK: each plugin in order with the cached result as `prevResult`.
 * - DEL: each plugin in reverse order with the cached result as `prevResult`.
 *
 * Plugins run as the runtime would run them on the node: inside the node's namespace (`ip netns exec`),
 * with CNI_* in the environment and the config on stdin. A failing plugin's CNI error JSON becomes the
 * thrown error's message.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';

export interface CniConflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> }>;
}

export interface CniAttachment {
  containerId: string;
  netnsPath: string;
  ifName: string;
  args?: string;
  /** Capability arguments (e.g. { portMappings: [...] }), passed to plugins that declare them. */
  capabilityArgs?: Record<string, unknown>;
}

export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly code: number | null,
    readonly result: unknown,
    stderr: string,
  ) {
    const msg = (result as { msg?: string; details?: string } | undefined)?.msg;
    super(`CNI ${command} ${plugin} failed (exit ${code}): ${msg ?? (stderr.trim() || 'no message')}`);
    this.name = 'CniPluginError';
  }
}

export class CniRuntime {
  private readonly results = new Map<string, unknown>();

  constructor(
    readonly conflist: CniConflist,
    /** Directories searched for plugin binaries (CNI_PATH). */
    readonly cniPath: string[],
    /** Namespace the plugins run in (the node); undefined = this process's namespace. */
    readonly nodeNetns?: string,
  ) {}

  async add(a: CniAttachment): Promise<unknown> {
    let prev: unknown;
    for (const p of this.conflist.plugins) prev = await this.invoke('ADD', p, a, prev);
    this.results.set(a.containerId, prev);
    return prev;
  }

  async check(a: CniAttachment): Promise<void> {
    const prev = this.results.get(a.containerId);
    for (const p of this.conflist.plugins) await this.invoke('CHECK', p, a, prev);
  }

  async del(a: CniAttachment): Promise<void> {
    const prev = this.results.get(a.containerId);
    for (const p of [...this.conflist.plugins].reverse()) await this.invoke('DEL', p, a, prev);
    this.results.delete(a.containerId);
  }

  result(containerId: string): unknown {
    return this.results.get(containerId);
  }

  private config(p: CniConflist['plugins'][number], a: CniAttachment, prev: unknown): Record<string, unknown> {
    // The spec's derivation: the plugin's own keys plus the list's name and version; `capabilities` is
    // the runtime's business and is replaced by the matching `runtimeConfig` entries.
    const { capabilities: _caps, ...own } = p;
    const conf: Record<string, unknown> = { ...own, cniVersion: this.conflist.cniVersion, name: this.conflist.name };
    if (prev !== undefined) conf.prevResult = prev;
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(p.capabilities ?? {})) {
      if (on && a.capabilityArgs?.[cap] !== undefined) rc[cap] = a.capabilityArgs[cap];
    }
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
    return conf;
  }

  private invoke(command: string, p: CniConflist['plugins'][number], a: CniAttachment, prev: unknown): Promise<unknown> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netnsPath,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: a.args ?? '',
      CNI_PATH: this.cniPath.join(':'),
    };
    const bin = this.findPlugin(p.type);
    const argv = this.nodeNetns ? (['ip', ['netns', 'exec', this.nodeNetns, bin]] as const) : ([bin, []] as const);
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0], [...argv[1]], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => {
        let parsed: unknown;
        try {
          parsed = out.trim() ? JSON.parse(out) : undefined;
        } catch {
          parsed = undefined;
        }
        if (code === 0) resolve(command === 'ADD' ? parsed : prev);
        else reject(new CniPluginError(p.type, command, code, parsed, err || out));
      });
      child.stdin.end(JSON.stringify(this.config(p, a, prev)));
    });
  }

  private findPlugin(type: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new Error(`invalid CNI plugin type ${JSON.stringify(type)}`);
    for (const dir of this.cniPath) {
      const candidate = `${dir}/${type}`;
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        /* next dir */
      }
    }
    throw new Error(`CNI plugin ${type} not found in ${this.cniPath.join(':')}`);
  }
}
