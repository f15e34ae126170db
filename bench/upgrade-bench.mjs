// What a weftd restart or upgrade costs pods (issue 14), against the targets:
//   kill      SIGKILL + immediate restart          longest ping gap ≤ 300 ms
//   term      SIGTERM + immediate restart          longest ping gap ≤ 300 ms
//   etcdDown  restart while etcd is frozen         longest ping gap ≤ 1 s
//   surge     second weftd, hand-over, old exits   loss ≤ 20 ms (≤ 2 echoes at ping -i 0.01)
// Two nodes + etcd + a pod per node in lab namespaces (netlab's UpgradeLab, the code the netns test
// runs), ping -i 0.01 pod→pod across nodes plus an iperf3 TCP stream, N runs of each event. The start-up
// phases of each restarted weftd (main, modules imported, VTEP opened, forwarding; ms since process
// start) come from its "datapath forwarding from the state file" log line. The load average is noted
// before and after: on a busy 2-core machine Node's own start-up dominates.
// Needs root and a build. Run: pnpm bench:upgrade [--runs N] [--events kill,term,etcdDown,surge]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, UpgradeLab } from '@weft/netlab';
import { machineInfo, percentile, table, writeResult } from './lib.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, events: { type: 'string', default: 'kill,term,etcdDown,surge' } },
});
const RUNS = Number(values.runs);
const EVENTS = values.events.split(',');
const TARGETS = { kill: { gapMs: 300 }, term: { gapMs: 300 }, etcdDown: { gapMs: 1000 }, surge: { lostMs: 20 } };

const lab = Lab.create('ubn');
const dir = mkdtempSync(join(tmpdir(), 'weft-upgrade-bench-'));
const u = new UpgradeLab(lab, dir);

function phasesOf(p) {
  const m = /"mainMs":(\d+),"importedMs":(\d+),"openStartMs":(\d+),"forwardingMs":(\d+)/.exec(p?.stdout ?? '');
  return m ? { mainMs: +m[1], importedMs: +m[2], openStartMs: +m[3], forwardingMs: +m[4] } : undefined;
}

try {
  const loadBefore = loadavg();
  await u.setup();
  const results = {};
  for (const ev of EVENTS) {
    results[ev] = [];
    for (let i = 0; i < RUNS; i++) {
      const load = loadavg()[0];
      const r = await u.run(ev);
      const phases = ev === 'surge' ? undefined : phasesOf(u.n1.weftd);
      results[ev].push({ ...r, load, ...(phases ? { phases } : {}) });
      console.log(
        `${ev} #${i + 1}: gap ${r.longestGapMs} ms, lost ${r.lost}/${r.sent}, tcp ${r.tcp?.ok ? 'ok' : 'FAILED'} (stalled intervals ${r.tcp?.stalledIntervals}), load ${load.toFixed(2)}${phases ? `, phases ${JSON.stringify(phases)}` : ''}`,
      );
      await u.settle();
    }
  }
  const rows = [['event', 'median gap ms', 'max gap ms', 'median lost (ms at 10 ms/echo)', 'target', 'met', 'tcp ok']];
  const summary = {};
  for (const ev of EVENTS) {
    const rs = results[ev];
    const gaps = rs.map((r) => r.longestGapMs);
    const lost = rs.map((r) => r.lost);
    const t = TARGETS[ev];
    const medGap = percentile(gaps, 50);
    const medLostMs = percentile(lost, 50) * 10;
    const met = t.gapMs !== undefined ? medGap <= t.gapMs : medLostMs <= t.lostMs;
    summary[ev] = {
      medianGapMs: medGap,
      maxGapMs: Math.max(...gaps),
      medianLost: percentile(lost, 50),
      target: t,
      met,
      tcpOk: rs.every((r) => r.tcp?.ok),
    };
    rows.push([
      ev,
      medGap,
      Math.max(...gaps),
      `${percentile(lost, 50)} (${medLostMs})`,
      t.gapMs !== undefined ? `gap ≤ ${t.gapMs}` : `loss ≤ ${t.lostMs} ms`,
      met ? 'yes' : 'NO',
      summary[ev].tcpOk ? 'yes' : 'NO',
    ]);
  }
  const loadAfter = loadavg();
  console.log(
    `\n${table(rows)}\nload average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const file = writeResult('upgrade', { machine: machineInfo(), runs: RUNS, loadBefore, loadAfter, summary, results });
  console.log(`results: ${file}`);
} finally {
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
}
