#!/usr/bin/env node
// Turns the newest datapath/control/CNI results in bench/results/ into one report:
//   bench/results/<date>.json   everything, combined
//   bench/results/<date>.md     tables + the chart, with the machine it was measured on
//   bench/results/<date>-tcp.svg, and latest.md / latest-tcp.svg copies the README links to
// and rewrites the README's section between <!-- bench:start --> and <!-- bench:end -->.
// The chart (vega-lite rendered to SVG in Node, no browser) puts this run's weft and kernel vxlan next
// to the reference figures measured on this machine class (../shared/REFERENCE.md).
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { cpuBounds, cpuPerGbit, cpuPerPacket } from './cpu-split.mjs';
import { RESULTS_DIR, machineInfo } from './lib.mjs';

const README = join(RESULTS_DIR, '..', '..', 'README.md');

/** REFERENCE.md, "userspace datapath in Node.js — measured on this kind of machine". */
const REFERENCE_TCP = [
  ['reference: kernel vxlan', 13.4],
  ['reference: fs.read + dgram.send per frame', 0.22],
  ['reference: worker threads, FFI, mmsg', 1.5],
  ['reference: the same loop in C++', 1.46],
  ['reference: vnet_hdr TSO + UDP GSO/GRO', 6.7],
];

/**
 * The newest result of one benchmark, by the `date` it records (a fresh clone gives every file one mtime);
 * partial runs (`--only`) are left out.
 */
function newest(prefix) {
  const found = readdirSync(RESULTS_DIR)
    .filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.json'))
    .map((file) => {
      const data = JSON.parse(readFileSync(join(RESULTS_DIR, file), 'utf8'));
      return { file, data, t: Date.parse(data.date ?? '') || statSync(join(RESULTS_DIR, file)).mtimeMs };
    })
    .filter((x) => !x.data.only)
    .sort((a, b) => b.t - a.t);
  return found[0];
}

const f2 = (x, d = 2) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–');

function mdTable(rows) {
  const [head, ...body] = rows;
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

const LABELS = {
  kernelOffload: 'kernel vxlan, veth offloads on',
  kernel: 'kernel vxlan, tx offload off (anchor)',
  floor: 'floor: minimal C relay (bench/floor)',
  floorUring: 'floor, TAP I/O through io_uring',
  weft: 'weft, per-packet loop',
  weftOffload: 'weft, offloads (TSO/GSO/GRO), the default',
  weftOffloadTxOn: 'weft, offloads, veth offloads on',
};

function datapathSection(d) {
  if (!d) return { md: '_datapath benchmark not run (`pnpm bench:datapath`)._', bars: [] };
  const m = d.median;
  const cols = Object.keys(m).filter((c) => m[c]?.tcpGbps !== undefined);
  const anchor = m.kernel;
  const floor = m.floor;
  const lost = (x) =>
    x.udp64SentPps -
    x.udp64Pps -
    (x.lossSenderDevPps ?? 0) -
    (x.lossVxlanSocketPps ?? 0) -
    (x.lossReceiverDevPps ?? 0) -
    (x.lossReceiverUdpPps ?? 0);
  const rows = [
    ['metric', ...cols.map((c) => LABELS[c] ?? c)],
    ['TCP 1 stream, Gbit/s', ...cols.map((c) => f2(m[c].tcpGbps))],
    ['… vs anchor', ...cols.map((c) => `${f2(m[c].tcpGbps / anchor.tcpGbps)}×`)],
    ['TCP retransmits', ...cols.map((c) => String(m[c].tcpRetransmits ?? '–'))],
    ['machine CPU per Gbit/s (cores, other processes included)', ...cols.map((c) => f2(m[c].tcpMachineCores / m[c].tcpGbps, 3))],
    ...splitRows(m, cols),
    ['UDP 64 B sent → delivered, kpps', ...cols.map((c) => `${f2(m[c].udp64SentPps / 1e3, 0)} → ${f2(m[c].udp64Pps / 1e3, 1)}`)],
    [
      '… delivered vs anchor / vs floor',
      ...cols.map((c) => `${f2(m[c].udp64Pps / anchor.udp64Pps)}× / ${floor ? f2(m[c].udp64Pps / floor.udp64Pps) : '–'}×`),
    ],
    [
      '… lost in sender TAP queue / iperf3 socket / nowhere counted, kpps',
      ...cols.map(
        (c) =>
          `${f2((m[c].lossSenderDevPps ?? NaN) / 1e3, 0)} / ${f2((m[c].lossReceiverUdpPps ?? NaN) / 1e3, 0)} / ${f2(lost(m[c]) / 1e3, 0)}`,
      ),
    ],
    ['idle RTT median / p90, ms', ...cols.map((c) => `${f2(m[c].rttMs, 3)} / ${f2(m[c].rttP90Ms, 3)}`)],
  ];
  const targets = Object.values(d.targets ?? {})
    .map((v) => `${v.want}: ${v.got ?? ''} ${v.ok ? 'met' : '**missed**'}`)
    .join('; ');
  const e = m.entropy;
  const entropy = e
    ? ` Flow entropy (8 source ports vs 0), 4 interleaved 64 B flows: per-packet ${f2(e.perPacket8 / e.perPacket0)}×, offload ${f2(e.offload8 / e.offload0)}× the pps.`
    : '';
  const cpu = cpuSection(m, d.machine?.cpus ?? 2);
  const bars = cols.map((c) => ({
    what: `this run: ${LABELS[c] ?? c}`,
    gbps: m[c].tcpGbps,
    kind: c.startsWith('weft') ? 'weft (this run)' : c === 'floor' ? 'floor (this run)' : 'kernel (this run)',
  }));
  const load = d.loadBefore ? ` Load average before ${d.loadBefore}, after ${d.loadAfter}.` : '';
  return {
    md: `${mdTable(rows)}\n\nTargets: ${targets || 'n/a'}.${entropy} ${d.durationS}s per test, ${d.runs?.weft?.length ?? 1} run(s), medians.${load}${cpu}`,
    bars,
  };
}

/** Cores per Gbit/s of the TCP test by who spent them (bench/cpu-split.mjs), one row each. */
function splitRows(m, cols) {
  if (!cols.some((c) => m[c].tcpCpu)) return [];
  const row = (label, key) => [label, ...cols.map((c) => f2(cpuPerGbit(m[c])?.[key], 3))];
  return [
    row('… of which iperf3, both ends', 'iperf3'),
    row('… the VTEP in user space (JS / C)', 'vtepUser'),
    row('… the VTEP in the kernel (syscalls, copies, the stack run in its context)', 'vtepSystem'),
    row('… the kernel outside any process (softirq on idle CPUs, kernel threads)', 'kernelElsewhere'),
    row('… the bench in all (machine minus other processes)', 'total'),
    row('softirq + irq, all contexts (inside the rows above)', 'softirqAll'),
    ['other processes on the machine meanwhile, cores', ...cols.map((c) => f2(cpuPerGbit(m[c])?.otherCores))],
    [
      'UDP 64 B: CPU µs per delivered packet (the bench) / per frame forwarded (VTEP user, system)',
      ...cols.map((c) => {
        const p = cpuPerPacket(m[c]);
        return p ? `${f2(p.benchUsPerDelivered, 1)} / ${f2(p.vtepUserUs)}, ${f2(p.vtepSystemUs)}` : '–';
      }),
    ],
  ];
}

/** The sentences the CPU split supports: each userspace contender against the kernel, io_uring against none. */
function cpuSection(m, cpus) {
  if (!cpuPerGbit(m.kernel)) return '';
  const out = [];
  const pairs = [
    ['weftOffload', 'kernel'],
    ['weft', 'kernel'],
    ['floor', 'kernel'],
    ['floorUring', 'kernel'],
    ['weftOffloadTxOn', 'kernelOffload'],
  ];
  for (const [c, anchor] of pairs) {
    const ka = cpuPerGbit(m[anchor]);
    const b = cpuBounds(cpuPerGbit(m[c]), ka, cpus);
    if (!b) continue;
    out.push(
      `${LABELS[c]}, against ${LABELS[anchor]}: its kernel-side work (VTEP system time + kernel work outside processes) alone is ${f2(b.kernelSide, 3)} cores per Gbit/s, ${f2(b.kernelSideVsKernelTotal)}× the kernel path's whole cost (${f2(ka.total, 3)}); with its user-space time at zero it would still cost ${f2(b.withoutUserVsKernel)}× the kernel's CPU per Gbit/s, so, both CPU-bound, it could carry at most ${f2(b.ceilingVsKernel)}× the kernel's TCP.`,
    );
  }
  const [fl, fu] = [m.floor, m.floorUring];
  if (fl && fu)
    out.push(
      `io_uring for the TAP (the floor relay with \`-U\`, same run): TCP ${f2(fu.tcpGbps / fl.tcpGbps)}×, 64 B delivered ${f2(fu.udp64Pps / fl.udp64Pps)}×, idle RTT ${f2(fu.rttMs, 3)} vs ${f2(fl.rttMs, 3)} ms.`,
    );
  for (const c of Object.keys(LABELS)) {
    const p = m[c]?.tcpPerf;
    if (!p) continue;
    const cores = (pct) => f2(((pct / 100) * cpus) / m[c].tcpGbps, 3);
    const g = Object.entries(p.groups)
      .filter(([name, pct]) => pct >= 0.5 && name !== 'idle')
      .map(([name, pct]) => `${name} ${cores(pct)}`);
    out.push(
      `perf, ${LABELS[c]}, cores per Gbit/s by kernel work (perf samples of the bench's threads and of softirq on idle CPUs): ${g.join(', ')}.`,
    );
  }
  return out.length ? `\n\nWhere the CPU goes (TCP test, steady-state window):\n\n${out.map((x) => `- ${x}`).join('\n')}` : '';
}

function rttSection(r) {
  if (!r) return '_RTT benchmark not run (`pnpm bench:rtt`)._';
  const cols = (r.intervals ?? []).map(([i]) => `${i * 1000}ms`);
  const rows = [
    ['contender, condition', ...cols.map((c) => `${c} p50 / p99`)],
    ...Object.entries(r.results).map(([k, v]) => [k.replace(' | ', ', '), ...cols.map((c) => `${f2(v[c]?.p50, 3)} / ${f2(v[c]?.p99, 3)}`)]),
  ];
  let md = `${mdTable(rows)}\n\nping RTT in ms. Load average before ${r.loadBefore}, after ${r.loadAfter}.`;
  if (r.trace) {
    md +=
      `\n\nWhere a 50 ms ping's round trip goes in weft per-packet (${r.trace.echoes} echoes, medians, µs since ping sent):\n\n` +
      mdTable([
        ['stage', 'at', 'step', 'poll() returned at'],
        ...r.trace.rows.map((x) => [x.stage, f2(x.atUs, 0), f2(x.stepUs, 0), x.wakeAtUs == null ? '' : f2(x.wakeAtUs, 0)]),
      ]);
  }
  if (r.wakeup) {
    const ivs = cols.filter((c) => r.wakeup[`same CPU | ${c}`]);
    md +=
      `\n\nOne wake-up of a thread asleep in \`poll()\` on this machine (bench/floor/wakeup.c; µs, p50 / p99), the unit a userspace VTEP pays three times per round trip:\n\n` +
      mdTable([
        ['woken from', ...ivs],
        ...['same CPU', 'other CPU'].map((w) => [
          w,
          ...ivs.map((c) => `${f2(r.wakeup[`${w} | ${c}`].p50, 1)} / ${f2(r.wakeup[`${w} | ${c}`].p99, 1)}`),
        ]),
      ]);
  }
  return md;
}

function controlSection(c) {
  if (!c) return '_control benchmark not run (`node bench/control-bench.mjs`)._';
  return mdTable([
    ['measure', 'value'],
    [
      'lease written in etcd → route + neighbour + FDB on a peer, p50 / p99',
      `${f2(c.leaseToRouteMs?.p50, 1)} / ${f2(c.leaseToRouteMs?.p99, 1)} ms (n=${c.leaseToRouteMs?.n})`,
    ],
    ['1000 leases appear at once → all programmed', `${f2(c.burst1000?.ms, 0)} ms`],
    [
      'weftd start → 1000 leases synced from scratch',
      `${f2(c.syncFromScratch1000?.processStartToRoutesMs, 0)} ms (snapshot → reconciled ${c.syncFromScratch1000?.snapshotToReconciledMs} ms)`,
    ],
    [
      'weftd restart with 1000 leases programmed',
      `${f2(c.restartWith1000?.processStartToReconciledMs, 0)} ms, ${c.restartWith1000?.reconcile?.added ?? '–'} changes`,
    ],
    ['weftd RSS with 1000 peers / none', `${f2(c.rssMiBWith1000Peers, 1)} / ${f2(c.rssMiBWithNoPeers, 1)} MiB`],
    [
      '2000 route+neighbour changes: ip -batch vs one spawn each',
      `${f2(c.ipBatchVsSpawn?.batchMs, 0)} ms vs ${f2(c.ipBatchVsSpawn?.spawnMs, 0)} ms`,
    ],
  ]);
}

function cniSection(c) {
  if (!c) return '_CNI benchmark not run (`node bench/cni-bench.mjs`)._';
  const rows = [['plugin', 'ADD p50', 'ADD p95', 'DEL p50', 'DEL p95']];
  for (const [name, r] of Object.entries(c.rows))
    rows.push([name, ...[r.add.p50, r.add.p95, r.del.p50, r.del.p95].map((x) => `${f2(x, 1)} ms`)]);
  const overText = (o) => `ADD +${f2(o.add, 1)} ms, DEL +${f2(o.del, 1)} ms`;
  const parts = [
    c.shippedOverFloorMs && `as shipped (single executable) ${overText(c.shippedOverFloorMs)}`,
    c.weftOverFloorMs && `\`bin/weft\` on Node ${overText(c.weftOverFloorMs)}`,
  ].filter(Boolean);
  const over = parts.length ? ` weft over the \`node -e 0\` floor (p50): ${parts.join('; ')}.` : '';
  return `${mdTable(rows)}\n\n${c.pods} pods.${over}`;
}

async function chart(bars) {
  const values = [...bars, ...REFERENCE_TCP.map(([what, gbps]) => ({ what, gbps, kind: 'reference (REFERENCE.md)' }))];
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'TCP, one stream, through the overlay (Gbit/s)',
    width: 520,
    data: { values },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      y: { field: 'what', type: 'nominal', sort: null, title: null, axis: { labelLimit: 0 } },
      x: { field: 'gbps', type: 'quantitative', title: 'Gbit/s' },
      color: {
        field: 'kind',
        type: 'nominal',
        title: null,
        scale: { range: ['#2b6cb0', '#a0aec0', '#dd6b20', '#38a169'] },
        legend: { orient: 'bottom', labelLimit: 0 },
      },
    },
    config: { font: 'sans-serif', background: 'white' },
  }).spec;
  return new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
}

export async function writeReport() {
  const dp = newest('datapath');
  const ctl = newest('control');
  const cni = newest('cni');
  const rtt = newest('rtt');
  const day = new Date().toISOString().slice(0, 10);
  const machine = machineInfo();
  const dpSec = datapathSection(dp?.data);
  const svg = await chart(dpSec.bars);
  const svgName = `${day}-tcp.svg`;
  writeFileSync(join(RESULTS_DIR, svgName), svg);
  copyFileSync(join(RESULTS_DIR, svgName), join(RESULTS_DIR, 'latest-tcp.svg'));
  const header = `Report written ${new Date().toISOString()} on ${machine.cpus} cores (${machine.model}), Linux ${machine.kernel}, Node ${machine.node}; load average now ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} (each section notes the load of its own run).`;
  const body = [
    `### Datapath: weft vs Linux kernel vxlan (same run, same namespaces, same veth underlay)`,
    dpSec.md,
    `![TCP throughput](SVG)`,
    `### Round-trip time: every contender, idle and under a TCP stream`,
    rttSection(rtt?.data),
    `### Control plane (weftd, real etcd)`,
    controlSection(ctl?.data),
    `### CNI plugin (ADD/DEL latency, ${cni?.data?.pods ?? '–'} pods)`,
    cniSection(cni?.data),
  ].join('\n\n');
  const md = `# weft benchmark report, ${day}\n\n${header}\n\n${body.replace('(SVG)', `(${svgName})`)}\n\nSources: ${[dp, rtt, ctl, cni]
    .filter(Boolean)
    .map((x) => x.file)
    .join(', ')}\n`;
  writeFileSync(join(RESULTS_DIR, `${day}.md`), md);
  copyFileSync(join(RESULTS_DIR, `${day}.md`), join(RESULTS_DIR, 'latest.md'));
  writeFileSync(
    join(RESULTS_DIR, `${day}.json`),
    JSON.stringify(
      { date: new Date().toISOString(), machine, datapath: dp?.data, rtt: rtt?.data, control: ctl?.data, cni: cni?.data },
      null,
      2,
    ) + '\n',
  );
  if (existsSync(README)) {
    const readme = readFileSync(README, 'utf8');
    const section = `<!-- bench:start -->\n${header}\n\n${body.replace('(SVG)', '(bench/results/latest-tcp.svg)')}\n<!-- bench:end -->`;
    if (readme.includes('<!-- bench:start -->')) {
      writeFileSync(README, readme.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, section));
    }
  }
  return join(RESULTS_DIR, `${day}.md`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeReport().then(
    (f) => console.log(`report: ${f}`),
    (e) => {
      console.error(`bench report failed: ${e.message}`);
      process.exit(1);
    },
  );
}
