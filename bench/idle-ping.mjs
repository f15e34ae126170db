#!/usr/bin/env node
// node bench/idle-ping.mjs — idle ping RTT (p50 / p90, ms) through one fresh weft pair built from *this*
// checkout: two node namespaces on a veth underlay (192.168.77.0/24), weft-vtep on each, pings right after
// start-up. It prints one JSON line. To A/B two builds (as the JIT warm-up changes were,
// bench/results/warmup-ab-*.json), check both out, build both, and run this from each in turn, alternating.
//   --interval S   ping interval (default 0.01)   --count N   pings (default 300)
//   --offload M    weft-vtep --offload (default off)   --label L   copied into the output
import { parseArgs } from 'node:util';
import { addEndpoint, buildPair, connectBoth } from '@weft/netlab';
import { inLab, percentile } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    interval: { type: 'string', default: '0.01' },
    count: { type: 'string', default: '300' },
    offload: { type: 'string', default: 'off' },
    label: { type: 'string', default: '' },
  },
});
if (process.getuid?.() !== 0) {
  console.error('idle-ping needs root (it builds network namespaces).');
  process.exit(1);
}

await inLab('ip', async (lab) => {
  const [a, b] = await buildPair(lab);
  const weft = (node, mac, index) =>
    addEndpoint(lab, node, { kind: 'weft', dev: 'weft.1', mac, net: 244, index, weftArgs: ['--offload', opt.offload] });
  const x = await weft(a, '02:aa:00:00:00:01', 1);
  const y = await weft(b, '02:bb:00:00:00:01', 2);
  await connectBoth(lab, a, b, x, y);
  await lab.exec(a.ns, 'ping', ['-c', '3', '-i', '0.2', y.ip], 20_000); // neighbours and FDB in place
  const { stdout } = await lab.exec(a.ns, 'ping', ['-i', opt.interval, '-c', opt.count, y.ip], 300_000);
  const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  const p = (q) => percentile(rtts, q);
  console.log(JSON.stringify({ label: opt.label, interval: opt.interval, p50: p(50), p90: p(90), n: rtts.length }));
});
