/**
 * HostLock: an exclusive flock(2) on a file under weftd's run directory. Whoever holds it is the
 * node's one lease keeper and host programmer; the kernel releases it when the holder exits or
 * crashes, so a dead weftd never leaves a stale lock (a pid file would). Node has no flock, hence
 * here beside the other libc calls. Non-blocking tries only: the event loop never waits in the kernel.
 */
import { closeSync, openSync } from 'node:fs';
import { LOCK_EX, LOCK_NB, LOCK_UN, libc } from './linux/libc.js';

export class HostLock {
  private fd: number | undefined;

  constructor(readonly path: string) {}

  get held(): boolean {
    return this.fd !== undefined;
  }

  /** Takes the lock if free; false when another process holds it. */
  tryAcquire(): boolean {
    if (this.fd !== undefined) return true;
    const fd = openSync(this.path, 'a', 0o600);
    if (libc().flock(fd, LOCK_EX | LOCK_NB) === 0) {
      this.fd = fd;
      return true;
    }
    closeSync(fd);
    return false;
  }

  /** Polls until the lock is taken (true) or `timeoutMs` passes / `signal` aborts (false). */
  async acquire(timeoutMs: number, signal?: AbortSignal, everyMs = 10): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (!this.tryAcquire()) {
      if (signal?.aborted || performance.now() >= until) return false;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return true;
  }

  release(): void {
    if (this.fd === undefined) return;
    libc().flock(this.fd, LOCK_UN);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
