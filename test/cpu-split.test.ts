/**
 * bench/cpu-split.mjs, the benchmark's CPU accounting: it finds a process's CPU by pid over a window,
 * survives a process that exits inside the window (counting it up to its last sample), and its
 * per-Gbit arithmetic says what the report claims. No root: it only reads /proc.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs bench module without type declarations
import { cpuBounds, cpuPerGbit, cpuPerPacket, cpuSplit } from '../bench/cpu-split.mjs';

interface Split {
  vtep: { user: number; system: number };
  vtepHotThread: { cores: number };
  machine: { busy: number };
}
const split = cpuSplit as (o: object) => Promise<Split>;

/** A child that spins in user space for `ms`. */
function spinner(ms: number) {
  return spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end);`], { stdio: 'ignore' });
}

describe('cpuSplit', () => {
  it("charges a busy process's user time to the VTEP role", async () => {
    const child = spinner(3000);
    const s = await split({ labNetns: [], vtepPids: [child.pid], startMs: 300, windowMs: 1500, sampleMs: 250 });
    child.kill();
    expect(s.vtep.user).toBeGreaterThan(0.05); // a spinning thread, however shared the two cores are
    expect(s.vtepHotThread.cores).toBeGreaterThan(0);
    expect(s.machine.busy).toBeGreaterThanOrEqual(s.vtep.user * 0.9);
  });

  it('keeps what a process that exits inside the window used, and does not throw', async () => {
    const child = spinner(1000);
    const s = await split({ labNetns: [], vtepPids: [child.pid], startMs: 200, windowMs: 2000, sampleMs: 250 });
    expect(child.exitCode ?? (await new Promise((r) => child.on('exit', r)))).toBe(0);
    expect(s.vtep.user).toBeGreaterThan(0.01);
  });
});

describe('cpuPerGbit and cpuBounds', () => {
  const result = (g: number, vtep: [number, number], iperf3: number, kthreads: number, idleIrq: number, busy: number, others: number) => ({
    tcpGbps: g,
    tcpCpu: {
      vtep: { user: vtep[0], system: vtep[1] },
      iperf3: { user: 0, system: iperf3 },
      lab: { user: 0, system: 0 },
      kthreads: { user: 0, system: kthreads },
      outside: { user: others, system: 0 },
      idleIrq,
      vtepHotThread: { cores: 1 },
      machine: { busy, softirq: 0.2, irq: 0 },
    },
  });

  it('splits cores per Gbit/s and bounds a contender whose user time were zero', () => {
    const k = cpuPerGbit(result(8, [0, 0], 1.5, 0.1, 0.2, 1.8, 0));
    expect(k.total).toBeCloseTo(0.225);
    expect(k.iperf3).toBeCloseTo(0.1875);
    const w = cpuPerGbit(result(4, [0.6, 0.8], 0.4, 0, 0.2, 2.5, 0.5));
    expect(w.total).toBeCloseTo(0.5); // other people's 0.5 cores left out
    expect(w.vtepUser).toBeCloseTo(0.15);
    const b = cpuBounds(w, k, 2);
    expect(b.kernelSide).toBeCloseTo(0.25); // (0.8 + 0.2) / 4
    expect(b.withoutUserVsKernel).toBeCloseTo(0.35 / 0.225);
    expect(b.gbpsCeilingWithoutUser).toBeCloseTo(2 / 0.35);
    expect(b.ceilingVsKernel).toBeCloseTo(0.225 / 0.35); // both CPU-bound: the inverse of the cost ratio
  });

  it('costs a 64 B test per packet: the bench per delivered packet, the VTEP per frame it read', () => {
    const x = { ...result(0, [0.1, 0.5], 0.6, 0, 0, 1.2, 0), udp64Pps: 100_000, udp64SentPps: 250_000, lossSenderDevPps: 150_000 };
    const udp = { ...x, udpCpu: x.tcpCpu, tcpCpu: undefined };
    const p = cpuPerPacket(udp);
    expect(p.benchUsPerDelivered).toBeCloseTo(12); // (0.6 + 0.6) cores / 100 kpps
    expect(p.vtepUserUs).toBeCloseTo(1); // 0.1 cores over the 100 kpps read from the TAP
    expect(p.vtepSystemUs).toBeCloseTo(5);
  });

  it('has nothing to say without a split', () => {
    expect(cpuPerGbit({ tcpGbps: 3 })).toBeUndefined();
    expect(cpuBounds(undefined, undefined, 2)).toBeUndefined();
  });
});
