#!/usr/bin/env node
// Receive coalescing A/B (issue 12, item 4): weft's offload mode with the per-flow coalescer (default,
// --gro-flows 64) against the consecutive-only one it replaced (--gro-flows 0), in the same run, on the
// same two node namespaces and veth underlay (tx checksum offload off: the datapath bench's anchor
// condition, every datagram segmented and checksummed by the sender's kernel). The receiver (node b)
// is always weft; the sender (node a) is weft too, or a Linux vxlan device (a flannel node):
//   weft -> weft, per-flow:       weft.3 (VNI 3, port 8473), 10.246.0.0/16, --gro-flows 64 on both
//   weft -> weft, consecutive:    weft.7 (VNI 7, port 8477), 10.250.0.0/16, --gro-flows 0 on both
//   kernel -> weft, per-flow:     kvx.8 on a, weft.8 on b (VNI 8, port 8478), 10.251.0.0/16
//   kernel -> weft, consecutive:  kvx.9 on a, weft.9 on b (VNI 9, port 8479), 10.252.0.0/16
// iperf3 TCP from node a to node b's overlay address (the node's own address on the VXLAN device, as
// in datapath-bench: no pod veth in between), -P 4 (four interleaved flows) and -P 1 (no regression
// for one flow); passes alternate which mode goes first. Around each test the receiving
// VTEP's counters give segments per TAP write: rx_packets / (single frames + super-frames), where
// single frames = rx_packets - rx_coalesced_segments. Prints medians and writes
// bench/results/coalesce-<time>-<date>.json. Run it under `flock /tmp/weft-bench.lock`.
// First, in-process (no kernel, no namespaces): the decap routine's own CPU per segment in both modes,
// fed prepared batches (UDP GRO messages of 8 segments; 1 flow, or 4 flows interleaved message by
// message) by a replaying socket and writing to a TAP stand-in that only counts: what the flow table
// costs in userspace, apart from the kernel work that fewer TAP writes save.
import { parseArgs } from 'node:util';
import { DGRAM_OFF, DecapOffloadRoutine, PacketArena, VtepState, parseMac } from '@weft/datapath';
import { addEndpoint, buildPair, connectBoth } from '@weft/netlab';
import { inLab, iperfTcp, loadAverage as load, machineInfo, percentile, table, timeStamp, withCpu, writeResult } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    batches: { type: 'string', default: '3000' },
    'in-process-only': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: pnpm bench:coalesce [--duration SECONDS] [--runs N] [--batches N] [--in-process-only]');
  process.exit(0);
}
if (process.getuid?.() !== 0 && !opt['in-process-only']) {
  console.error('coalesce-bench needs root (it builds network namespaces).');
  process.exit(1);
}
const DURATION = Number(opt.duration);
const RUNS = Number(opt.runs);
const MODES = [
  ['perFlow', '64'],
  ['consecutive', '0'],
];
const SENDERS = ['weft', 'kernel'];
const STREAMS = [4, 1];

const log = (m) => process.stderr.write(`[coalesce] ${m}\n`);

/** The VTEP's counters, asked on its stdin (weft-vtep prints them as one JSON line). */
async function counters(proc) {
  const before = proc.stdout.length;
  proc.child.stdin.write('counters\n');
  for (let i = 0; i < 100; i++) {
    const line = proc.stdout
      .slice(before)
      .split('\n')
      .find((l) => l.startsWith('{"counters"'));
    if (line) return JSON.parse(line).counters;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('weft-vtep did not print its counters');
}

async function measure(lab, t, test) {
  const [ea, eb] = t.pairs[`${test.sender}/${test.mode}`];
  log(`${key(test)}: TCP ${DURATION}s (load ${load()})`);
  const c0 = await counters(eb.proc);
  const pids = [ea, eb].filter((e) => e.kind === 'weft').map((e) => e.proc.pid);
  const r = await withCpu(pids, () => iperfTcp(lab, t.b, t.a, eb.ip, { seconds: DURATION, streams: test.streams }));
  const c1 = await counters(eb.proc);
  const d = (k) => c1[k] - c0[k];
  const packets = d('rx_packets');
  const superFrames = d('rx_coalesced_frames');
  const writes = packets - d('rx_coalesced_segments') + superFrames;
  return {
    gbps: r.result.gbps,
    retransmits: r.result.retransmits,
    vtepCores: r.procCores,
    machineCores: r.machineCores,
    rxPackets: packets,
    tapWrites: writes,
    segmentsPerWrite: packets / writes,
    segmentsPerSuperFrame: d('rx_coalesced_segments') / superFrames,
    coalescedShare: d('rx_coalesced_segments') / packets,
    rxCsumBad: d('rx_csum_bad'),
    load: load(),
  };
}

/** RFC 1071 sum of b[from, to), folded, not inverted. */
function sum16(b, from, to, init = 0) {
  let s = init;
  for (let i = from; i < to; i += 2) s += (b[i] << 8) + (i + 1 < to ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** One VXLAN datagram: VXLAN + Ethernet + IPv4 + TCP (timestamps) + `pay` bytes, checksums right. */
function datagram(flow, k, pay) {
  const b = Buffer.alloc(8 + 14 + 20 + 32 + pay);
  b.writeUInt32BE(0x08000000, 0);
  b.writeUInt32BE(0x100, 4); // VNI 1
  const e = 8;
  Buffer.from([2, 0xbb, 0, 0, 0, 1, 2, 0xaa, 0, 0, 0, 1, 8, 0]).copy(b, e);
  const ip = e + 14;
  b.writeUInt16BE(0x4500, ip);
  b.writeUInt16BE(20 + 32 + pay, ip + 2);
  b.writeUInt16BE((k + 100 * flow) & 0xffff, ip + 4);
  b.writeUInt16BE(0x4000, ip + 6);
  b.writeUInt16BE(0x4006, ip + 8);
  b.writeUInt32BE(0x0af40102, ip + 12);
  b.writeUInt32BE(0x0af40203, ip + 16);
  b.writeUInt16BE(~sum16(b, ip, ip + 20) & 0xffff, ip + 10);
  const t = ip + 20;
  b.writeUInt16BE(40000 + flow, t);
  b.writeUInt16BE(5201, t + 2);
  b.writeUInt32BE((1000 + k * pay) >>> 0, t + 4);
  b.writeUInt32BE(777, t + 8);
  b.writeUInt16BE(0x8010, t + 12); // doff 8, ACK
  b.writeUInt16BE(512, t + 14);
  Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).copy(b, t + 20);
  for (let i = 0; i < pay; i++) b[t + 32 + i] = (i * 7 + k) & 0xff;
  const l4 = 32 + pay;
  const pseudo = sum16(Buffer.from([10, 244, 1, 2, 10, 244, 2, 3, 0, 6, l4 >> 8, l4 & 0xff]), 0, 12);
  b.writeUInt16BE(~sum16(b, t, t + l4, pseudo) & 0xffff, t + 16);
  return b;
}

/** Decap's CPU per segment, in ns, for `flows` flows interleaved by GRO message, in one mode. */
function decapNsPerSegment(groFlows, flows, batches) {
  const MSGS = 32;
  const PER_MSG = 8;
  const PAY = 1398;
  const msgs = [];
  for (let m = 0; m < MSGS; m++) {
    const flow = m % flows;
    const first = Math.floor(m / flows) * PER_MSG;
    msgs.push(Buffer.concat(Array.from({ length: PER_MSG }, (_, i) => datagram(flow, first + i, PAY))));
  }
  const seg = msgs[0].length / PER_MSG;
  const udp = {
    receive(arena, max) {
      const n = Math.min(max, MSGS);
      for (let i = 0; i < n; i++) {
        arena.u8.set(msgs[i], arena.datagramOffset(i));
        arena.len[i] = msgs[i].length;
        arena.seg[i] = seg;
        arena.addr[i] = 0xc0a84d01;
      }
      return n;
    },
  };
  const tap = { writes: 0, writeFrame: () => (tap.writes++, true), writeVectored: () => (tap.writes++, true), readFrames: () => 0 };
  const st = new VtepState({ vni: 1, ownMac: '02:bb:00:00:00:01' });
  const peer = parseMac('02:aa:00:00:00:01');
  st.fdb.setPinned(peer.hi, peer.lo, 0xc0a84d01);
  const arena = new PacketArena(MSGS, PacketArena.offloadSlotSize(), 64);
  if (DGRAM_OFF + msgs[0].length > arena.slotSize) throw new Error('message larger than a slot');
  const decap = new DecapOffloadRoutine(st, tap, udp, arena, groFlows);
  for (let i = 0; i < 200; i++) decap.run(); // warm-up: optimized code before timing
  tap.writes = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) decap.run();
  const ns = Number(process.hrtime.bigint() - t0);
  const segments = batches * MSGS * PER_MSG;
  return { nsPerSegment: ns / segments, segmentsPerWrite: segments / tap.writes };
}

/** In-process A/B: 3 alternating rounds per case, medians. */
function inProcess() {
  const out = {};
  for (const flows of [1, 4]) {
    const r = { perFlow: [], consecutive: [] };
    for (let round = 0; round < 3; round++) {
      const order = round % 2 === 0 ? MODES : [...MODES].reverse();
      for (const [mode, g] of order) r[mode].push(decapNsPerSegment(Number(g), flows, Number(opt.batches)));
    }
    for (const [mode] of MODES)
      out[`${mode}/flows${flows}`] = {
        nsPerSegment: percentile(
          r[mode].map((x) => x.nsPerSegment),
          50,
        ),
        passes: r[mode].map((x) => x.nsPerSegment),
        segmentsPerWrite: r[mode][0].segmentsPerWrite,
      };
  }
  return out;
}

async function setup(lab) {
  const [a, b] = await buildPair(lab);
  const weft = (node, dev, mac, net, index, vni, port, groFlows) =>
    addEndpoint(lab, node, { kind: 'weft', dev, mac, net, index, vni, port, weftArgs: ['--offload', 'on', '--gro-flows', groFlows] });
  const kernel = (node, dev, mac, net, index, vni, port) => addEndpoint(lab, node, { kind: 'kernel', dev, mac, net, index, vni, port });
  const pairs = {
    'weft/perFlow': [
      await weft(a, 'weft.3', '02:ac:00:00:00:01', 246, 1, 3, 8473, '64'),
      await weft(b, 'weft.3', '02:bc:00:00:00:01', 246, 2, 3, 8473, '64'),
    ],
    'weft/consecutive': [
      await weft(a, 'weft.7', '02:a7:00:00:00:01', 250, 1, 7, 8477, '0'),
      await weft(b, 'weft.7', '02:b7:00:00:00:01', 250, 2, 7, 8477, '0'),
    ],
    'kernel/perFlow': [
      await kernel(a, 'kvx.8', '02:a8:00:00:00:01', 251, 1, 8, 8478),
      await weft(b, 'weft.8', '02:b8:00:00:00:01', 251, 2, 8, 8478, '64'),
    ],
    'kernel/consecutive': [
      await kernel(a, 'kvx.9', '02:a9:00:00:00:01', 252, 1, 9, 8479),
      await weft(b, 'weft.9', '02:b9:00:00:00:01', 252, 2, 9, 8479, '0'),
    ],
  };
  for (const [x, y] of Object.values(pairs)) {
    await connectBoth(lab, a, b, x, y);
  }
  for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', 'off']);
  return { a, b, pairs };
}

const TESTS = SENDERS.flatMap((sender) => STREAMS.flatMap((streams) => MODES.map(([mode]) => ({ sender, streams, mode }))));
const key = (t) => `${t.sender}/${t.mode}/P${t.streams}`;
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function report(runs, medians) {
  const cols = TESTS.map(key);
  const rows = [['', ...cols]];
  const row = (label, k, d) => rows.push([label, ...cols.map((c) => f(medians[c][k], d))]);
  row('TCP Gbit/s (median)', 'gbps');
  rows.push(['TCP Gbit/s (passes)', ...cols.map((c) => runs[c].map((x) => f(x.gbps)).join(' / '))]);
  row('retransmits', 'retransmits', 0);
  row('segments per TAP write', 'segmentsPerWrite');
  row('segments per super-frame', 'segmentsPerSuperFrame');
  row('share of segments coalesced', 'coalescedShare');
  row('VTEP CPU (cores, both)', 'vtepCores');
  console.log(table(rows));
  for (const sender of SENDERS)
    for (const streams of STREAMS) {
      const [pf, co] = MODES.map(([mode]) => key({ sender, streams, mode }));
      const ratio = medians[pf].gbps / medians[co].gbps;
      const wins = runs[pf].filter((x, i) => x.gbps > runs[co][i].gbps).length;
      console.log(
        `${sender} -> weft, -P ${streams}: per-flow / consecutive = ${f(ratio, 3)}x (per-flow higher in ${wins} of ${RUNS} passes)`,
      );
    }
}

async function main(lab) {
  const loadBefore = load();
  log(`load average before: ${loadBefore}`);
  log('in-process: decap CPU per segment, both modes');
  const cpu = inProcess();
  console.log(`\nin-process decap (load ${load()}): ns per segment (median of 3) and segments per TAP write`);
  console.log(
    table([
      ['case', 'ns/segment', 'passes', 'segments/write'],
      ...Object.entries(cpu).map(([k, v]) => [k, f(v.nsPerSegment, 1), v.passes.map((x) => f(x, 1)).join(' / '), f(v.segmentsPerWrite, 1)]),
    ]),
  );
  if (opt['in-process-only']) {
    const name = `coalesce-inproc-${timeStamp()}`;
    console.log(
      `\nwritten ${writeResult(name, { date: new Date().toISOString(), machine: machineInfo(), loadBefore, loadAfter: load(), inProcess: cpu })}`,
    );
    return;
  }
  const t = await setup(lab);
  const runs = Object.fromEntries(TESTS.map((x) => [key(x), []]));
  for (let r = 0; r < RUNS; r++) {
    // A/B pairs back to back, the mode that goes first alternating per pass
    const tests = r % 2 === 0 ? TESTS : TESTS.map((_, i) => TESTS[i ^ 1]);
    for (const x of tests) runs[key(x)].push(await measure(lab, t, x));
  }
  const loadAfter = load();
  const med = (rs) =>
    Object.fromEntries(
      Object.keys(rs[0])
        .filter((k) => k !== 'load')
        .map((k) => [
          k,
          percentile(
            rs.map((x) => x[k]),
            50,
          ),
        ]),
    );
  const medians = Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, med(rs)]));
  console.log(
    `\nreceive coalescing A/B, weft offload, veth tx off — ${machineInfo().cpus} cores, ${DURATION}s per test, ${RUNS} alternating passes, medians; load average before ${loadBefore}, after ${loadAfter}\n`,
  );
  report(runs, medians);
  const file = writeResult(`coalesce-${timeStamp()}`, {
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadBefore,
    loadAfter,
    durationS: DURATION,
    modes: Object.fromEntries(MODES.map(([m, g]) => [m, `--gro-flows ${g}`])),
    inProcess: cpu,
    runs,
    median: medians,
  });
  console.log(`\nwritten ${file}`);
}

inLab('cb', main).catch((e) => {
  console.error(`coalesce-bench failed: ${e.message}`);
  process.exit(1);
});
