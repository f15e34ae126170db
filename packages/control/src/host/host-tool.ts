/**
 * Running the host's network tools (ip, iptables) from weftd.
 *
 * Always execFile with an argv, never a shell, so lease data (addresses, MACs from etcd) cannot inject
 * commands. Text on stdin (ip -batch, iptables-restore) is passed as stdin. `runHostTool` resolves with
 * the exit code instead of throwing, because for `iptables -C` a non-zero exit is an answer, not an
 * error; `mustRunHostTool` throws with the tool's stderr in the message.
 */
import { execFile } from 'node:child_process';

export interface HostToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HostToolOptions {
  stdin?: string;
  timeoutMs?: number;
}

export function runHostTool(cmd: string, args: readonly string[], opts: HostToolOptions = {}): Promise<HostToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 30_000 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          // Not an exit status: the tool is missing (ENOENT), was killed by the timeout, or similar.
          reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}`));
          return;
        }
        resolve({ code: err ? ((err as { code: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    // A tool that exits before reading its stdin closes the pipe: EPIPE here is not our error to throw.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}

export async function mustRunHostTool(cmd: string, args: readonly string[], opts: HostToolOptions = {}): Promise<string> {
  const r = await runHostTool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || '(no stderr)'}`);
  return r.stdout;
}
