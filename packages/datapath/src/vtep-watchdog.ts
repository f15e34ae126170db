/**
 * VtepWatchdog: notices a datapath worker that died or stopped moving packets, and restarts it.
 *
 * Every `intervalMs` (200 ms) it reads three things the worker cannot fake: whether the thread ended
 * (error/exit seen by the Vtep), its heartbeat (a counter the loop bumps every turn; an idle loop still
 * wakes every 200 ms), and its progress (frames read + datagrams received) while the TAP queue or the
 * socket has packets waiting. A thread that ended, a heartbeat still for `stallMs` (1 s), or packets
 * waiting for `stallMs` with no progress → the datapath is failed: `onEvent('failed', cause)`, then
 * `restart()` (a fresh worker from the Vtep's FDB copy) → `onEvent('restarted')`. More than
 * `maxRestarts` (5) within `windowMs` (a minute) → `onEvent('gave-up')`: weftd then exits 1 so the
 * kubelet restarts the whole process.
 *
 * The datapath is a small interface (WatchedDatapath), so the decisions are unit tested with a fake
 * clock and fake readings; the netns test kills the real worker.
 */

export interface WatchedDatapath {
  /** Why the worker ended without being asked, or undefined while it runs. */
  failure(): string | undefined;
  heartbeat(): number;
  progress(): number;
  /** Where packets wait right now ('tap', 'udp', 'tap+udp'), '' when nowhere. */
  packetsWaiting(): string;
  restartWorker(): Promise<void>;
}

export type WatchdogEvent =
  | { type: 'failed'; cause: string }
  | { type: 'restarted'; cause: string; restarts: number }
  | { type: 'gave-up'; cause: string; restarts: number };

export interface WatchdogOptions {
  intervalMs?: number;
  stallMs?: number;
  maxRestarts?: number;
  windowMs?: number;
  onEvent: (e: WatchdogEvent) => void;
  now?: () => number;
}

export class VtepWatchdog {
  private readonly intervalMs: number;
  private readonly stallMs: number;
  private readonly maxRestarts: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private lastBeat = -1;
  private lastBeatAt = 0;
  private lastProgress = -1;
  private lastProgressAt = 0;
  private restartTimes: number[] = [];
  private busy = false;
  /** The current failure (undefined while healthy): /readyz and /healthz read it. */
  cause: string | undefined;
  /** Restarts since start (a counter for /metrics). */
  restarts = 0;

  constructor(
    private readonly dp: WatchedDatapath,
    private readonly o: WatchdogOptions,
  ) {
    this.intervalMs = o.intervalMs ?? 200;
    this.stallMs = o.stallMs ?? 1000;
    this.maxRestarts = o.maxRestarts ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.now = o.now ?? (() => performance.now());
  }

  get healthy(): boolean {
    return this.cause === undefined;
  }

  start(): void {
    this.reset();
    this.timer = setInterval(() => void this.check(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the datapath; restarts it when failed. Returns the cause found, if any. */
  async check(): Promise<string | undefined> {
    if (this.busy) return undefined;
    const cause = this.diagnose();
    if (cause === undefined) return undefined;
    this.busy = true;
    try {
      await this.recover(cause);
    } finally {
      this.busy = false;
    }
    return cause;
  }

  private diagnose(): string | undefined {
    const now = this.now();
    const ended = this.dp.failure();
    if (ended !== undefined) return ended;
    const beat = this.dp.heartbeat();
    if (beat !== this.lastBeat) {
      this.lastBeat = beat;
      this.lastBeatAt = now;
    } else if (now - this.lastBeatAt >= this.stallMs) {
      return `datapath worker stalled: no loop turn for ${Math.round(now - this.lastBeatAt)} ms`;
    }
    const progress = this.dp.progress();
    const waiting = progress === this.lastProgress ? this.dp.packetsWaiting() : '';
    if (waiting === '') {
      this.lastProgress = progress;
      this.lastProgressAt = now;
    } else if (now - this.lastProgressAt >= this.stallMs) {
      return `datapath worker wedged: packets waiting (${waiting}), none moved for ${Math.round(now - this.lastProgressAt)} ms`;
    }
    return undefined;
  }

  private async recover(cause: string): Promise<void> {
    this.cause = cause;
    this.o.onEvent({ type: 'failed', cause });
    const now = this.now();
    this.restartTimes = this.restartTimes.filter((t) => now - t < this.windowMs);
    if (this.restartTimes.length >= this.maxRestarts) {
      this.stop();
      this.o.onEvent({ type: 'gave-up', cause, restarts: this.restartTimes.length });
      return;
    }
    this.restartTimes.push(now);
    try {
      await this.dp.restartWorker();
    } catch (e) {
      this.cause = `${cause}; restart failed: ${(e as Error).message}`;
      return; // the next check sees the failure again and counts another attempt
    }
    this.restarts++;
    this.cause = undefined;
    this.reset();
    this.o.onEvent({ type: 'restarted', cause, restarts: this.restarts });
  }

  private reset(): void {
    const now = this.now();
    this.lastBeat = this.dp.heartbeat();
    this.lastBeatAt = now;
    this.lastProgress = this.dp.progress();
    this.lastProgressAt = now;
  }
}
