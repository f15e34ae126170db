/**
 * Exponential backoff for reconnect loops (flannel's etcd watch: 100 ms doubling to 5 s, reset once
 * the connection delivers again), and an abortable sleep to wait it out.
 */

export class RetryBackoff {
  private current: number;

  constructor(
    readonly initialMs = 100,
    readonly maxMs = 5_000,
  ) {
    this.current = initialMs;
  }

  /** The delay to wait now; the next one doubles, up to maxMs. */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    return d;
  }

  reset(): void {
    this.current = this.initialMs;
  }
}

/** Resolves after `ms`, or at once (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}
