// Small helpers shared by weft's benchmarks: percentiles, CPU accounting from /proc, result files, the lab's
// life and iperf3 runs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '@weft/netlab';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/** Machine-wide busy and total jiffies (all CPUs) from /proc/stat. */
export function cpuTimes() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = line[3] + line[4];
  const total = line.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** utime + stime (jiffies) of a process, all threads. */
export function procTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return 0;
  }
}

/** Measures machine CPU and the given processes' CPU around `fn`, in "cores" (1.0 = one core busy). */
export async function withCpu(pids, fn) {
  const t0 = cpuTimes();
  const p0 = pids.map(procTicks);
  const w0 = process.hrtime.bigint();
  const result = await fn();
  const secs = Number(process.hrtime.bigint() - w0) / 1e9;
  const t1 = cpuTimes();
  const p1 = pids.map(procTicks);
  const ncpu = cpus().length;
  const machineCores = ((t1.busy - t0.busy) / Math.max(1, t1.total - t0.total)) * ncpu;
  const procCores = p1.reduce((a, v, i) => a + v - p0[i], 0) / 100 / secs;
  return { result, machineCores, procCores, secs };
}

export function machineInfo() {
  const c = cpus();
  return {
    cpus: c.length,
    model: c[0]?.model ?? 'unknown',
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  };
}

export function writeResult(name, data) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const day = new Date().toISOString().slice(0, 10);
  const file = join(RESULTS_DIR, `${name}-${day}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ')).join('\n');
}

/** The load average as the reports print it ("1.20 0.80 0.50"). */
export function loadAverage() {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** The time of day as result file names carry it ("134437"). */
export function timeStamp() {
  return new Date().toISOString().slice(11, 19).replaceAll(':', '');
}

/**
 * Runs `body(lab)` in a fresh Lab whose namespaces carry `prefix`, destroying them afterwards — also on
 * an error or SIGINT/SIGTERM. `sweep`: first remove namespaces a crashed earlier run left behind.
 */
export async function inLab(prefix, body, { sweep = true } = {}) {
  if (sweep) await Lab.sweep();
  const lab = Lab.create(prefix);
  const stop = () => void lab.destroy().then(() => process.exit(130));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await body(lab);
  } finally {
    await lab.destroy();
  }
}

async function iperf(lab, srv, cli, ip, seconds, clientArgs) {
  const s = lab.spawn(srv.ns, 'iperf3 -s', 'iperf3', ['-s', '-1', '-B', ip, '--forceflush']);
  await s.waitFor(/Server listening/);
  const { stdout } = await lab.exec(cli.ns, 'iperf3', ['-c', ip, '-t', String(seconds), '-J', ...clientArgs], (seconds + 30) * 1000);
  await s.exited;
  return JSON.parse(stdout).end;
}

/** iperf3 TCP from `cli` to `ip` in `srv` for `seconds`, `streams` parallel: received Gbit/s and retransmits. */
export async function iperfTcp(lab, srv, cli, ip, { seconds, streams = 1 }) {
  const end = await iperf(lab, srv, cli, ip, seconds, ['-P', String(streams)]);
  return { gbps: end.sum_received.bits_per_second / 1e9, retransmits: end.sum_sent.retransmits ?? 0 };
}

/** iperf3 UDP, 64-byte payloads, unlimited rate: packets/s delivered and sent, loss %. */
export async function iperfUdp64(lab, srv, cli, ip, { seconds, streams = 1 }) {
  const { sum } = await iperf(lab, srv, cli, ip, seconds, ['-u', '-l', '64', '-b', '0', '-P', String(streams)]);
  return { pps: (sum.packets - sum.lost_packets) / sum.seconds, sentPps: sum.packets / sum.seconds, lossPct: sum.lost_percent };
}
