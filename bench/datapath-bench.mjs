#!/usr/bin/env node
// pnpm bench:datapath — weft's userspace VTEP next to Linux kernel vxlan, in the same run, on the
// same two namespaces and the same veth underlay:
//   kernel: vxlan device kvx.2 (VNI 2, port 4789), overlay 10.245.0.0/16
//   weft:   weft-vtep on TAP weft.1 (VNI 1, port 8472), overlay 10.244.0.0/16
// The kernel is measured twice: with the veth's offloads on (GSO super-packets cross a veth without
// ever being segmented: a shortcut no physical NIC path has) and with tx checksum offload off on the
// underlay veths (`ethtool -K u0 tx off`), which makes the kernel segment and checksum every packet
// as it would for a NIC without tunnel offloads. The second is the anchor the targets use: it is the
// condition of REFERENCE.md's 13 Gbit/s, and the one weft's interop tests need anyway.
// Measures iperf3 TCP single stream, 64-byte UDP delivered packets/s, idle ping RTT and CPU, prints a
// table with weft/kernel ratios and the targets, and writes bench/results/datapath-<date>.json.
import { parseArgs } from 'node:util';
import { Lab, addEndpoint, buildPair, connect } from '@weft/netlab';
import { machineInfo, percentile, table, withCpu, writeResult } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    runs: { type: 'string', default: '1' },
    'weft-args': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: pnpm bench:datapath [--duration SECONDS] [--runs N] [--weft-args "--batch 128"]');
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

async function main() {
  await Lab.sweep();
  const lab = Lab.create('bd');
  const stop = () => void lab.destroy().then(() => process.exit(130));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const [a, b] = await buildPair(lab);
    const weftArgs = opt['weft-args'] ? opt['weft-args'].split(/\s+/) : [];
    const ka = await addEndpoint(lab, a, { kind: 'kernel', dev: 'kvx.2', mac: '02:ca:00:00:00:01', net: 245, index: 1, vni: 2, port: 4789, txOff: false });
    const kb = await addEndpoint(lab, b, { kind: 'kernel', dev: 'kvx.2', mac: '02:cb:00:00:00:01', net: 245, index: 2, vni: 2, port: 4789, txOff: false });
    const wa = await addEndpoint(lab, a, { kind: 'weft', dev: 'weft.1', mac: '02:aa:00:00:00:01', net: 244, index: 1, weftArgs });
    const wb = await addEndpoint(lab, b, { kind: 'weft', dev: 'weft.1', mac: '02:bb:00:00:00:01', net: 244, index: 2, weftArgs });
    await connect(lab, a, ka, kb, b.underlayIp);
    await connect(lab, b, kb, ka, a.underlayIp);
    await connect(lab, a, wa, wb, b.underlayIp);
    await connect(lab, b, wb, wa, a.underlayIp);
    const weftPids = [wa.proc.pid, wb.proc.pid];
    const txOffload = async (on) => {
      for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', on ? 'on' : 'off']);
    };
    const runs = { kernelOffload: [], kernel: [], weft: [] };
    for (let r = 0; r < RUNS; r++) {
      await txOffload(true);
      runs.kernelOffload.push(await measure(lab, 'kernel (veth offloads on)', a, b, ka, kb, []));
      await txOffload(false);
      runs.kernel.push(await measure(lab, 'kernel (tx off)', a, b, ka, kb, []));
      runs.weft.push(await measure(lab, 'weft', a, b, wa, wb, weftPids));
    }
    const med = (rs) => Object.fromEntries(Object.keys(rs[0]).map((key) => [key, median(rs, key)]));
    const ko = med(runs.kernelOffload);
    const k = med(runs.kernel);
    const w = med(runs.weft);
    const targets = {
      tcp: { want: '>= 0.10x kernel', ok: w.tcpGbps >= 0.1 * k.tcpGbps },
      udp64: { want: '>= 0.6x kernel', ok: w.udp64Pps >= 0.6 * k.udp64Pps },
      rtt: { want: '<= kernel + 0.4 ms', ok: w.rttMs <= k.rttMs + 0.4 },
    };
    const f = (x, d = 2) => x.toFixed(d);
    console.log(`\nweft datapath vs kernel vxlan — ${machineInfo().cpus} cores, ${DURATION}s per test, ${RUNS} run(s), medians\n`);
    console.log(table([
      ['metric', 'kernel (offloads on)', 'kernel (tx off) = anchor', 'weft', 'weft/anchor', 'weft/kernel-offl.', 'target', ''],
      ['TCP 1 stream (Gbit/s)', f(ko.tcpGbps), f(k.tcpGbps), f(w.tcpGbps), f(w.tcpGbps / k.tcpGbps, 3), f(w.tcpGbps / ko.tcpGbps, 3), targets.tcp.want, targets.tcp.ok ? 'met' : 'MISSED'],
      ['TCP retransmits', String(ko.tcpRetransmits), String(k.tcpRetransmits), String(w.tcpRetransmits), '', '', '', ''],
      ['UDP 64 B delivered (kpps)', f(ko.udp64Pps / 1e3, 1), f(k.udp64Pps / 1e3, 1), f(w.udp64Pps / 1e3, 1), f(w.udp64Pps / k.udp64Pps, 3), f(w.udp64Pps / ko.udp64Pps, 3), targets.udp64.want, targets.udp64.ok ? 'met' : 'MISSED'],
      ['idle RTT median (ms)', f(ko.rttMs, 3), f(k.rttMs, 3), f(w.rttMs, 3), `+${f(w.rttMs - k.rttMs, 3)} ms`, '', targets.rtt.want, targets.rtt.ok ? 'met' : 'MISSED'],
      ['CPU during TCP (machine cores)', f(ko.tcpMachineCores), f(k.tcpMachineCores), f(w.tcpMachineCores), '', '', '', ''],
      ['CPU of weft-vtep during TCP (cores)', '-', '-', f(w.tcpVtepCores), '', '', '', ''],
      ['CPU per Gbit/s (machine cores)', f(ko.tcpMachineCores / ko.tcpGbps, 3), f(k.tcpMachineCores / k.tcpGbps, 3), f(w.tcpMachineCores / w.tcpGbps, 3), '', '', '', ''],
    ]));
    const file = writeResult('datapath', { date: new Date().toISOString(), machine: machineInfo(), durationS: DURATION, runs, median: { kernelOffload: ko, kernel: k, weft: w }, targets, weftArgs });
    console.log(`\nwritten ${file}`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e) => {
  console.error(`bench:datapath failed: ${e.message}`);
  process.exit(1);
});
