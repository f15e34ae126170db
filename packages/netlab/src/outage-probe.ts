/**
 * What a node event (a weftd restart, a hand-over) costs pods, measured from inside pod namespaces:
 *
 * - `ping -D -i 0.01` (100 echoes a second) across nodes for the whole window: the longest gap between
 *   two replies (ms, from ping's own receive timestamps) and the echoes lost.
 * - optionally an iperf3 TCP stream through the same window, in 0.5 s intervals: whether it ran to
 *   its end, the longest run of intervals that moved nothing, retransmits.
 *
 * Used by test/upgrade.netns.test.ts (behaviour, generous bounds) and bench/upgrade-bench.mjs (the
 * numbers against the targets). The caller runs `event` `eventAtMs` after the probes start.
 */
import type { Lab, LabProcess } from './lab.js';

export interface OutageResult {
  /** Longest interval between two consecutive echo replies, ms (the gap the event caused). */
  longestGapMs: number;
  sent: number;
  received: number;
  lost: number;
  tcp?: { ok: boolean; stalledIntervals: number; retransmits: number; intervals: number; error?: string };
}

export interface OutageProbeOptions {
  lab: Lab;
  /** Pod namespace the probes run in, and the pod address they target. */
  fromNs: string;
  toIp: string;
  /** Namespace of the target pod (iperf3 server). Without it, no TCP stream. */
  toNs?: string;
  windowMs: number;
  eventAtMs: number;
}

/** Parses `ping -D` output: reply receive times (s) and the summary's transmitted/received counts. */
export function parsePing(out: string): { replies: number[]; sent: number; received: number } {
  const replies: number[] = [];
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [^\n]*icmp_seq=\d+/gm)) replies.push(Number(m[1]));
  const s = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { replies, sent: s ? Number(s[1]) : 0, received: s ? Number(s[2]) : replies.length };
}

export function longestGapMs(replies: readonly number[]): number {
  let gap = 0;
  for (let i = 1; i < replies.length; i++) gap = Math.max(gap, (replies[i] - replies[i - 1]) * 1000);
  return Math.round(gap * 10) / 10;
}

interface IperfJson {
  intervals?: Array<{ sum: { bytes: number } }>;
  end?: { sum_sent?: { retransmits?: number } };
  error?: string;
}

function tcpVerdict(code: number | null, out: string): NonNullable<OutageResult['tcp']> {
  let j: IperfJson = {};
  try {
    j = JSON.parse(out) as IperfJson;
  } catch {
    return { ok: false, stalledIntervals: -1, retransmits: -1, intervals: 0, error: `iperf3 output not JSON: ${out.slice(0, 200)}` };
  }
  const iv = j.intervals ?? [];
  let run = 0;
  let worst = 0;
  for (const i of iv) {
    run = i.sum.bytes === 0 ? run + 1 : 0;
    worst = Math.max(worst, run);
  }
  return {
    ok: code === 0 && !j.error,
    stalledIntervals: worst,
    retransmits: j.end?.sum_sent?.retransmits ?? 0,
    intervals: iv.length,
    ...(j.error ? { error: j.error } : {}),
  };
}

/** Runs the probes for `windowMs`, calls `event` at `eventAtMs`, returns what the pods saw. */
export async function measureOutage(o: OutageProbeOptions, event: () => Promise<void>): Promise<OutageResult> {
  const secs = Math.ceil(o.windowMs / 1000);
  let server: LabProcess | undefined;
  let client: LabProcess | undefined;
  if (o.toNs) {
    server = o.lab.spawn(o.toNs, 'iperf3 server', 'iperf3', ['-s', '-1', '-p', '5201']);
    await new Promise((r) => setTimeout(r, 300));
    client = o.lab.spawn(o.fromNs, 'iperf3 client', 'iperf3', [
      '-c',
      o.toIp,
      '-p',
      '5201',
      '-t',
      String(secs),
      '-i',
      '0.5',
      '-J',
      '--connect-timeout',
      '3000',
    ]);
  }
  const ping = o.lab.spawn(o.fromNs, 'ping', 'ping', ['-D', '-n', '-i', '0.01', '-W', '1', '-w', String(secs), o.toIp]);
  await new Promise((r) => setTimeout(r, o.eventAtMs));
  await event();
  await ping.exited;
  const p = parsePing(ping.stdout);
  const result: OutageResult = { longestGapMs: longestGapMs(p.replies), sent: p.sent, received: p.received, lost: p.sent - p.received };
  if (client) {
    const code = await Promise.race([client.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    if (client.running) await client.stop(1000);
    result.tcp = tcpVerdict(code, client.stdout);
    await server?.stop(1000);
  }
  return result;
}
