import { describe, expect, it } from 'vitest';
import { VtepWatchdog, type WatchdogEvent, type WatchedDatapath } from '../src/vtep-watchdog.js';

class FakeDatapath implements WatchedDatapath {
  ended: string | undefined;
  beat = 0;
  moved = 0;
  waiting = '';
  restarts = 0;
  failRestart = false;
  failure(): string | undefined {
    return this.ended;
  }
  heartbeat(): number {
    return this.beat;
  }
  progress(): number {
    return this.moved;
  }
  packetsWaiting(): string {
    return this.waiting;
  }
  async restartWorker(): Promise<void> {
    if (this.failRestart) throw new Error('no worker');
    this.restarts++;
    this.ended = undefined;
  }
}

function setup() {
  const dp = new FakeDatapath();
  let now = 0;
  const events: WatchdogEvent[] = [];
  const w = new VtepWatchdog(dp, { onEvent: (e) => events.push(e), now: () => now });
  w.start();
  w.stop(); // driven by hand below
  const tick = async (ms: number, live = true): Promise<string | undefined> => {
    now += ms;
    if (live) dp.beat++;
    return w.check();
  };
  return { dp, w, events, tick };
}

describe('VtepWatchdog', () => {
  it('an idle live worker is healthy: heartbeat moves, nothing waits', async () => {
    const { w, tick, events } = setup();
    for (let i = 0; i < 20; i++) expect(await tick(200)).toBeUndefined();
    expect(w.healthy).toBe(true);
    expect(events).toEqual([]);
  });

  it('a worker that ended is restarted at once, with its cause', async () => {
    const { dp, w, tick, events } = setup();
    dp.ended = 'datapath worker exited (code 1)';
    expect(await tick(200)).toBe('datapath worker exited (code 1)');
    expect(dp.restarts).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['failed', 'restarted']);
    expect(w.healthy).toBe(true);
    expect(w.restarts).toBe(1);
  });

  it('no heartbeat for 1 s → stalled', async () => {
    const { dp, tick } = setup();
    for (let i = 0; i < 4; i++) expect(await tick(200, false)).toBeUndefined();
    expect(await tick(200, false)).toMatch(/stalled: no loop turn for 1000 ms/);
    expect(dp.restarts).toBe(1);
  });

  it('packets waiting without progress for 1 s → wedged; progress or an empty queue keep it healthy', async () => {
    const { dp, tick } = setup();
    dp.waiting = 'tap';
    for (let i = 0; i < 10; i++) {
      dp.moved++;
      expect(await tick(200)).toBeUndefined(); // busy but moving
    }
    for (let i = 0; i < 4; i++) expect(await tick(200)).toBeUndefined();
    expect(await tick(200)).toMatch(/wedged: packets waiting \(tap\), none moved for 1000 ms/);
    dp.waiting = '';
    for (let i = 0; i < 10; i++) expect(await tick(200)).toBeUndefined();
  });

  it('more than 5 restarts in a minute → gave-up; older restarts fall out of the window', async () => {
    const { dp, tick, events } = setup();
    for (let i = 0; i < 5; i++) {
      dp.ended = 'crash';
      await tick(1000);
    }
    expect(dp.restarts).toBe(5);
    await tick(61_000); // the window moves on
    dp.ended = 'crash';
    await tick(1000);
    expect(dp.restarts).toBe(6);
    expect(events.some((e) => e.type === 'gave-up')).toBe(false);
    for (let i = 0; i < 5; i++) {
      dp.ended = 'crash';
      await tick(1000);
    }
    expect(events.at(-1)).toMatchObject({ type: 'gave-up', cause: 'crash' });
  });

  it('a failed restart leaves it unhealthy with both causes, and is tried again', async () => {
    const { dp, w, tick } = setup();
    dp.failRestart = true;
    dp.ended = 'crash';
    await tick(200);
    expect(w.healthy).toBe(false);
    expect(w.cause).toMatch(/crash; restart failed: no worker/);
    dp.failRestart = false;
    await tick(200);
    expect(w.healthy).toBe(true);
  });
});
