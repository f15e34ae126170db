#!/usr/bin/env node
// pnpm bench:buffers — issue 12's "bigger forced socket buffers" and the TAP queue, weighed by measurement.
//
// Same two namespaces and veth underlay as bench:datapath (underlay tx offload off: the anchor's condition).
// weft in its default mode (offloads on) runs side by side in several variants that differ in one knob:
// the UDP sockets' forced SO_SNDBUF/SO_RCVBUF (`--socket-buffer`, default 4 MiB) or the TAP's txqueuelen
// (`--tap-queue`, default 1000). Each pass measures every variant in turn (TCP single stream, then 64 B UDP
// with the kernel's drop counters read around it: the sender TAP's tx_dropped, the receiving VXLAN
// socket's drops); passes alternate so drift of the shared machine spreads evenly. Medians per variant and
// the ratio to the default in the same run. Writes bench/results/buffers-<time>-<date>.json.
import { parseArgs } from 'node:util';
import { parseUdpDrops } from '@weft/datapath';
import { addEndpoint, buildPair, connectBoth } from '@weft/netlab';
import { inLab, iperfTcp, iperfUdp64, loadAverage as load, machineInfo, percentile, table, timeStamp, writeResult } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    passes: { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: pnpm bench:buffers [--duration SECONDS] [--passes N]');
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench:buffers needs root (it builds network namespaces).');
  process.exit(1);
}
const DURATION = Number(opt.duration);
const PASSES = Number(opt.passes);
const log = (m) => process.stderr.write(`[buffers] ${m}\n`);
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

const MiB = 1024 * 1024;
const VARIANTS = [
  { name: 'default (4 MiB, queue 1000)', args: [] },
  { name: 'socket buffer 1 MiB', args: ['--socket-buffer', String(1 * MiB)] },
  { name: 'socket buffer 16 MiB', args: ['--socket-buffer', String(16 * MiB)] },
  { name: 'TAP queue 256', args: ['--tap-queue', '256'] },
  { name: 'TAP queue 4096', args: ['--tap-queue', '4096'] },
];

async function counters(lab, node, ep) {
  const read = async (path) => (await lab.exec(node.ns, 'cat', [path])).stdout;
  return {
    tapTxDropped: Number(await read(`/sys/class/net/${ep.dev}/statistics/tx_dropped`)),
    socketDrops: parseUdpDrops(await read('/proc/net/udp'), ep.port),
  };
}

async function measure(lab, a, b, [x, y]) {
  const tcp = await iperfTcp(lab, b, a, y.ip, { seconds: DURATION });
  const before = [await counters(lab, a, x), await counters(lab, b, y)];
  const udp = await iperfUdp64(lab, b, a, y.ip, { seconds: DURATION });
  const after = [await counters(lab, a, x), await counters(lab, b, y)];
  return {
    tcpGbps: tcp.gbps,
    tcpRetransmits: tcp.retransmits,
    udp64Pps: udp.pps,
    udp64SentPps: udp.sentPps,
    lossSenderTapPps: (after[0].tapTxDropped - before[0].tapTxDropped) / DURATION,
    lossVxlanSocketPps: (after[1].socketDrops - before[1].socketDrops) / DURATION,
  };
}

async function main(lab) {
  const loadBefore = load();
  log(`load average before: ${loadBefore}`);
  const [a, b] = await buildPair(lab);
  for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', 'off']);
  const pairs = [];
  for (const [i, v] of VARIANTS.entries()) {
    const spec = (mac) => ({
      kind: 'weft',
      dev: `weft.${i + 1}`,
      mac,
      net: 244 + i,
      vni: i + 1,
      port: 8472 + i,
      weftArgs: ['--offload', 'on', ...v.args],
    });
    const x = await addEndpoint(lab, a, { ...spec(`02:aa:00:00:00:0${i + 1}`), index: 1 });
    const y = await addEndpoint(lab, b, { ...spec(`02:bb:00:00:00:0${i + 1}`), index: 2 });
    await connectBoth(lab, a, b, x, y);
    pairs.push([x, y]);
  }
  const runs = VARIANTS.map(() => []);
  for (let pass = 0; pass < PASSES; pass++) {
    const order = VARIANTS.map((_, i) => i);
    if (pass % 2 === 1) order.reverse();
    for (const i of order) {
      log(`pass ${pass + 1}/${PASSES}: ${VARIANTS[i].name} (load ${load()})`);
      runs[i].push(await measure(lab, a, b, pairs[i]));
    }
  }
  const med = (i, k) =>
    percentile(
      runs[i].map((r) => r[k]),
      50,
    );
  const results = VARIANTS.map((v, i) => ({
    variant: v.name,
    args: v.args,
    runs: runs[i],
    median: Object.fromEntries(Object.keys(runs[i][0]).map((k) => [k, med(i, k)])),
  }));
  const loadAfter = load();
  const d = results[0].median;
  console.log(`\nweft offload, underlay tx off, ${PASSES} alternating passes, medians; load before ${loadBefore}, after ${loadAfter}\n`);
  console.log(
    table([
      ['variant', 'TCP Gbit/s', 'vs default', '64 B delivered kpps', 'vs default', 'lost: sender TAP / VXLAN socket, kpps'],
      ...results.map(({ variant, median: m }) => [
        variant,
        f(m.tcpGbps),
        `${f(m.tcpGbps / d.tcpGbps)}×`,
        f(m.udp64Pps / 1e3, 1),
        `${f(m.udp64Pps / d.udp64Pps)}×`,
        `${f(m.lossSenderTapPps / 1e3, 0)} / ${f(m.lossVxlanSocketPps / 1e3, 0)}`,
      ]),
    ]),
  );
  const file = writeResult(`buffers-${timeStamp()}`, {
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadBefore,
    loadAfter,
    durationS: DURATION,
    passes: PASSES,
    results,
  });
  console.log(`\nwritten ${file}`);
}

inLab('bf', main).catch((e) => {
  console.error(`bench:buffers failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
