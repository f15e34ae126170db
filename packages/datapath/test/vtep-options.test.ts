// Vtep.open refuses bad options before it creates anything (no TAP, no socket): these run without root.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../src/vtep.js';

const base = { name: 'weft.t', mtu: 1450 };

describe('Vtep.open option checks', () => {
  it.each([
    [{ mtu: 40 }, /TAP MTU 40 out of range/],
    [{ socketBuffer: 1024 }, /socket buffer 1024 out of range \(65536\.\.268435456\)/],
    [{ socketBuffer: 1.5e6 + 0.5 }, /socket buffer .* out of range/],
    [{ tapQueueLength: 0 }, /TAP queue length 0 out of range \(16\.\.65536\)/],
    [{ tapQueueLength: 1e6 }, /TAP queue length 1000000 out of range/],
  ])('%o is refused with a clear error', async (bad, message) => {
    await expect(Vtep.open({ ...base, ...bad })).rejects.toThrow(message);
  });
});
