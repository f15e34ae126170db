#!/usr/bin/env node
// pnpm bench:datapath — weft's userspace VTEP next to Linux kernel vxlan, in the same run, on the
// same two namespaces and the same veth underlay:
//   kernel:           vxlan device kvx.2 (VNI 2, port 4789), overlay 10.245.0.0/16
//   weft per-packet:  weft-vtep --offload off on TAP weft.1 (VNI 1, port 8472), overlay 10.244.0.0/16
//   weft offload:     weft-vtep --offload on on TAP weft.3 (VNI 3, port 8473), overlay 10.246.0.0/16
//                     (virtio_net_hdr + TSO on the TAP, UDP GSO/GRO on the socket)
// The kernel is measured twice: with the veth's offloads on (GSO super-packets cross a veth without
// ever being segmented: a shortcut no physical NIC path has) and with tx checksum offload off on the
// underlay veths (`ethtool -K u0 tx off`), which makes the kernel segment and checksum every packet
// as it would for a NIC without tunnel offloads. The second is the anchor the targets use: it is the
// condition of REFERENCE.md's 13 Gbit/s, and the one weft's interop tests need anyway. Both weft
// modes are measured in that condition too; `--tx-on` adds weft offload with the veths' offloads on,
// next to the kernel's (both then skip segmentation on the veth: GSO super-datagrams cross it whole).
// The machine may be shared: the load average before and after is printed and stored; use --runs.
// Measures iperf3 TCP single stream, 64-byte UDP delivered packets/s, idle ping RTT and CPU, prints a
// table with weft/kernel ratios and the targets, and writes bench/results/datapath-<date>.json.
import { parseArgs } from 'node:util';
import { parseUdpDrops } from '@weft/datapath';
import { addEndpoint, buildPair, connectBoth } from '@weft/netlab';
import { cpuBounds, cpuPerGbit, cpuPerPacket, cpuSplit, perfKernelWork, perfRecord } from './cpu-split.mjs';
import {
  inLab,
  iperfTcp,
  iperfUdp64,
  loadAverage as load,
  machineInfo,
  percentile,
  table,
  timeStamp,
  withCpu,
  writeResult,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    runs: { type: 'string', default: '1' },
    'weft-args': { type: 'string', default: '' },
    'tx-on': { type: 'boolean', default: true },
    only: { type: 'string', default: '' },
    perf: { type: 'boolean', default: false },
    'no-tx-on': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log(
    'usage: pnpm bench:datapath [--duration SECONDS] [--runs N] [--tx-on] [--weft-args "--batch 128"] [--only floor,floorUring,...] [--perf]',
  );
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench:datapath needs root (it builds network namespaces).');
  process.exit(1);
}
const DURATION = Number(opt.duration);
const txOn = opt['tx-on'] && !opt['no-tx-on'];
const RUNS = Number(opt.runs);
// --only: measure just these configurations (result keys, e.g. floor,floorUring); the targets need all
const ONLY = new Set(opt.only ? opt.only.split(',') : []);
const wanted = (key) => ONLY.size === 0 || ONLY.has(key);

const log = (m) => process.stderr.write(`[bench] ${m}\n`);

async function idleRtt(lab, node, from, to) {
  await lab.exec(node.ns, 'ping', ['-c', '3', '-i', '0.2', '-I', from, to]); // warm up neighbours/caches
  const { stdout } = await lab.exec(node.ns, 'ping', ['-c', '25', '-i', '0.2', '-I', from, to], 30_000);
  const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { medianMs: percentile(rtts, 50), p90Ms: percentile(rtts, 90), samples: rtts.length };
}

/** The kernel's drop counters of one endpoint's node: its device, its VXLAN socket, all UDP sockets. */
async function kernelDrops(lab, node, ep) {
  const read = async (path) => (await lab.exec(node.ns, 'cat', [path])).stdout;
  const stat = async (n) => Number(await read(`/sys/class/net/${ep.dev}/statistics/${n}`));
  const snmp = (await read('/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = snmp.map((l) => l.trim().split(/\s+/));
  return {
    devTxDropped: await stat('tx_dropped'),
    devRxDropped: await stat('rx_dropped'),
    vxlanSocketDrops: parseUdpDrops(await read('/proc/net/udp'), ep.port),
    udpRcvbufErrors: Number(values[names.indexOf('RcvbufErrors')]),
  };
}

const delta = (x, y) => Object.fromEntries(Object.keys(x).map((k) => [k, y[k] - x[k]]));

/**
 * `test` with the CPU split of its steady state, from 1.5 s after the start to 1 s before the end;
 * with --perf and `profile`, a perf profile of the same window, of the bench's threads only.
 */
async function withSplit(a, b, pids, test, profile = false) {
  const window = { labNetns: [a.ns, b.ns], vtepPids: pids, startMs: 1500, windowMs: Math.max(1000, (DURATION - 2.5) * 1000) };
  const [run, split, rec] = await Promise.all([
    withCpu(pids, test),
    cpuSplit(window),
    opt.perf && profile ? perfRecord(window) : undefined,
  ]);
  const perf = rec ? await perfKernelWork(rec, split.benchTids) : undefined;
  return { ...run, split, perf };
}

async function measure(lab, kind, a, b, ea, eb, pids) {
  log(`${kind}: idle RTT`);
  const rtt = await idleRtt(lab, a, ea.ip, eb.ip);
  log(`${kind}: TCP single stream ${DURATION}s`);
  const tcp = await withSplit(a, b, pids, () => iperfTcp(lab, b, a, eb.ip, { seconds: DURATION }), true);
  log(`${kind}: UDP 64-byte ${DURATION}s`);
  const before = [await kernelDrops(lab, a, ea), await kernelDrops(lab, b, eb)];
  const udp = await withSplit(a, b, pids, () => iperfUdp64(lab, b, a, eb.ip, { seconds: DURATION }));
  const after = [await kernelDrops(lab, a, ea), await kernelDrops(lab, b, eb)];
  const da = delta(before[0], after[0]);
  const db = delta(before[1], after[1]);
  const secs = DURATION;
  return {
    rttMs: rtt.medianMs,
    rttP90Ms: rtt.p90Ms,
    tcpGbps: tcp.result.gbps,
    tcpRetransmits: tcp.result.retransmits,
    tcpMachineCores: tcp.machineCores,
    tcpVtepCores: tcp.procCores,
    tcpCpu: tcp.split, // cores by role over the steady-state window (cpu-split.mjs)
    ...(tcp.perf ? { tcpPerf: tcp.perf } : {}),
    udp64Pps: udp.result.pps,
    udp64SentPps: udp.result.sentPps,
    udpMachineCores: udp.machineCores,
    udpCpu: udp.split,
    udp64LossPct: udp.result.lossPct,
    // where the lost packets went, per second (kernel counters read before and after the UDP test)
    lossSenderDevPps: da.devTxDropped / secs, // sender's TAP queue full (a kernel vxlan device has none)
    lossVxlanSocketPps: db.vxlanSocketDrops / secs, // receiver's VXLAN socket buffer full
    lossReceiverDevPps: db.devRxDropped / secs, // frames written to the receiver's TAP, dropped by the kernel
    lossReceiverUdpPps: (db.udpRcvbufErrors - db.vxlanSocketDrops) / secs, // the iperf3 server's socket (in b)
  };
}

/** The median of each number across runs, nested objects (the CPU splits) key by key; text from the first. */
function medianOf(rs) {
  const x = rs[0];
  if (typeof x === 'number') return percentile(rs, 50);
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return x;
  return Object.fromEntries(Object.keys(x).map((k) => [k, medianOf(rs.map((r) => r?.[k]))]));
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

async function setup(lab) {
  const [a, b] = await buildPair(lab);
  const extra = opt['weft-args'] ? opt['weft-args'].split(/\s+/) : [];
  const ka = await addEndpoint(lab, a, {
    kind: 'kernel',
    dev: 'kvx.2',
    mac: '02:ca:00:00:00:01',
    net: 245,
    index: 1,
    vni: 2,
    port: 4789,
    txOff: false,
  });
  const kb = await addEndpoint(lab, b, {
    kind: 'kernel',
    dev: 'kvx.2',
    mac: '02:cb:00:00:00:01',
    net: 245,
    index: 2,
    vni: 2,
    port: 4789,
    txOff: false,
  });
  const weft = (node, dev, mac, net, index, vni, port, mode, more = []) =>
    addEndpoint(lab, node, { kind: 'weft', dev, mac, net, index, vni, port, weftArgs: ['--offload', mode, ...more, ...extra] });
  const wa = await weft(a, 'weft.1', '02:aa:00:00:00:01', 244, 1, 1, 8472, 'off');
  const wb = await weft(b, 'weft.1', '02:bb:00:00:00:01', 244, 2, 1, 8472, 'off');
  const oa = await weft(a, 'weft.3', '02:ac:00:00:00:01', 246, 1, 3, 8473, 'on');
  const ob = await weft(b, 'weft.3', '02:bc:00:00:00:01', 246, 2, 3, 8473, 'on');
  // flow entropy off (--source-ports 0), to measure its cost with 4 interleaved flows
  const w0a = await weft(a, 'weft.5', '02:ae:00:00:00:01', 248, 1, 5, 8475, 'off', ['--source-ports', '0']);
  const w0b = await weft(b, 'weft.5', '02:be:00:00:00:01', 248, 2, 5, 8475, 'off', ['--source-ports', '0']);
  const o0a = await weft(a, 'weft.6', '02:af:00:00:00:01', 249, 1, 6, 8476, 'on', ['--source-ports', '0']);
  const o0b = await weft(b, 'weft.6', '02:bf:00:00:00:01', 249, 2, 6, 8476, 'on', ['--source-ports', '0']);
  const floor = (node, peer, mac, index, dev = 'flr.4', net = 247, vni = 4, floorArgs = []) =>
    addEndpoint(lab, node, { kind: 'floor', dev, mac, net, index, vni, port: 8470 + vni, floorPeer: peer.underlayIp, floorArgs });
  const fa = await floor(a, b, '02:ad:00:00:00:01', 1);
  const fb = await floor(b, a, '02:bd:00:00:00:01', 2);
  // the same relay reading and writing its TAP through io_uring (-U), to weigh that option
  const ua = await floor(a, b, '02:a7:00:00:00:01', 1, 'flr.7', 250, 7, ['-U']);
  const ub = await floor(b, a, '02:b7:00:00:00:01', 2, 'flr.7', 250, 7, ['-U']);
  for (const [x, y] of [
    [ka, kb],
    [wa, wb],
    [oa, ob],
    [fa, fb],
    [ua, ub],
    [w0a, w0b],
    [o0a, o0b],
  ]) {
    await connectBoth(lab, a, b, x, y);
  }
  return {
    a,
    b,
    kernel: [ka, kb],
    weft: [wa, wb],
    offload: [oa, ob],
    floor: [fa, fb],
    floorUring: [ua, ub],
    weftNoEntropy: [w0a, w0b],
    offloadNoEntropy: [o0a, o0b],
    extra,
  };
}

/** One pass over every configuration; the veths' tx offload is switched as each needs. */
async function pass(lab, t, results) {
  const { a, b } = t;
  const txOffload = async (on) => {
    for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', on ? 'on' : 'off']);
  };
  const pids = (eps) => eps.map((e) => e.proc.pid);
  const one = async (key, label, eps) => {
    if (results[key] && wanted(key)) results[key].push(await measure(lab, label, a, b, ...eps, eps[0].proc ? pids(eps) : []));
  };
  await txOffload(true);
  await one('kernelOffload', 'kernel (veth offloads on)', t.kernel);
  await one('weftOffloadTxOn', 'weft offload (veth offloads on)', t.offload);
  await txOffload(false);
  await one('kernel', 'kernel (tx off)', t.kernel);
  await one('floor', 'floor (C relay)', t.floor);
  await one('floorUring', 'floor (C relay, io_uring TAP)', t.floorUring);
  await one('weft', 'weft per-packet', t.weft);
  await one('weftOffload', 'weft offload', t.offload);
  if (!wanted('entropy')) return;
  // flow entropy's cost: 4 interleaved 64 B flows, source ports 8 (default) vs 0, same run
  const four = async (label, [x, y]) => {
    log(`${label}: UDP 64-byte, 4 flows`);
    return (await iperfUdp64(lab, b, a, y.ip, { seconds: DURATION, streams: 4 })).pps;
  };
  results.entropy.push({
    perPacket8: await four('weft per-packet, 8 source ports', t.weft),
    perPacket0: await four('weft per-packet, source ports 0', t.weftNoEntropy),
    offload8: await four('weft offload, 8 source ports', t.offload),
    offload0: await four('weft offload, source ports 0', t.offloadNoEntropy),
  });
}

const COLUMNS = [
  ['kernelOffload', 'kernel (offl. on)'],
  ['kernel', 'kernel (tx off) = anchor'],
  ['floor', 'floor (C relay)'],
  ['floorUring', 'floor, io_uring TAP'],
  ['weft', 'weft per-packet'],
  ['weftOffload', 'weft offload'],
  ['weftOffloadTxOn', 'weft offload (offl. on)'],
];

/** The targets, each from ratios measured in this run. */
export function targetsOf(m) {
  const { kernelOffload: ko, kernel: k, floor: fl, weft: w, weftOffload: o, weftOffloadTxOn: ot } = m;
  if (!k || !fl || !w || !o) return {}; // a partial run (--only)
  // the bench's own CPU (machine minus other people's processes) when the split has it
  const cpg = (x) => cpuPerGbit(x)?.total ?? x.tcpMachineCores / x.tcpGbps;
  const best = (a, b) => (b && b.udp64Pps > a.udp64Pps ? b : a);
  const pps = best(w, o);
  const rtt = Math.min(w.rttMs, o.rttMs);
  const t = {
    rttFloor: { want: 'idle RTT <= floor + 20%', got: `${f(rtt, 3)} vs ${f(fl.rttMs * 1.2, 3)} ms`, ok: rtt <= fl.rttMs * 1.2 },
    rttKernel: { want: 'idle RTT <= kernel + 0.1 ms', got: `+${f(rtt - k.rttMs, 3)} ms`, ok: rtt <= k.rttMs + 0.1 },
    ppsFloor: { want: '64 B pps >= 0.9x floor', got: `${f(pps.udp64Pps / fl.udp64Pps)}x`, ok: pps.udp64Pps >= 0.9 * fl.udp64Pps },
    ppsKernel: { want: '64 B pps >= 0.8x kernel', got: `${f(pps.udp64Pps / k.udp64Pps)}x`, ok: pps.udp64Pps >= 0.8 * k.udp64Pps },
    tcpTxOff: { want: 'TCP >= 0.9x kernel (tx off)', got: `${f(o.tcpGbps / k.tcpGbps)}x`, ok: o.tcpGbps >= 0.9 * k.tcpGbps },
    cpuPerGbit: { want: 'CPU/Gbit <= 1.5x kernel (tx off)', got: `${f(cpg(o) / cpg(k))}x`, ok: cpg(o) <= 1.5 * cpg(k) },
  };
  if (ot)
    t.tcpOffloadsOn = {
      want: 'TCP >= 0.6x kernel (offloads on)',
      got: `${f(ot.tcpGbps / ko.tcpGbps)}x`,
      ok: ot.tcpGbps >= 0.6 * ko.tcpGbps,
    };
  return t;
}

/** The TCP test's CPU split, cores per Gbit/s by who spent them (cpu-split.mjs). */
function cpuRows(row) {
  const r = (label, key, d = 3) => row(label, (x) => f(cpuPerGbit(x)?.[key], d));
  return [
    r('  split: iperf3, both ends', 'iperf3'),
    r('  split: VTEP user (JS / C)', 'vtepUser'),
    r('  split: VTEP system', 'vtepSystem'),
    r('  split: kernel outside processes', 'kernelElsewhere'),
    r('  split: bench total', 'total'),
    r('  softirq+irq, all contexts', 'softirqAll'),
    r('other processes (cores)', 'otherCores'),
    r('VTEP busiest thread (cores)', 'hotThreadCores'),
  ];
}

/** The bounds the CPU split sets on each userspace contender against the kernel (tx off). */
function boundsReport(m) {
  for (const [key] of COLUMNS) {
    const p = m[key]?.tcpPerf;
    if (!p) continue;
    const g = Object.entries(p.groups).map(([name, pct]) => `${name} ${f(pct, 1)}%`);
    console.log(`perf during ${key}'s TCP (the bench's threads, % of all samples): ${g.join(', ')}\n  top: ${p.top.join(', ')}`);
  }
  const k = cpuPerGbit(m.kernel);
  if (!k) return;
  for (const [key, anchor] of [
    ['floor', k],
    ['floorUring', k],
    ['weft', k],
    ['weftOffload', k],
    ['weftOffloadTxOn', cpuPerGbit(m.kernelOffload)],
  ]) {
    const b = cpuBounds(cpuPerGbit(m[key]), anchor, machineInfo().cpus);
    if (!b) continue;
    console.log(
      `${key}: kernel-side work ${f(b.kernelSide, 3)} cores/Gbit = ${f(b.kernelSideVsKernelTotal)}x kernel vxlan's total; with zero user time: ${f(b.withoutUserVsKernel)}x its CPU/Gbit, at most ${f(b.gbpsCeilingWithoutUser)} Gbit/s on all cores (${f(b.ceilingVsKernel)}x the kernel's TCP, both CPU-bound)`,
    );
  }
}

function report(m) {
  const cols = COLUMNS.filter(([key]) => m[key]);
  const row = (label, fn) => [label, ...cols.map(([key]) => fn(m[key]))];
  const cpg = (x) => x.tcpMachineCores / x.tcpGbps;
  const rows = [
    ['metric', ...cols.map(([, label]) => label)],
    row('TCP 1 stream (Gbit/s)', (x) => f(x.tcpGbps)),
    row('TCP vs anchor', (x) => f(x.tcpGbps / m.kernel?.tcpGbps, 3)),
    row('TCP retransmits', (x) => String(x.tcpRetransmits)),
    row('CPU during TCP (machine cores)', (x) => f(x.tcpMachineCores)),
    row('CPU per Gbit/s (machine cores)', (x) => f(cpg(x), 3)),
    ...cpuRows(row),
    row('UDP 64 B sent (kpps)', (x) => f(x.udp64SentPps / 1e3, 1)),
    row('UDP 64 B delivered (kpps)', (x) => f(x.udp64Pps / 1e3, 1)),
    row('delivered vs anchor', (x) => f(x.udp64Pps / m.kernel?.udp64Pps, 3)),
    row('UDP: bench CPU us per delivered packet', (x) => f(cpuPerPacket(x)?.benchUsPerDelivered)),
    row('UDP: VTEP user / system us per frame', (x) =>
      x.udpCpu ? `${f(cpuPerPacket(x)?.vtepUserUs)} / ${f(cpuPerPacket(x)?.vtepSystemUs)}` : '-',
    ),
    row('UDP: VTEP cores / busiest thread', (x) =>
      x.udpCpu ? `${f(x.udpCpu.vtep.user + x.udpCpu.vtep.system)} / ${f(x.udpCpu.vtepHotThread.cores)}` : '-',
    ),
    row('delivered vs floor', (x) => (m.floor ? f(x.udp64Pps / m.floor.udp64Pps, 3) : '-')),
    row('lost: sender TAP queue (kpps)', (x) => f(x.lossSenderDevPps / 1e3, 1)),
    row('lost: receiver VXLAN socket (kpps)', (x) => f(x.lossVxlanSocketPps / 1e3, 1)),
    row('lost: receiver TAP (kpps)', (x) => f(x.lossReceiverDevPps / 1e3, 1)),
    row('lost: iperf3 server socket (kpps)', (x) => f(x.lossReceiverUdpPps / 1e3, 1)),
    row('lost: not in a kernel counter (kpps)', (x) =>
      f((x.udp64SentPps - x.udp64Pps - x.lossSenderDevPps - x.lossVxlanSocketPps - x.lossReceiverDevPps - x.lossReceiverUdpPps) / 1e3, 1),
    ),
    row('idle RTT median (ms)', (x) => f(x.rttMs, 3)),
    row('idle RTT p90 (ms)', (x) => f(x.rttP90Ms, 3)),
  ];
  console.log(table(rows));
  boundsReport(m);
  const e = m.entropy;
  if (e) {
    console.log(
      `\nflow entropy, 4 interleaved 64 B flows, delivered kpps: per-packet ${f(e.perPacket8 / 1e3, 1)} with 8 source ports vs ${f(e.perPacket0 / 1e3, 1)} with 0 (${f(e.perPacket8 / e.perPacket0, 3)}x); offload ${f(e.offload8 / 1e3, 1)} vs ${f(e.offload0 / 1e3, 1)} (${f(e.offload8 / e.offload0, 3)}x)`,
    );
  }
  const targets = targetsOf(m);
  console.log('\ntargets (weft offload unless noted; pps and RTT: the better weft mode)');
  console.log(table([['target', 'measured', 'result'], ...Object.values(targets).map((t) => [t.want, t.got, t.ok ? 'met' : 'MISSED'])]));
  return targets;
}

async function main(lab) {
  const loadBefore = load();
  log(`load average before: ${loadBefore}`);
  const t = await setup(lab);
  const runs = {
    kernelOffload: [],
    kernel: [],
    floor: [],
    floorUring: [],
    weft: [],
    weftOffload: [],
    entropy: [],
    ...(txOn ? { weftOffloadTxOn: [] } : {}),
  };
  for (let r = 0; r < RUNS; r++) await pass(lab, t, runs);
  const loadAfter = load();
  const medians = Object.fromEntries(
    Object.entries(runs)
      .filter(([, rs]) => rs.length > 0)
      .map(([k, rs]) => [k, medianOf(rs)]),
  );
  console.log(
    `\nweft datapath vs kernel vxlan — ${machineInfo().cpus} cores, ${DURATION}s per test, ${RUNS} run(s), medians; load average before ${loadBefore}, after ${loadAfter}\n`,
  );
  const targets = report(medians);
  const file = writeResult(`datapath-${timeStamp()}`, {
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadBefore,
    loadAfter,
    durationS: DURATION,
    runs,
    median: medians,
    targets,
    weftArgs: t.extra,
    ...(ONLY.size ? { only: [...ONLY] } : {}),
  });
  console.log(`\nwritten ${file}`);
}

inLab('bd', main).catch((e) => {
  console.error(`bench:datapath failed: ${e.message}`);
  process.exit(1);
});
