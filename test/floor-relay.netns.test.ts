/**
 * bench/floor's C relay, the datapath benchmark's floor, in both of its I/O modes: plain read/write on
 * the TAP, and io_uring (-U: reads kept in flight, writes submitted in batches). Each must carry pings
 * and a burst of 64-byte datagrams between two namespaces, and stop on SIGTERM with its totals; in
 * -U mode the totals show the frames went through io_uring_enter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, addEndpoint, buildPair, connectBoth, type OverlayEndpoint, type PairNode } from '@weft/netlab';

/** 500 UDP datagrams of 64 bytes from `src` to `dst`:9, as fast as python sends them. */
const BURST = (src: string, dst: string): string[] => [
  '-c',
  `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${src}',0))\nfor _ in range(500): s.sendto(b'x'*64,('${dst}',9))`,
];

for (const mode of ['read/write', 'io_uring'] as const) {
  describe(`floor relay, TAP ${mode}`, () => {
    const lab = Lab.create('fr');
    let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;
    const floorArgs = mode === 'io_uring' ? ['-U'] : [];
    beforeAll(async () => {
      [a, b] = await buildPair(lab);
      const floor = (node: PairNode, peer: PairNode, mac: string, index: number) =>
        addEndpoint(lab, node, {
          kind: 'floor',
          dev: 'flr.4',
          mac,
          net: 247,
          index,
          vni: 4,
          port: 8474,
          floorPeer: peer.underlayIp,
          floorArgs,
        });
      ea = await floor(a, b, '02:ad:00:00:00:01', 1);
      eb = await floor(b, a, '02:bd:00:00:00:01', 2);
      await connectBoth(lab, a, b, ea, eb);
    });
    afterAll(() => lab.destroy());

    it('carries pings both ways', async () => {
      const { stdout } = await lab.exec(a.ns, 'ping', ['-c', '20', '-i', '0.05', '-W', '2', '-I', ea.ip, eb.ip], 30_000);
      expect(stdout).toMatch(/20 received/);
    });

    it('relays a burst of 64-byte datagrams and reports its totals on SIGTERM', async () => {
      const count = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${eb.ip}',9))\ns.settimeout(2)\nn=0\ntry:\n  while True: s.recv(100); n+=1\nexcept socket.timeout: print(n)`;
      const receiver = lab.exec(b.ns, 'python3', ['-c', count], 30_000);
      await new Promise((r) => setTimeout(r, 300));
      await lab.exec(a.ns, 'python3', BURST(ea.ip, eb.ip), 30_000);
      const got = Number((await receiver).stdout.trim());
      expect(got).toBeGreaterThan(0); // loss is the sender TAP queue's to count, not a failure here
      await ea.proc!.stop();
      const totals = /tx (\d+) rx (\d+) rx_bad (\d+) tx_drop \d+ rx_drop \d+ io_uring_enter (\d+)/.exec(ea.proc!.stderr);
      expect(totals).not.toBeNull();
      expect(Number(totals![1])).toBeGreaterThanOrEqual(got);
      expect(Number(totals![3])).toBe(0);
      if (mode === 'io_uring') expect(Number(totals![4])).toBeGreaterThan(0);
      else expect(Number(totals![4])).toBe(0);
    });
  });
}
