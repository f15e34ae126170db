/**
 * Proof of the network: every pod pings every other pod, and iperf3 between two pods on different
 * nodes. Pings from one source run in sequence, sources in parallel (a handful of processes at once).
 */
import type { ClusterPod, Lab } from '@weft/netlab';

export interface MatrixCell {
  from: string;
  to: string;
  ok: boolean;
  rttMs?: number;
}

async function pingOnce(lab: Lab, from: ClusterPod, to: ClusterPod): Promise<MatrixCell> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const { stdout } = await lab.exec(from.ns, 'ping', ['-c', '1', '-W', '1', '-n', to.ip], 5000);
      const m = /time=([\d.]+) ms/.exec(stdout);
      return { from: from.name, to: to.name, ok: true, ...(m ? { rttMs: Number(m[1]) } : {}) };
    } catch {
      /* retry: the first packet may wait for ARP on the bridge */
    }
  }
  return { from: from.name, to: to.name, ok: false };
}

export async function pingMatrix(lab: Lab, pods: readonly ClusterPod[]): Promise<MatrixCell[]> {
  const rows = await Promise.all(
    pods.map(async (src) => {
      const cells: MatrixCell[] = [];
      for (const dst of pods) if (dst !== src) cells.push(await pingOnce(lab, src, dst));
      return cells;
    }),
  );
  return rows.flat();
}

export function renderMatrix(pods: readonly ClusterPod[], cells: readonly MatrixCell[], ok: string, bad: string): string {
  const w = Math.max(...pods.map((p) => p.name.length)) + 1;
  const head = ' '.repeat(w) + pods.map((p) => p.name.padStart(w)).join('');
  const lines = pods.map((src) => {
    const row = pods.map((dst) => {
      if (dst === src) return '·'.padStart(w);
      const c = cells.find((x) => x.from === src.name && x.to === dst.name);
      return (c?.ok ? ok : bad).padStart(w + (c?.ok ? ok.length - 1 : bad.length - 1));
    });
    return src.name.padEnd(w) + row.join('');
  });
  return [head, ...lines].join('\n');
}

export interface IperfResult {
  gbps: number;
  retransmits: number;
}

/** iperf3 TCP single stream from `client` to `server` for `seconds`. */
export async function iperfTcp(lab: Lab, server: ClusterPod, client: ClusterPod, seconds: number): Promise<IperfResult> {
  const s = lab.spawn(server.ns, `iperf3 -s ${server.name}`, 'iperf3', ['-s', '-1', '-B', server.ip, '--forceflush']);
  try {
    await s.waitFor(/Server listening/, 10_000);
    const { stdout } = await lab.exec(client.ns, 'iperf3', ['-c', server.ip, '-t', String(seconds), '-J'], (seconds + 30) * 1000);
    const j = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
    return { gbps: j.end.sum_received.bits_per_second / 1e9, retransmits: j.end.sum_sent.retransmits ?? 0 };
  } finally {
    await s.stop(1000);
  }
}
