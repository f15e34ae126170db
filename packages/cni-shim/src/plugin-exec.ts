/**
 * The runtime side of CNI, small enough for tests and benchmarks: execute one plugin binary with the
 * CNI_* environment and a config on stdin, and execute a conflist the way containerd and CRI-O do
 * (spec section 3): ADD runs the plugins in order, each given the previous one's result as
 * `prevResult`; CHECK runs them in order with the final ADD result; DEL runs them in reverse with it.
 * Each plugin's config gets the list's `cniVersion` and `name`, and a `runtimeConfig` holding the
 * capability arguments it declared in `capabilities`.
 *
 * Not imported by the plugin itself (bin/weft never loads this module).
 */
import { spawn } from 'node:child_process';

export interface PluginInvocation {
  /** Path of the plugin executable. */
  binary: string;
  command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';
  config: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  cniPath?: string;
  /** Execute the plugin inside this named namespace (`ip netns exec NAME`): the "node" of a test. */
  execNetns?: string;
  /** Extra environment (PATH is passed through). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface InvokeOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is JSON. */
  output: unknown;
  /** The CNI error when the plugin failed. */
  error?: { code: number; msg: string; details?: string };
  /** Wall time from spawn to exit. */
  ms: number;
}

export function invokePlugin(inv: PluginInvocation): Promise<InvokeOutcome> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...inv.env, CNI_COMMAND: inv.command };
  const vars: Array<[string, string | undefined]> = [
    ['CNI_CONTAINERID', inv.containerId],
    ['CNI_NETNS', inv.netns],
    ['CNI_IFNAME', inv.ifName],
    ['CNI_ARGS', inv.args],
    ['CNI_PATH', inv.cniPath],
  ];
  for (const [k, v] of vars) if (v !== undefined) env[k] = v;
  const [file, args] = inv.execNetns ? ['ip', ['netns', 'exec', inv.execNetns, inv.binary]] : [inv.binary, []];
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: inv.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const exitCode = code ?? (signal ? 128 : 1);
      const output = parseJson(stdout);
      const out: InvokeOutcome = { exitCode, stdout, stderr, output, ms };
      if (exitCode !== 0) out.error = cniErrorOf(output, stdout, stderr);
      resolve(out);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(inv.config));
  });
}

function parseJson(text: string): unknown {
  try {
    return text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function cniErrorOf(output: unknown, stdout: string, stderr: string): { code: number; msg: string; details?: string } {
  const o = output as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (o && typeof o.code === 'number') {
    return typeof o.details === 'string' ? { code: o.code, msg: String(o.msg), details: o.details } : { code: o.code, msg: String(o.msg) };
  }
  return { code: -1, msg: (stdout + stderr).trim().slice(0, 500) || 'no output' };
}

export interface ConflistRun {
  conflist: { name: string; cniVersion: string; plugins: Array<Record<string, unknown>> };
  /** Where a plugin `type` lives (e.g. weft → packages/cni-shim/bin/weft, others → /usr/lib/cni/<type>). */
  binaryFor(type: string): string;
  containerId: string;
  netns: string;
  ifName: string;
  args?: string;
  cniPath?: string;
  /** Capability arguments the runtime offers (portMappings, bandwidth, mac, ...). */
  capabilityArgs?: Record<string, unknown>;
  execNetns?: string;
}

/** Runs a conflist verb; resolves with the final result (ADD) or the given one (CHECK, DEL). */
export async function runConflist(command: 'ADD' | 'CHECK' | 'DEL', run: ConflistRun, finalResult?: unknown): Promise<unknown> {
  const plugins = command === 'DEL' ? [...run.conflist.plugins].reverse() : run.conflist.plugins;
  let prev = finalResult;
  for (const plugin of plugins) {
    const type = String(plugin.type);
    const config = pluginConfig(run, plugin, prev);
    const inv: PluginInvocation = { binary: run.binaryFor(type), command, config, containerId: run.containerId, netns: run.netns, ifName: run.ifName };
    if (run.args !== undefined) inv.args = run.args;
    if (run.cniPath !== undefined) inv.cniPath = run.cniPath;
    if (run.execNetns !== undefined) inv.execNetns = run.execNetns;
    const out = await invokePlugin(inv);
    if (out.exitCode !== 0) {
      const e = out.error!;
      throw new Error(`${type} ${command} failed (code ${e.code}): ${e.msg}${e.details ? ` (${e.details})` : ''}`);
    }
    if (command === 'ADD') prev = out.output;
  }
  return prev;
}

function pluginConfig(run: ConflistRun, plugin: Record<string, unknown>, prev: unknown): Record<string, unknown> {
  const { capabilities, ...rest } = plugin;
  const config: Record<string, unknown> = { ...rest, cniVersion: run.conflist.cniVersion, name: run.conflist.name };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries((capabilities as Record<string, boolean> | undefined) ?? {})) {
    if (on && run.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = run.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) config.runtimeConfig = runtimeConfig;
  if (prev !== undefined) config.prevResult = prev;
  return config;
}
