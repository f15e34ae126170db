// Where a benchmark's CPU goes, over one measuring window: every task on the machine, read from
// /proc/<pid>/task/<tid>/stat (utime, stime) at the window's start and end, sorted into
//   vtep     the contender's own processes (weft-vtep or floor-relay on both nodes, all threads)
//   iperf3   iperf3 client and server (found by name inside the lab's network namespaces)
//   lab      anything else inside those namespaces (the idle contenders)
//   kthreads kernel threads (ksoftirqd, kworkers, ...): PF_KTHREAD in the task's flags
//   outside  every other process on the machine (other people's work, this bench's own node)
// and the machine's /proc/stat columns over the same window. The kernel accounts time by ticks
// (CONFIG_TICK_CPU_ACCOUNTING, no IRQ_TIME_ACCOUNTING on this machine): softirq work done while a
// task runs counts both in that task's stime and in /proc/stat's softirq column; softirq on an idle
// CPU counts in no task. So `idleIrq` = machine busy - all tasks is the kernel stack's work that no
// process paid for, and `softirq` (all contexts) overlaps vtep/iperf3 system time: shown, not summed.
// Tasks that exit mid-window keep the last value seen by the sampler (it rereads the lab's tasks
// every `sampleMs`), so a vanishing process is counted up to then and never crashes the window.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

const HZ = 100; // USER_HZ: /proc's clock ticks
const PF_KTHREAD = 0x00200000;

function readOr(path, fallback) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** The machine's /proc/stat "cpu" line: { user, system, irq, softirq, busy, total } in ticks. */
export function machineTicks() {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is inside user already
  // busy leaves out steal: time the hypervisor took is charged to no task
  return { user: user + nice, system, irq, softirq, steal, busy: total - idle - iowait - steal, total };
}

/** One task's stat: comm, flags, utime, stime (ticks); undefined if it is gone. */
function taskStat(pid, tid) {
  const s = readOr(`/proc/${pid}/task/${tid}/stat`, '');
  if (!s) return undefined;
  const close = s.lastIndexOf(')');
  const rest = s.slice(close + 2).split(' ');
  const comm = s.slice(s.indexOf('(') + 1, close);
  // not cutime/cstime: a child reaped in the window would bring its whole life's CPU into it
  return { comm, flags: Number(rest[6]), utime: Number(rest[11]), stime: Number(rest[12]) };
}

function netnsOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

/** Every task on the machine, keyed `pid/tid`, with the role it plays in this window. */
function scan(roleOf) {
  const tasks = new Map();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // exited between the two reads
    }
    const ns = netnsOf(pid);
    for (const tid of tids) {
      const st = taskStat(pid, tid);
      if (st) tasks.set(`${pid}/${tid}`, { ...st, pid: Number(pid), role: roleOf(Number(pid), st, ns) });
    }
  }
  return tasks;
}

/** Rereads the stat of the tasks already known (the lab's), so an exit loses at most one interval. */
function refresh(tasks) {
  for (const [key, t] of tasks) {
    if (t.role === 'outside' || t.role === 'kthreads') continue;
    const [pid, tid] = key.split('/');
    const st = taskStat(pid, tid);
    if (st) Object.assign(t, { utime: st.utime, stime: st.stime });
  }
}

function nsInode(name) {
  try {
    return `net:[${statSync(`/run/netns/${name}`).ino}]`;
  } catch {
    return '';
  }
}

/**
 * Measures from `startMs` after the call until `startMs + windowMs`, in cores (1.0 = one CPU busy the
 * whole window). `labNetns`: the lab's namespace names; `vtepPids`: the contender's processes.
 */
export async function cpuSplit({ labNetns, vtepPids, startMs, windowMs, sampleMs = 500 }) {
  const nsIds = new Set(labNetns.map(nsInode).filter(Boolean));
  const vteps = new Set(vtepPids);
  const roleOf = (pid, st, ns) => {
    if (vteps.has(pid)) return 'vtep';
    if (st.flags & PF_KTHREAD) return 'kthreads';
    if (nsIds.has(ns)) return st.comm.startsWith('iperf3') ? 'iperf3' : 'lab';
    return 'outside';
  };
  await sleep(startMs);
  const m0 = machineTicks();
  const t0 = process.hrtime.bigint();
  const first = scan(roleOf);
  const last = new Map([...first].map(([k, v]) => [k, { ...v }]));
  for (let left = windowMs; left > 0; left -= sampleMs) {
    await sleep(Math.min(sampleMs, left));
    refresh(last);
  }
  const end = scan(roleOf);
  const m1 = machineTicks();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const all = new Map([...last, ...end]);
  const split = summarize(first, all, m0, m1, secs);
  // the bench's threads, for perfKernelWork; not part of the stored result
  const tids = [...all].filter(([, t]) => t.role !== 'outside').map(([key]) => Number(key.split('/')[1]));
  return Object.defineProperty(split, 'benchTids', { value: tids, enumerable: false });
}

const ROLES = ['vtep', 'iperf3', 'lab', 'kthreads', 'outside'];

/** Per-role user/system cores, the busiest VTEP thread, and the machine's columns, all over `secs`. */
function summarize(first, end, m0, m1, secs) {
  const cores = (ticks) => ticks / HZ / secs;
  const out = Object.fromEntries(ROLES.map((r) => [r, { user: 0, system: 0 }]));
  let tasksTicks = 0;
  let hot = { comm: '', cores: 0 };
  const threads = {}; // cores by VTEP thread name, both nodes summed (io_uring's io-wq workers show here)
  for (const [key, t] of end) {
    const t0 = first.get(key) ?? { utime: 0, stime: 0 };
    const du = t.utime - t0.utime;
    const ds = t.stime - t0.stime;
    out[t.role].user += cores(du);
    out[t.role].system += cores(ds);
    tasksTicks += du + ds;
    const name = t.comm.replace(/-\d+$/, '');
    if (t.role === 'vtep' && du + ds > 0) threads[name] = (threads[name] ?? 0) + cores(du + ds);
    if (t.role === 'vtep' && cores(du + ds) > hot.cores) hot = { comm: t.comm, cores: cores(du + ds) };
  }
  const d = (k) => cores(m1[k] - m0[k]);
  const machine = { busy: d('busy'), user: d('user'), system: d('system'), softirq: d('softirq'), irq: d('irq'), steal: d('steal') };
  // busy minus what every task still alive was charged: irq/softirq work that landed on an idle CPU,
  // and processes that exited inside the window (other people's short-lived ones: see cpuPerGbit)
  return {
    secs,
    ...out,
    vtepHotThread: hot,
    vtepThreads: threads,
    idleIrq: machine.busy - cores(tasksTicks),
    machine,
  };
}

const sum = (r) => r.user + r.system;

/** The bench's own cores in a split, and the kernel's work outside any process (see below). */
function benchCores(c) {
  // The residual holds idle-CPU irq/softirq but also processes that exited in the window; the first
  // cannot exceed the machine's irq+softirq time, so the residual counts as the kernel's up to that.
  const irq = c.machine.softirq + c.machine.irq;
  const kernelElsewhere = sum(c.kthreads) + Math.min(Math.max(c.idleIrq, 0), irq);
  return { kernelElsewhere, bench: sum(c.iperf3) + sum(c.vtep) + sum(c.lab) + kernelElsewhere };
}

/**
 * A 64 B UDP result's split (`udpCpu`) per packet, in CPU microseconds: the bench's per packet
 * delivered, the VTEP's user and system time per frame it forwarded (read from the sender's TAP).
 */
export function cpuPerPacket(x) {
  const c = x?.udpCpu;
  if (!c || !(x.udp64Pps > 0)) return undefined;
  const forwarded = x.udp64SentPps - (x.lossSenderDevPps ?? 0);
  return {
    benchUsPerDelivered: (benchCores(c).bench / x.udp64Pps) * 1e6,
    vtepUserUs: (c.vtep.user / forwarded) * 1e6,
    vtepSystemUs: (c.vtep.system / forwarded) * 1e6,
  };
}

/** A TCP result's split (`tcpCpu`) as cores per Gbit/s of the stream it carried. */
export function cpuPerGbit(x) {
  const c = x?.tcpCpu;
  if (!c || !(x.tcpGbps > 0)) return undefined;
  const g = x.tcpGbps;
  const { kernelElsewhere, bench } = benchCores(c);
  const others = c.machine.busy - bench; // other people's processes, alive or exited
  return {
    iperf3: sum(c.iperf3) / g,
    vtepUser: c.vtep.user / g,
    vtepSystem: c.vtep.system / g,
    kernelElsewhere: kernelElsewhere / g, // idle-CPU irq/softirq (at most) and kernel threads
    lab: sum(c.lab) / g,
    total: bench / g, // the machine minus other people's processes
    softirqAll: (c.machine.softirq + c.machine.irq) / g, // overlaps the rows above
    otherCores: others,
    hotThreadCores: c.vtepHotThread?.cores ?? 0,
  };
}

/**
 * What the split proves about a userspace contender `x` against the kernel `k` (both cpuPerGbit):
 * its kernel-side work alone, and its total and throughput if its own user-space time were zero
 * (the rest of the work kept its cost per Gbit/s). When both are CPU-bound on the same cores, the
 * throughput ratio is the inverse of the cost ratio: `ceilingVsKernel`, with no user time at all.
 */
export function cpuBounds(x, k, cpus) {
  if (!x || !k) return undefined;
  const kernelSide = x.vtepSystem + x.kernelElsewhere;
  const withoutUser = x.total - x.vtepUser;
  return {
    kernelSide,
    kernelSideVsKernelTotal: kernelSide / k.total,
    withoutUserVsKernel: withoutUser / k.total,
    gbpsCeilingWithoutUser: cpus / withoutUser,
    ceilingVsKernel: k.total / withoutUser,
  };
}

/** Kernel symbols grouped by the work they do (perf's [k] samples), first match wins. */
const KERNEL_WORK = [
  [
    'copy to/from user',
    /copy_(to|from)_user|copy_user|_copy_|rep_movs|memcpy|memmove|skb_copy_datagram|copy_page|check_object_size|check_heap_object/,
  ],
  ['checksum', /csum/],
  ['tun/tap', /^tun_|_tun_/],
  ['udp + vxlan', /udp|vxlan|gro_cell/],
  ['ip + tcp', /^(ip_|ipv4_|inet_|tcp_|__tcp|__ip|raw_v4|raw_local)/],
  ['skb alloc/free', /skb|kmem_cache|kmalloc|kfree|page_frag|__alloc_pages|free_unref|slab/],
  ['veth, netif, GRO, softirq', /veth|netif|napi|gro|dev_|__dev|qdisc|net_rx|process_backlog|softirq/],
  [
    'syscall and irq entry/exit',
    /entry_SYSCALL|syscall|__x64_sys|fput|fdget|rw_verify|vfs_|sock_(sendmsg|recvmsg)|___sys|irqentry|exit_to_user/,
  ],
  ['scheduler, wake-ups, poll, io_uring', /schedule|wake|sched|poll|select_task|ttwu|futex|task_switch|io_uring|^__?io_/],
  // cpu-clock samples wait while interrupts are off and land where they come back on
  ['irqs re-enabled (spinlocks)', /_raw_spin|irqrestore|_raw_read|_raw_write/],
  ['idle', /idle|halt|mwait|cpuidle/],
];

/**
 * `perf record -a` over the window (cpu-clock, 499 Hz): the recording, for `perfKernelWork`, or
 * undefined (and the bench goes on) when perf is missing or fails.
 */
export async function perfRecord({ startMs, windowMs }) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-perf-'));
  try {
    await sleep(startMs);
    const data = join(dir, 'perf.data');
    await execFileP('perf', ['record', '-a', '-F', '499', '-o', data, '--', 'sleep', String(windowMs / 1000)]);
    return { dir, data };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

/**
 * The bench's samples (threads in `tids`, the split's `benchTids`, and the idle task's softirq) as a
 * share of all samples, grouped by kernel work (KERNEL_WORK), and the top kernel symbols. Removes the
 * recording.
 */
export async function perfKernelWork(rec, tids) {
  try {
    const { stdout } = await execFileP('perf', ['report', '-i', rec.data, '--stdio', '--no-children', '--sort', 'pid,sym'], {
      maxBuffer: 64 << 20,
    });
    return kernelWork(stdout, new Set([0, ...tids]));
  } catch {
    return undefined;
  } finally {
    rmSync(rec.dir, { recursive: true, force: true });
  }
}

function kernelWork(report, tids) {
  const rows = [...report.matchAll(/^\s+([\d.]+)%\s+(\d+):\S*\s+\[(.)\]\s+(\S+)/gm)]
    .filter((m) => tids.has(Number(m[2])))
    .map((m) => ({ pct: Number(m[1]), kernel: m[3] === 'k', sym: m[4] }));
  const groups = Object.fromEntries([...KERNEL_WORK.map(([g]) => [g, 0]), ['other kernel', 0], ['user space', 0]]);
  const bySym = new Map();
  for (const r of rows) {
    const g = r.kernel ? (KERNEL_WORK.find(([, re]) => re.test(r.sym))?.[0] ?? 'other kernel') : 'user space';
    groups[g] += r.pct;
    if (r.kernel) bySym.set(r.sym, (bySym.get(r.sym) ?? 0) + r.pct);
  }
  const top = [...bySym].sort((x, y) => y[1] - x[1]).slice(0, 15);
  return { groups, top: top.map(([sym, pct]) => `${pct.toFixed(1)}% ${sym}`) };
}
