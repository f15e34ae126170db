/**
 * Running host tools (ip, ethtool, iperf3, etcd) without a shell.
 *
 * Every argument is passed as argv, never through `sh -c`, so names and addresses cannot inject
 * commands. `run` rejects with the tool's stderr in the message, because "ip exited 2" helps nobody.
 */
import type { ExecFileOptions } from 'node:child_process';
import { ToolError, runTool } from '@weft/netbase';

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** A tool that failed: its argv, exit code (or why it did not exit) and stderr. netbase's ToolError, under the labs' name. */
export { ToolError as CommandError } from '@weft/netbase';

/** Runs a tool to completion (no time limit unless `timeout` is given); rejects with a CommandError unless it exits 0. */
export async function run(cmd: string, args: readonly string[], opts: ExecFileOptions = {}): Promise<RunResult> {
  const { timeout, cwd, env, signal, killSignal } = opts;
  const r = await runTool(cmd, args, {
    timeoutMs: timeout ?? 0,
    ...(cwd ? { cwd } : {}),
    ...(env ? { env } : {}),
    ...(signal ? { signal } : {}),
    ...(killSignal ? { killSignal } : {}),
  });
  if (r.code !== 0) throw new ToolError([cmd, ...args], r.code, r.stderr || `exit ${r.code}`, r.stdout);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Runs `ip -batch -` with one command per line: one process for any number of link/addr/route changes. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns ? ['-n', netns, '-batch', '-'] : ['-batch', '-'];
  const r = await runTool('ip', args, { stdin: lines.join('\n') + '\n', timeoutMs: 0 });
  if (r.code !== 0) throw new ToolError(['ip', ...args], r.code, r.stderr);
}
