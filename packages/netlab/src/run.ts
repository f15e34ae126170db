/**
 * Running host tools (ip, ethtool, iperf3, etcd) without a shell.
 *
 * Every argument is passed as argv, never through `sh -c`, so names and addresses cannot inject
 * commands. `run` rejects with the tool's stderr in the message, because "ip exited 2" helps nobody.
 */
import { execFile, type ExecFileOptions } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | string | null,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(`${argv.join(' ')} failed (${code}): ${stderr.trim() || '(no stderr)'}`);
    this.name = 'CommandError';
  }
}

export function run(cmd: string, args: readonly string[], opts: ExecFileOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...opts }, (err, stdout, stderr) => {
      const out = String(stdout);
      const errText = String(stderr);
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new CommandError([cmd, ...args], code, errText || err.message, out));
      } else {
        resolve({ stdout: out, stderr: errText });
      }
    });
  });
}

/** Runs `ip -batch -` with one command per line: one process for any number of link/addr/route changes. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns ? ['-n', netns, '-batch', '-'] : ['-batch', '-'];
  await new Promise<void>((resolve, reject) => {
    const child = execFile('ip', args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(new CommandError(['ip', ...args], (err as { code?: number }).code ?? null, String(stderr)));
      else resolve();
    });
    child.stdin?.end(lines.join('\n') + '\n');
  });
}
