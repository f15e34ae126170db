/**
 * Running the node's tools (ip, iptables, nft, ethtool, etcd) from the daemons and the test labs: execFile with an argv,
 * never a shell, so names and addresses from leases or tests cannot inject commands; text for `ip -batch` or
 * `iptables-restore` goes on stdin. `runTool` resolves with the exit code (for `iptables -C` a non-zero exit is an
 * answer, not an error) and rejects only when the tool could not run (missing, killed by the timeout);
 * `mustRunTool` rejects with a ToolError carrying the tool's stderr, because "ip exited 2" helps nobody.
 *
 * The CNI plugin runs its tools synchronously instead (cni-shim/ip-batch.ts): a process that lives for one ADD
 * pays less for spawnSync than for an asynchronous child.
 */
import { execFile, type ExecFileOptions } from 'node:child_process';

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ToolOptions extends Pick<ExecFileOptions, 'cwd' | 'env' | 'signal' | 'killSignal'> {
  /** Written to the tool's stdin (then closed). */
  stdin?: string;
  /** Kills the tool after this long; default 30 s. */
  timeoutMs?: number;
}

export class ToolError extends Error {
  override readonly name = 'ToolError';
  constructor(
    readonly argv: readonly string[],
    /** The exit code, or why it did not exit by itself (a signal name, ENOENT, ABORT_ERR). */
    readonly code: number | string | null,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(`${argv.join(' ')} failed (${code}): ${stderr.trim() || '(no stderr)'}`);
  }
}

export function runTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> {
  const { stdin, timeoutMs, ...exec } = opts;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs ?? 30_000, ...exec },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        if (err && typeof code !== 'number') {
          // Not an exit status: the tool is missing (ENOENT), was killed (timeout, abort), or similar.
          reject(new ToolError([cmd, ...args], (code as string | undefined) ?? err.message, String(stderr) || err.message, String(stdout)));
          return;
        }
        resolve({ code: err ? (code as number) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    // A tool that exits before reading its stdin closes the pipe: EPIPE here is not our error to throw.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin ?? '');
  });
}

/** `runTool` that rejects with a ToolError (stderr in the message) unless the tool exits 0; resolves with stdout. */
export async function mustRunTool(cmd: string, args: readonly string[], opts: ToolOptions = {}): Promise<string> {
  const r = await runTool(cmd, args, opts);
  if (r.code !== 0) throw new ToolError([cmd, ...args], r.code, r.stderr, r.stdout);
  return r.stdout;
}
