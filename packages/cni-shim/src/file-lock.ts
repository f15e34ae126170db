/**
 * An exclusive flock(2) on a file, the same lock host-local takes on `<dataDir>/<network>/lock`, so
 * weft and host-local (or two weft processes) never allocate from one store at the same time.
 *
 * Node has no flock(). Rather than load a native addon (start-up time is what this plugin is judged
 * on), the lock is taken by util-linux `flock -x -w T 3` on a descriptor we open and hand to it as
 * fd 3: flock locks belong to the open file description, which the child shares with us, so when
 * the child exits the lock stays held through our descriptor. Closing it (or our process dying, even
 * by SIGKILL) releases it; a crashed plugin never leaves a stale lock behind.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { CNI_ERR, CniError } from './cni-error.js';
import { runTool } from './host-tool.js';

export class FileLock {
  private constructor(
    readonly path: string,
    private fd: number,
  ) {}

  /** Waits up to `timeoutMs` for the lock on `path` (created when missing). */
  static async acquire(path: string, timeoutMs = 30_000): Promise<FileLock> {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (e) {
      throw new CniError(CNI_ERR.ioFailure, `cannot open lock file ${path}: ${(e as Error).message}`);
    }
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const r = await runTool('flock', ['-x', '-w', seconds, '3'], { fds: [fd] }).catch((e: unknown) => {
      closeSync(fd);
      throw e;
    });
    if (r.code !== 0) {
      closeSync(fd);
      const why = r.code === 1 ? `timed out after ${seconds} s (another plugin holds it)` : `flock exited ${r.code}: ${r.stderr.trim()}`;
      throw new CniError(CNI_ERR.tryAgainLater, `cannot lock ${path}: ${why}`);
    }
    return new FileLock(path, fd);
  }

  release(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
