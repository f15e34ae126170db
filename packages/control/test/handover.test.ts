import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HandoverListener, requestHandover } from '../src/state/handover.js';

const dirs: string[] = [];
const listeners: HandoverListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function setup(): { path: string; events: string[]; hooks: Parameters<typeof HandoverListener.listen>[1] } {
  const d = mkdtempSync(join(tmpdir(), 'weft-handover-'));
  dirs.push(d);
  const events: string[] = [];
  return {
    path: join(d, 'weftd.sock'),
    events,
    hooks: {
      release: async (pid) => void events.push(`release ${pid}`),
      takenOver: () => void events.push('taken over'),
      aborted: () => void events.push('aborted'),
    },
  };
}

const until = async (f: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('hand-over over the unix socket', () => {
  it('nobody listening → no-peer', async () => {
    const { path } = setup();
    expect((await requestHandover(path)).result).toBe('no-peer');
  });

  it('request → released → took-over: the old side releases, then leaves', async () => {
    const { path, events, hooks } = setup();
    listeners.push(await HandoverListener.listen(path, hooks));
    const r = await requestHandover(path);
    expect(r.result).toBe('released');
    if (r.result === 'released') r.confirm();
    await until(() => events.includes('taken over'));
    expect(events).toEqual([`release ${process.pid}`, 'taken over']);
  });

  it('the new side going away after "released" → aborted: the old side takes the node back', async () => {
    const { path, events, hooks } = setup();
    listeners.push(await HandoverListener.listen(path, hooks));
    const r = await requestHandover(path);
    expect(r.result).toBe('released');
    if (r.result === 'released') r.abandon(); // what the kernel does when the new process dies
    await until(() => events.includes('aborted'));
    expect(events).toEqual([`release ${process.pid}`, 'aborted']);
    // and the listener accepts the next request
    const again = await requestHandover(path);
    expect(again.result).toBe('released');
    if (again.result === 'released') again.confirm();
    await until(() => events.includes('taken over'));
  });

  it('garbage on the socket is ignored; a stale socket file is replaced', async () => {
    const { path, events, hooks } = setup();
    const first = await HandoverListener.listen(path, hooks);
    await first.close(); // leaves the file behind like a crashed process would not unlink it
    listeners.push(await HandoverListener.listen(path, hooks));
    const { createConnection } = await import('node:net');
    const s = createConnection(path);
    await new Promise((r) => s.once('connect', r));
    s.write('not json\n{"op":"took-over"}\n');
    s.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([]);
  });
});
