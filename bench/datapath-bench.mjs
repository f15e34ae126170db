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
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab, addEndpoint, buildPair, connect } from '@weft/netlab';
import { machineInfo, percentile, table, withCpu, writeResult } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    runs: { type: 'string', default: '1' },
    'weft-args': { type: 'string', default: '' },
    'tx-on': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: pnpm bench:datapath [--duration SECONDS] [--runs N] [--tx-on] [--weft-args "--batch 128"]');
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench:datapath needs root (it builds network namespaces).');
  process.exit(1);
}
const DURATION = Number(opt.duration);
const RUNS = Number(opt.runs);

const log = (m) => process.stderr.write(`[bench] ${m}\n`);

async function iperfTcp(lab, srv, cli, ip) {
  const s = lab.spawn(srv.ns, 'iperf3 -s', 'iperf3', ['-s', '-1', '-B', ip, '--forceflush']);
  await s.waitFor(/Server listening/);
  const { stdout } = await lab.exec(cli.ns, 'iperf3', ['-c', ip, '-t', String(DURATION), '-J'], (DURATION + 30) * 1000);
  await s.exited;
  const j = JSON.parse(stdout);
  return { gbps: j.end.sum_received.bits_per_second / 1e9, retransmits: j.end.sum_sent.retransmits ?? 0 };
}

async function iperfUdp64(lab, srv, cli, ip) {
  const s = lab.spawn(srv.ns, 'iperf3 -s', 'iperf3', ['-s', '-1', '-B', ip, '--forceflush']);
  await s.waitFor(/Server listening/);
  const { stdout } = await lab.exec(cli.ns, 'iperf3', ['-c', ip, '-u', '-l', '64', '-b', '0', '-t', String(DURATION), '-J'], (DURATION + 30) * 1000);
  await s.exited;
  const sum = JSON.parse(stdout).end.sum;
  const delivered = sum.packets - sum.lost_packets;
  return { pps: delivered / sum.seconds, sentPps: sum.packets / sum.seconds, lossPct: sum.lost_percent };
}

async function idleRtt(lab, node, from, to) {
  await lab.exec(node.ns, 'ping', ['-c', '3', '-i', '0.2', '-I', from, to]); // warm up neighbours/caches
  const { stdout } = await lab.exec(node.ns, 'ping', ['-c', '25', '-i', '0.2', '-I', from, to], 30_000);
  const rtts = [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  return { medianMs: percentile(rtts, 50), p90Ms: percentile(rtts, 90), samples: rtts.length };
}

async function measure(lab, kind, a, b, ea, eb, pids) {
  log(`${kind}: idle RTT`);
  const rtt = await idleRtt(lab, a, ea.ip, eb.ip);
  log(`${kind}: TCP single stream ${DURATION}s`);
  const tcp = await withCpu(pids, () => iperfTcp(lab, b, a, eb.ip));
  log(`${kind}: UDP 64-byte ${DURATION}s`);
  const udp = await withCpu(pids, () => iperfUdp64(lab, b, a, eb.ip));
  return {
    rttMs: rtt.medianMs,
    rttP90Ms: rtt.p90Ms,
    tcpGbps: tcp.result.gbps,
    tcpRetransmits: tcp.result.retransmits,
    tcpMachineCores: tcp.machineCores,
    tcpVtepCores: tcp.procCores,
    udp64Pps: udp.result.pps,
    udp64SentPps: udp.result.sentPps,
    udpMachineCores: udp.machineCores,
  };
}

function median(rs, k) {
  return percentile(rs.map((r) => r[k]), 50);
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function setup(lab) {
  const [a, b] = await buildPair(lab);
  const extra = opt['weft-args'] ? opt['weft-args'].split(/\s+/) : [];
  const ka = await addEndpoint(lab, a, { kind: 'kernel', dev: 'kvx.2', mac: '02:ca:00:00:00:01', net: 245, index: 1, vni: 2, port: 4789, txOff: false });
  const kb = await addEndpoint(lab, b, { kind: 'kernel', dev: 'kvx.2', mac: '02:cb:00:00:00:01', net: 245, index: 2, vni: 2, port: 4789, txOff: false });
  const weft = (node, dev, mac, net, index, vni, port, mode) =>
    addEndpoint(lab, node, { kind: 'weft', dev, mac, net, index, vni, port, weftArgs: ['--offload', mode, ...extra] });
  const wa = await weft(a, 'weft.1', '02:aa:00:00:00:01', 244, 1, 1, 8472, 'off');
  const wb = await weft(b, 'weft.1', '02:bb:00:00:00:01', 244, 2, 1, 8472, 'off');
  const oa = await weft(a, 'weft.3', '02:ac:00:00:00:01', 246, 1, 3, 8473, 'on');
  const ob = await weft(b, 'weft.3', '02:bc:00:00:00:01', 246, 2, 3, 8473, 'on');
  const floor = (node, peer, mac, index) =>
    addEndpoint(lab, node, { kind: 'floor', dev: 'flr.4', mac, net: 247, index, vni: 4, port: 8474, floorPeer: peer.underlayIp });
  const fa = await floor(a, b, '02:ad:00:00:00:01', 1);
  const fb = await floor(b, a, '02:bd:00:00:00:01', 2);
  for (const [x, y] of [[ka, kb], [wa, wb], [oa, ob], [fa, fb]]) {
    await connect(lab, a, x, y, b.underlayIp);
    await connect(lab, b, y, x, a.underlayIp);
  }
  return { a, b, kernel: [ka, kb], weft: [wa, wb], offload: [oa, ob], floor: [fa, fb], extra };
}

/** One pass over every configuration; the veths' tx offload is switched as each needs. */
async function pass(lab, t, results) {
  const { a, b } = t;
  const txOffload = async (on) => {
    for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', on ? 'on' : 'off']);
  };
  const pids = (eps) => eps.map((e) => e.proc.pid);
  await txOffload(true);
  results.kernelOffload.push(await measure(lab, 'kernel (veth offloads on)', a, b, ...t.kernel, []));
  if (opt['tx-on']) results.weftOffloadTxOn.push(await measure(lab, 'weft offload (veth offloads on)', a, b, ...t.offload, pids(t.offload)));
  await txOffload(false);
  results.kernel.push(await measure(lab, 'kernel (tx off)', a, b, ...t.kernel, []));
  results.floor.push(await measure(lab, 'floor (C relay)', a, b, ...t.floor, pids(t.floor)));
  results.weft.push(await measure(lab, 'weft per-packet', a, b, ...t.weft, pids(t.weft)));
  results.weftOffload.push(await measure(lab, 'weft offload', a, b, ...t.offload, pids(t.offload)));
}

function report(m) {
  const { kernelOffload: ko, kernel: k, weft: w, weftOffload: o, weftOffloadTxOn: ot } = m;
  const targets = {
    tcp: { want: 'per-packet >= 0.10x kernel', ok: w.tcpGbps >= 0.1 * k.tcpGbps },
    udp64: { want: 'per-packet >= 0.6x kernel', ok: w.udp64Pps >= 0.6 * k.udp64Pps },
    rtt: { want: 'per-packet <= kernel + 0.4 ms', ok: w.rttMs <= k.rttMs + 0.4 },
    offloadTcp: { want: 'offload >= 0.5x kernel (stretch 0.6x)', ok: o.tcpGbps >= 0.5 * k.tcpGbps, stretch: o.tcpGbps >= 0.6 * k.tcpGbps },
    offloadRetransmits: { want: 'offload <= kernel', ok: o.tcpRetransmits <= k.tcpRetransmits },
    offloadUdp64: { want: 'offload >= per-packet', ok: o.udp64Pps >= w.udp64Pps },
    offloadRtt: { want: 'offload <= per-packet', ok: o.rttMs <= w.rttMs },
  };
  const met = (t) => (t.ok ? (t.stretch ? 'met (stretch too)' : 'met') : 'MISSED');
  const cpg = (x) => x.tcpMachineCores / x.tcpGbps;
  const rows = [
    ['metric', 'kernel (offl. on)', 'kernel (tx off) = anchor', 'weft per-packet', 'weft offload', 'offload/anchor', 'per-packet/anchor', ...(ot ? ['weft offl. (tx on)', 'vs kernel offl. on'] : [])],
    ['TCP 1 stream (Gbit/s)', f(ko.tcpGbps), f(k.tcpGbps), f(w.tcpGbps), f(o.tcpGbps), f(o.tcpGbps / k.tcpGbps, 3), f(w.tcpGbps / k.tcpGbps, 3), ...(ot ? [f(ot.tcpGbps), f(ot.tcpGbps / ko.tcpGbps, 3)] : [])],
    ['TCP retransmits', String(ko.tcpRetransmits), String(k.tcpRetransmits), String(w.tcpRetransmits), String(o.tcpRetransmits), '', '', ...(ot ? [String(ot.tcpRetransmits), ''] : [])],
    ['UDP 64 B delivered (kpps)', f(ko.udp64Pps / 1e3, 1), f(k.udp64Pps / 1e3, 1), f(w.udp64Pps / 1e3, 1), f(o.udp64Pps / 1e3, 1), f(o.udp64Pps / k.udp64Pps, 3), f(w.udp64Pps / k.udp64Pps, 3), ...(ot ? [f(ot.udp64Pps / 1e3, 1), ''] : [])],
    ['idle RTT median (ms)', f(ko.rttMs, 3), f(k.rttMs, 3), f(w.rttMs, 3), f(o.rttMs, 3), `+${f(o.rttMs - k.rttMs, 3)} ms`, `+${f(w.rttMs - k.rttMs, 3)} ms`, ...(ot ? [f(ot.rttMs, 3), ''] : [])],
    ['CPU during TCP (machine cores)', f(ko.tcpMachineCores), f(k.tcpMachineCores), f(w.tcpMachineCores), f(o.tcpMachineCores), '', '', ...(ot ? [f(ot.tcpMachineCores), ''] : [])],
    ['CPU of weft-vtep during TCP (cores)', '-', '-', f(w.tcpVtepCores), f(o.tcpVtepCores), '', '', ...(ot ? [f(ot.tcpVtepCores), ''] : [])],
    ['CPU per Gbit/s (machine cores)', f(cpg(ko), 3), f(cpg(k), 3), f(cpg(w), 3), f(cpg(o), 3), f(cpg(o) / cpg(k), 2) + 'x', f(cpg(w) / cpg(k), 2) + 'x', ...(ot ? [f(cpg(ot), 3), f(cpg(ot) / cpg(ko), 2) + 'x'] : [])],
  ];
  console.log(table(rows));
  console.log('\ntargets');
  console.log(table([['target', 'result', ''], ...Object.values(targets).map((t) => [t.want, met(t), ''])]));
  return targets;
}

async function main() {
  await Lab.sweep();
  const lab = Lab.create('bd');
  const stop = () => void lab.destroy().then(() => process.exit(130));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const loadBefore = load();
    log(`load average before: ${loadBefore}`);
    const t = await setup(lab);
    const runs = { kernelOffload: [], kernel: [], floor: [], weft: [], weftOffload: [], ...(opt['tx-on'] ? { weftOffloadTxOn: [] } : {}) };
    for (let r = 0; r < RUNS; r++) await pass(lab, t, runs);
    const loadAfter = load();
    const med = (rs) => Object.fromEntries(Object.keys(rs[0]).map((key) => [key, median(rs, key)]));
    const medians = Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, med(rs)]));
    console.log(`\nweft datapath vs kernel vxlan — ${machineInfo().cpus} cores, ${DURATION}s per test, ${RUNS} run(s), medians; load average before ${loadBefore}, after ${loadAfter}\n`);
    const targets = report(medians);
    const file = writeResult(`datapath-${new Date().toISOString().slice(11, 19).replaceAll(':', '')}`, { date: new Date().toISOString(), machine: machineInfo(), loadBefore, loadAfter, durationS: DURATION, runs, median: medians, targets, weftArgs: t.extra });
    console.log(`\nwritten ${file}`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e) => {
  console.error(`bench:datapath failed: ${e.message}`);
  process.exit(1);
});
