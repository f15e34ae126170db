/**
 * Running the weft image with podman in tests: the image name `pnpm image` builds, the flags every `podman run`
 * needs on these machines, and a runner whose failures show the command's stdout and stderr.
 *
 * - runc, not crun (crun fails on this machine's cgroup layout).
 * - Explicit rlimits: podman's defaults (nofile 1048576, nproc 32768) are above what this process may set
 *   (no CAP_SYS_RESOURCE; hard nofile 20000 here), and runc then fails with "error setting rlimit type 7/6:
 *   operation not permitted". nofile is this process's own hard limit; nproc 16384 is below what runc was
 *   measured to accept.
 * - The caller chooses the network; `--network none` unless a test needs one (no bridge in the root namespace).
 */
import { execFile, execFileSync, type ExecFileException } from 'node:child_process';
import { promisify } from 'node:util';

export const WEFT_IMAGE = process.env.WEFT_IMAGE ?? 'localhost/weft:dev';

let nofile: string | undefined;
/** Flags for `podman run` that make it start here at all. */
export function podmanRunFlags(): string[] {
  nofile ??= execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  const limit = nofile === 'unlimited' ? '65536' : String(Math.min(Number(nofile), 65536));
  return ['--runtime', 'runc', '--ulimit', `nofile=${limit}:${limit}`, '--ulimit', 'nproc=16384:16384'];
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects with the command line, its exit status and both outputs. */
export async function runCommand(
  file: string,
  argv: readonly string[],
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<CommandResult> {
  try {
    return await promisify(execFile)(file, [...argv], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
      encoding: 'utf8',
      ...(env ? { env } : {}),
    });
  } catch (e) {
    const error = e as ExecFileException & { stdout?: string; stderr?: string };
    const exit = error.signal ? `signal ${error.signal}` : `exit ${String(error.code)}`;
    throw new Error(`${file} ${argv.join(' ')} failed (${exit})\n--- stdout\n${error.stdout ?? ''}\n--- stderr\n${error.stderr ?? ''}`);
  }
}

/** `podman run --rm` of the weft image with `flags` before the image and `command` after it. */
export function podmanRun(flags: readonly string[], command: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  return runCommand('podman', ['run', '--rm', ...podmanRunFlags(), ...flags, WEFT_IMAGE, ...command], timeoutMs);
}
