/**
 * No silent loss: when the VTEP falls behind, the kernel's drop counters that weft exports move.
 * Two node namespaces with weft-vtep (per-packet mode) on each. Overload is made the blunt way: the
 * VTEP process is stopped (SIGSTOP, our own child) while a UDP flood is pushed at it, so the TAP queue
 * (sender side) or the socket receive buffer (receiver side) must overflow; after SIGCONT the
 * `counters` command shows tap_tx_dropped / udp_rx_drops grown, as /metrics would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, addEndpoint, buildPair, connectBoth, type LabProcess, type OverlayEndpoint, type PairNode } from '@weft/netlab';

interface Counters {
  counters: Record<string, number>;
  drops: Record<string, number>;
  kernel: Record<string, number>;
}

async function counters(p: LabProcess): Promise<Counters> {
  const before = p.stdout.length;
  p.child.stdin!.write('counters\n');
  for (let i = 0; i < 100; i++) {
    const line = p.stdout
      .slice(before)
      .split('\n')
      .find((l) => l.startsWith('{"counters"'));
    if (line) return JSON.parse(line) as Counters;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('weft-vtep did not print counters');
}

const FLOOD = (dst: string, n: number): string[] => [
  '-c',
  `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setblocking(False)\nsent=0\nfor _ in range(${n}):\n  try:\n    s.sendto(b'x'*64,('${dst}',9)); sent+=1\n  except BlockingIOError:\n    pass\nprint(sent)`,
];

describe('kernel drop counters move under overload', () => {
  const lab = Lab.create('kd');
  let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;

  beforeAll(async () => {
    [a, b] = await buildPair(lab);
    ea = await addEndpoint(lab, a, {
      kind: 'weft',
      dev: 'weft.1',
      mac: '02:aa:00:00:00:01',
      net: 244,
      index: 1,
      weftArgs: ['--offload', 'off'],
    });
    eb = await addEndpoint(lab, b, {
      kind: 'weft',
      dev: 'weft.1',
      mac: '02:bb:00:00:00:01',
      net: 244,
      index: 2,
      weftArgs: ['--offload', 'off'],
    });
    await connectBoth(lab, a, b, ea, eb);
    await lab.exec(a.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', ea.ip, eb.ip], 20_000);
  });
  afterAll(() => lab.destroy());

  it('starts at zero and reads every counter (numbers, not unknown)', async () => {
    const c = await counters(ea.proc!);
    expect(c.kernel).toEqual({ tap_tx_dropped: 0, tap_rx_dropped: 0, udp_rx_drops: 0 });
  });

  it('a stopped sender VTEP: the TAP queue overflows and tap_tx_dropped counts it', async () => {
    const before = (await counters(ea.proc!)).kernel.tap_tx_dropped!;
    process.kill(ea.proc!.child.pid!, 'SIGSTOP');
    try {
      await lab.exec(a.ns, 'python3', FLOOD(eb.ip, 20_000), 60_000);
    } finally {
      process.kill(ea.proc!.child.pid!, 'SIGCONT');
    }
    const after = await counters(ea.proc!);
    expect(after.kernel.tap_tx_dropped! - before).toBeGreaterThan(1000);
  });

  it('a stopped receiver VTEP: its socket buffer overflows and udp_rx_drops counts it', async () => {
    const before = (await counters(eb.proc!)).kernel.udp_rx_drops!;
    process.kill(eb.proc!.child.pid!, 'SIGSTOP');
    try {
      // a's VTEP runs: the flood is encapsulated and lands in b's stopped socket (4 MiB buffer)
      await lab.exec(a.ns, 'python3', FLOOD(eb.ip, 200_000), 120_000);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      process.kill(eb.proc!.child.pid!, 'SIGCONT');
    }
    const after = await counters(eb.proc!);
    expect(after.kernel.udp_rx_drops! - before).toBeGreaterThan(0);
    // the sender VTEP accounts for every frame it read: sent, or dropped with a reason (no flooding here)
    const s = await counters(ea.proc!);
    const txDrops = Object.entries(s.drops)
      .filter(([k]) => k.startsWith('tx_'))
      .reduce((x, [, v]) => x + v, 0);
    expect(s.counters.tx_packets! + txDrops).toBe(s.counters.tx_frames!);
  });
});
