#!/usr/bin/env node
// pnpm bench:rtt — where a ping's round trip goes, and RTT percentiles of every contender.
//
// Same two namespaces and veth underlay as bench:datapath (underlay tx offload off, the anchor's
// condition), contenders side by side: kernel vxlan, the C floor relay (bench/floor), weft per-packet,
// the same loop in JavaScript (bench/floor/relay.mjs), weft offload, weft per-packet without its JIT
// warm-up, and a weft per-packet pair run with WEFT_RTT_TRACE (its ports stamp ICMP echoes; see
// packages/datapath/src/rtt-trace.ts). For each contender: ping RTT p50/p99 at 10 ms, 50 ms and 1 s
// intervals, idle and with an iperf3 TCP stream running across the same overlay. Then the traced pair's
// breakdown: per stage, the median time since ping sent the echo, and the wake-up share. Last, this
// machine's price of one wake-up (bench/floor/wakeup.c: a thread asleep in poll() on an eventfd, woken
// from the same CPU and from the other one, at the same three intervals) — the unit the trace counts.
// Writes bench/results/rtt-<time>-<date>.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addEndpoint, buildPair, connectBoth } from '@weft/netlab';
import { inLab, loadAverage as load, machineInfo, percentile, table, timeStamp, writeResult } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    warm: { type: 'boolean', default: false },
    'weft-args': { type: 'string', default: '' },
    only: { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (opt.help) {
  console.log('usage: pnpm bench:rtt [--quick] [--only kernel,floor,floorjs,weft,cold,offload,traced] [--weft-args "..."]');
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error('bench:rtt needs root (it builds network namespaces).');
  process.exit(1);
}
const log = (m) => process.stderr.write(`[rtt] ${m}\n`);
const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');
// interval (s) -> pings; --quick for a smoke run
const INTERVALS = opt.quick
  ? [
      [0.01, 100],
      [0.05, 40],
      [1, 5],
    ]
  : [
      [0.01, 500],
      [0.05, 200],
      [1, 30],
    ];

async function ping(lab, node, from, to, interval, count) {
  const { stdout } = await lab.exec(
    node.ns,
    'ping',
    ['-c', String(count), '-i', String(interval), '-I', from, to],
    (count * interval + 30) * 1000,
  );
  return [...stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function rttSet(lab, a, b, x, y, loaded) {
  const out = {};
  let srv, cli;
  if (loaded) {
    srv = lab.spawn(b.ns, 'iperf3 -s', 'iperf3', ['-s', '-B', y.ip, '--forceflush']);
    await srv.waitFor(/Server listening/);
    cli = lab.spawn(a.ns, 'iperf3 -c', 'iperf3', ['-c', y.ip, '-t', '600']);
    await new Promise((r) => setTimeout(r, 1500));
  }
  try {
    await ping(lab, a, x.ip, y.ip, 0.2, 3);
    if (opt.warm) await lab.exec(a.ns, 'ping', ['-q', '-f', '-c', '20000', '-I', x.ip, y.ip], 60_000);
    for (const [interval, count] of INTERVALS) {
      const rtts = await ping(lab, a, x.ip, y.ip, interval, count);
      out[`${interval * 1000}ms`] = { p50: percentile(rtts, 50), p99: percentile(rtts, 99), n: rtts.length };
    }
  } finally {
    await cli?.stop();
    await srv?.stop();
  }
  return out;
}

const WAKEUP = join(dirname(fileURLToPath(import.meta.url)), 'floor', 'wakeup');

/** p50/p90/p99 µs of one wake-up per interval, sleeper and waker on one CPU and on two (needs 2 CPUs). */
function wakeups() {
  if (!existsSync(WAKEUP)) {
    log(`${WAKEUP} missing (make -C bench/floor): wake-up cost not measured`);
    return undefined;
  }
  const out = {};
  for (const [interval, count] of INTERVALS) {
    for (const [name, cpus] of [
      ['same CPU', ['0', '0']],
      ['other CPU', ['1', '0']],
    ]) {
      const line = execFileSync(WAKEUP, [String(Math.round(interval * 1e6)), String(count), ...cpus], {
        timeout: (count * interval + 30) * 1000,
      }).toString();
      const [p50, p90, p99] = line.trim().split(/\s+/).map(Number);
      out[`${name} | ${interval * 1000}ms`] = { p50, p90, p99, n: count };
    }
  }
  return out;
}

const STAGES = [
  ['8', 'tap_read', 'A: request read from TAP'],
  ['8', 'udp_sent', 'A: request sent (sendmmsg returned)'],
  ['8', 'udp_recv', 'B: request received (recvmmsg returned)'],
  ['8', 'tap_written', 'B: request written to TAP'],
  ['0', 'tap_read', 'B: reply read from TAP'],
  ['0', 'udp_sent', 'B: reply sent'],
  ['0', 'udp_recv', 'A: reply received'],
  ['0', 'tap_written', 'A: reply written to TAP'],
];

/** Joins the traced records per echo and takes medians per stage (µs since ping sent the echo). */
function breakdown(file, rtts) {
  const recs = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const bySeq = new Map();
  for (const r of recs) {
    const k = `${r.id}/${r.seq}`;
    if (!bySeq.has(k)) bySeq.set(k, {});
    bySeq.get(k)[`${r.type}/${r.stage}`] = r;
  }
  const complete = [...bySeq.values()].filter((e) => STAGES.every(([t, s]) => e[`${t}/${s}`]));
  const rows = [];
  let prev = 0;
  for (const [t, s, label] of STAGES) {
    const at = percentile(
      complete.map((e) => e[`${t}/${s}`].us),
      50,
    );
    const wakes = complete.map((e) => e[`${t}/${s}`].wake).filter((w) => w !== null && w !== undefined);
    const wake = wakes.length ? percentile(wakes, 50) : null;
    rows.push({ stage: label, atUs: at, stepUs: at - prev, wakeAtUs: wake, sleptShare: wakes.length / Math.max(1, complete.length) });
    prev = at;
  }
  const rttUs = percentile(rtts, 50) * 1000;
  rows.push({ stage: 'ping receives the reply (its RTT)', atUs: rttUs, stepUs: rttUs - prev, wakeAtUs: null, sleptShare: null });
  return { echoes: complete.length, rows };
}

async function main(lab) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-rtt-'));
  const traceFile = join(dir, 'trace.jsonl');
  try {
    const loadBefore = load();
    log(`load average before: ${loadBefore}`);
    const [a, b] = await buildPair(lab);
    for (const n of [a, b]) await lab.exec(n.ns, 'ethtool', ['-K', 'u0', 'tx', 'off']);
    const extra = opt['weft-args'] ? opt['weft-args'].split(/\s+/) : [];
    const ep = (node, o) => addEndpoint(lab, node, o);
    const pairs = {};
    const mk = async (name, specA, specB) => {
      const x = await ep(a, { ...specA, index: 1 });
      const y = await ep(b, { ...specB, index: 2 });
      await connectBoth(lab, a, b, x, y);
      pairs[name] = [x, y];
    };
    const want = (k) => !opt.only || opt.only.split(',').includes(k);
    if (want('kernel'))
      await mk(
        'kernel vxlan',
        { kind: 'kernel', dev: 'kvx.2', mac: '02:ca:00:00:00:01', net: 245, vni: 2, port: 4789 },
        { kind: 'kernel', dev: 'kvx.2', mac: '02:cb:00:00:00:01', net: 245, vni: 2, port: 4789 },
      );
    if (want('floor'))
      await mk(
        'floor (C relay)',
        { kind: 'floor', dev: 'flr.4', mac: '02:ad:00:00:00:01', net: 247, vni: 4, port: 8474, floorPeer: b.underlayIp },
        { kind: 'floor', dev: 'flr.4', mac: '02:bd:00:00:00:01', net: 247, vni: 4, port: 8474, floorPeer: a.underlayIp },
      );
    if (want('floorjs'))
      await mk(
        'floor in JS (koffi)',
        { kind: 'floor', floorJs: true, dev: 'flj.6', mac: '02:af:00:00:00:01', net: 249, vni: 6, port: 8476, floorPeer: b.underlayIp },
        { kind: 'floor', floorJs: true, dev: 'flj.6', mac: '02:bf:00:00:00:01', net: 249, vni: 6, port: 8476, floorPeer: a.underlayIp },
      );
    const weft = (dev, mac, net, vni, port, mode, env, more = []) => ({
      kind: 'weft',
      dev,
      mac,
      net,
      vni,
      port,
      weftArgs: ['--offload', mode, ...more, ...extra],
      ...(env ? { env } : {}),
    });
    if (want('weft'))
      await mk(
        'weft per-packet',
        weft('weft.1', '02:aa:00:00:00:01', 244, 1, 8472, 'off'),
        weft('weft.1', '02:bb:00:00:00:01', 244, 1, 8472, 'off'),
      );
    if (want('cold'))
      await mk(
        'weft per-packet, no JIT warm-up',
        weft('weft.10', '02:a0:00:00:00:01', 253, 10, 8480, 'off', undefined, ['--no-jit-warmup']),
        weft('weft.10', '02:b0:00:00:00:01', 253, 10, 8480, 'off', undefined, ['--no-jit-warmup']),
      );
    if (want('offload'))
      await mk(
        'weft offload',
        weft('weft.3', '02:ac:00:00:00:01', 246, 3, 8473, 'on'),
        weft('weft.3', '02:bc:00:00:00:01', 246, 3, 8473, 'on'),
      );
    const env = { ...process.env, WEFT_RTT_TRACE: traceFile };
    if (want('traced'))
      await mk(
        'weft per-packet, traced',
        weft('weft.5', '02:ae:00:00:00:01', 248, 5, 8475, 'off', env),
        weft('weft.5', '02:be:00:00:00:01', 248, 5, 8475, 'off', env),
      );

    const results = {};
    for (const [name, [x, y]] of Object.entries(pairs)) {
      if (name.includes('traced')) continue;
      for (const loaded of [false, true]) {
        log(`${name}: ${loaded ? 'with a TCP stream' : 'idle'} (load ${load()})`);
        results[`${name} | ${loaded ? 'TCP stream' : 'idle'}`] = await rttSet(lab, a, b, x, y, loaded);
      }
    }
    let trace;
    if (pairs['weft per-packet, traced']) {
      const [x, y] = pairs['weft per-packet, traced'];
      log(`traced pair: 50 ms pings (load ${load()})`);
      await ping(lab, a, x.ip, y.ip, 0.2, 3);
      rmSync(traceFile, { force: true });
      const rtts = await ping(lab, a, x.ip, y.ip, 0.05, opt.quick ? 40 : 200);
      await new Promise((r) => setTimeout(r, 500));
      trace = breakdown(traceFile, rtts);
    }
    log(`wake-up cost (load ${load()})`);
    const wakeup = wakeups();
    const loadAfter = load();
    console.log(`\nping RTT (ms) — ${machineInfo().cpus} cores; load average before ${loadBefore}, after ${loadAfter}\n`);
    const cols = INTERVALS.map(([i]) => `${i * 1000}ms`);
    console.log(
      table([
        ['contender | condition', ...cols.flatMap((c) => [`${c} p50`, `${c} p99`])],
        ...Object.entries(results).map(([k, r]) => [k, ...cols.flatMap((c) => [f(r[c].p50), f(r[c].p99)])]),
      ]),
    );
    if (trace) {
      console.log(`\nweft per-packet, 50 ms pings, ${trace.echoes} echoes traced: medians in µs since ping sent the echo\n`);
      console.log(
        table([
          ['stage', 'at (µs)', 'step (µs)', 'poll returned at (µs)', 'batches after a sleep'],
          ...trace.rows.map((r) => [
            r.stage,
            f(r.atUs, 0),
            f(r.stepUs, 0),
            r.wakeAtUs === null ? '' : f(r.wakeAtUs, 0),
            r.sleptShare === null ? '' : `${Math.round(r.sleptShare * 100)}%`,
          ]),
        ]),
      );
    }
    if (wakeup) {
      console.log('\none wake-up of a thread asleep in poll(), µs p50 / p90 / p99 (bench/floor/wakeup.c)\n');
      console.log(
        table([
          ['waker', 'interval', 'p50', 'p90', 'p99'],
          ...Object.entries(wakeup).map(([k, w]) => [...k.split(' | '), f(w.p50, 1), f(w.p90, 1), f(w.p99, 1)]),
        ]),
      );
    }
    const file = writeResult(`rtt-${timeStamp()}`, {
      date: new Date().toISOString(),
      machine: machineInfo(),
      loadBefore,
      loadAfter,
      intervals: INTERVALS,
      results,
      trace,
      wakeup,
      weftArgs: extra,
    });
    console.log(`\nwritten ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

inLab('br', main).catch((e) => {
  console.error(`bench:rtt failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
