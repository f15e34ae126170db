import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processStartTime, signalIfSame } from '../src/process-identity.js';

function sleeper() {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  return { child, exited };
}

describe('process identity (pid + start time), as lab sweeps use it', () => {
  it('reads a start time that stays the same for the process and differs from another one', async () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(processStartTime(process.pid));
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined(); // above pid_max: no such process
  });

  it('signals a pid only while it is still the process that was recorded', async () => {
    const { child, exited } = sleeper();
    const start = processStartTime(child.pid!);
    expect(start).toBeDefined();
    // another process's start time (a reused pid looks like this): left alone
    expect(signalIfSame(child.pid!, String(Number(start) + 1), 'SIGKILL')).toBe(false);
    expect(signalIfSame(child.pid!, undefined, 'SIGKILL')).toBe(false);
    expect(processStartTime(child.pid!)).toBe(start);
    // the recorded one: signalled
    expect(signalIfSame(child.pid!, start, 'SIGKILL')).toBe(true);
    expect(await exited).toBe('SIGKILL');
    expect(signalIfSame(child.pid!, start, 'SIGKILL')).toBe(false);
  });
});
