/**
 * The JIT warm-up (packages/datapath/src/jit-warmup.ts) must leave V8 with code that real traffic does not
 * throw away: a deoptimization of the hot path after ready puts a VTEP that only sees pings back in V8's
 * interpreter and baseline tiers for minutes, which cost ~40 µs per wake-up of idle RTT (datapath README,
 * "Latency"). The underlay here is 192.168.77.0/24: peer addresses above 2^31, which are not small integers
 * to V8, as in many real clusters.
 *
 * Each VTEP runs with V8's --trace-deopt-verbose and --trace-opt (set from a --require preload: NODE_OPTIONS
 * refuses the flags themselves); after ready, pings both ways must not deoptimize any function of the
 * hot-path modules, and the loop's `turn` must end optimized. And the
 * warm-up's sends to 255.255.255.255 (refused by the kernel with EACCES) must not leave the node: tcpdump on
 * every interface of the node namespace sees none while the VTEP starts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, addEndpoint, buildPair, connectBoth, type OverlayEndpoint, type PairNode } from '@weft/netlab';

/** Modules the worker's loop runs per packet. */
const HOT = [
  'vtep-loop',
  'encap',
  'encap-offload',
  'decap',
  'decap-offload',
  'gro-coalescer',
  'gro-flow-table',
  'gso-batch',
  'tcp-segmenter',
  'flow-hash',
  'fdb',
  'pair-table',
  'packet-arena',
  'vxlan-header',
  'inet-checksum',
  'linux/udp',
  'linux/tap',
];
const HOT_DEOPT = new RegExp(`deoptimize at <file://[^>]*/datapath/dist/(${HOT.join('|')})\\.js:\\d+:\\d+>`);

/** Deoptimizations of hot-path code that the VTEP's trace shows after its ready line. */
function hotDeoptsAfterReady(out: string): string[] {
  const after = out.slice(Math.max(0, out.search(/^ready /m)));
  return after.split('\n').filter((l) => HOT_DEOPT.test(l));
}

/**
 * Whether the trace leaves `VtepLoop.turn` (the loop every wake-up runs; its name is its own in the worker)
 * in V8's optimized tier: its last event is an optimization, not a deoptimization. A lazy deoptimization
 * ("code dependencies") names no source line, so the check above cannot see it; this one can, also when
 * it happened between the warm-up and ready.
 */
function loopTurnOptimized(out: string): boolean {
  // a lazy deoptimization is "marking dependent code" (naming the function's SharedFunctionInfo), and a
  // bailout line only if a frame of it was on the stack
  const turn = / <JSFunction turn \(sfi|<SharedFunctionInfo turn>/;
  const events = out.split('\n').filter((l) => turn.test(l) && /completed optimizing|bailout \(kind|marking dependent code/.test(l));
  return events.length > 0 && events.at(-1)!.includes('completed optimizing');
}

for (const offload of ['on', 'off'] as const) {
  describe(`JIT warm-up (offload ${offload})`, () => {
    const lab = Lab.create('jw');
    const dir = mkdtempSync(join(tmpdir(), 'weft-jw-'));
    const preload = join(dir, 'trace-deopt.cjs');
    writeFileSync(preload, "require('v8').setFlagsFromString('--trace-deopt-verbose --trace-opt');\n");
    let a: PairNode, b: PairNode, ea: OverlayEndpoint, eb: OverlayEndpoint;
    let broadcastSeen = '';
    beforeAll(async () => {
      [a, b] = await buildPair(lab);
      const dump = lab.spawn(a.ns, 'tcpdump', 'tcpdump', ['-l', '-nn', '-i', 'any', 'dst host 255.255.255.255']);
      await dump.waitFor(/listening on/, 15_000);
      const env = { ...process.env, NODE_OPTIONS: `--require ${preload}` };
      const weft = (node: PairNode, mac: string, index: number): Promise<OverlayEndpoint> =>
        addEndpoint(lab, node, { kind: 'weft', dev: 'weft.1', mac, net: 244, index, weftArgs: ['--offload', offload], env });
      ea = await weft(a, '02:aa:00:00:00:01', 1);
      eb = await weft(b, '02:bb:00:00:00:01', 2);
      await new Promise((r) => setTimeout(r, 500));
      await dump.stop();
      broadcastSeen = dump.stdout.trim();
      await connectBoth(lab, a, b, ea, eb);
    });
    afterAll(async () => {
      await lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the warm-up sends nothing out of the node (255.255.255.255 is refused locally)', () => {
      expect(broadcastSeen).toBe('');
    });

    it('pings both ways after ready deoptimize no hot-path code', async () => {
      await lab.exec(a.ns, 'ping', ['-c', '40', '-i', '0.05', '-W', '2', '-I', ea.ip, eb.ip], 30_000);
      await lab.exec(b.ns, 'ping', ['-c', '40', '-i', '0.05', '-W', '2', '-I', eb.ip, ea.ip], 30_000);
      expect(ea.proc!.stdout).toMatch(/^ready /m);
      expect(eb.proc!.stdout).toMatch(/^ready /m);
      expect(hotDeoptsAfterReady(ea.proc!.stdout)).toEqual([]);
      expect(hotDeoptsAfterReady(eb.proc!.stdout)).toEqual([]);
    });

    it("leaves the loop's turn optimized (no lazy deoptimization between the warm-up and ready, or after)", () => {
      expect(loopTurnOptimized(ea.proc!.stdout)).toBe(true);
      expect(loopTurnOptimized(eb.proc!.stdout)).toBe(true);
    });
  });
}
