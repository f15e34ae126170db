/**
 * weftctl: the operator's view of one weft node.
 *
 *   weftctl status            this node's lease, VTEP, MTU, peers, datapath counters and drops
 *   weftctl fdb               the datapath's forwarding database
 *   weftctl leases            every lease in etcd (flannel's keys and JSON)
 *   weftctl probe <node>      underlay reachability vs VXLAN reachability of a peer
 *   weftctl policy <pod>      the NetworkPolicies selecting a pod (ns/name, name or IP) and what they allow
 *
 * status/fdb/probe read weftd's local endpoint (--endpoint, default http://127.0.0.1:8081, weftd's
 * --healthz-port); leases read etcd directly. Human tables by default, --json for scripts.
 * Exit codes: 0 ok, 1 the thing asked about is unhealthy/unreachable, 2 usage.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DROP_REASONS, type CounterSnapshot } from '@weft/datapath';
import type { NodeStatus } from '../http/node-status.js';
import { EtcdRegistry, DEFAULT_ETCD_PREFIX } from '../subnet/etcd-registry.js';
import { decodeLease } from '../subnet/lease-codec.js';
import { icmpEcho } from './icmp-echo.js';
import { packageVersion } from './package-version.js';
import { findPeer, probeVerdict } from './probe-verdict.js';
import { humanBytes, textTable } from './text-table.js';

const HELP = `weftctl: inspect a weft node.

Usage: weftctl <command> [options]

Commands:
  status          this node's lease, VTEP (name, MAC, MTU, VNI, port), peers, datapath counters, drops by reason
  fdb             the datapath's FDB (pinned entries from leases, learned entries)
  leases          every lease in etcd: subnet, PublicIP, VtepMAC, etcd lease, and this node's verdict
                  (THIS NODE, accepted, or rejected with the reason) when weftd answers at --endpoint
  probe <node>    is <node> (its PublicIP, subnet or VTEP address) reachable over the underlay, and over VXLAN?
  policy <pod>    which NetworkPolicies select <pod> (namespace/name, name or IP) and what they allow (weftd --network-policy)

Options:
  --endpoint URL        weftd's local HTTP endpoint (default http://127.0.0.1:8081; env WEFTCTL_ENDPOINT)
  --etcd-endpoints URLS for leases (default http://127.0.0.1:2379; env FLANNELD_ETCD_ENDPOINTS)
  --etcd-prefix PREFIX  for leases (default ${DEFAULT_ETCD_PREFIX}; env FLANNELD_ETCD_PREFIX)
  --json                machine-readable output
  -h, --help            this text
  --version             print the version

Run it where weftd runs (the node's network namespace); probe needs root or CAP_NET_RAW.`;

class UsageError extends Error {}

async function getJson<T>(endpoint: string, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, endpoint), { signal: AbortSignal.timeout(5000) });
  } catch (e) {
    throw new Error(`cannot reach weftd at ${endpoint} (${causeOf(e as Error)}); is weftd running here with --healthz-port?`);
  }
  if (!res.ok) throw new Error(`weftd ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function countersText(c: CounterSnapshot): string {
  const k = c.counters;
  const lines = [
    `  encap  ${k.tx_packets} packets, ${humanBytes(k.tx_bytes)} sent (${k.tx_frames} frames read from the TAP)`,
    `  decap  ${k.rx_packets} packets, ${humanBytes(k.rx_bytes)} delivered (${k.rx_datagrams} datagrams received)`,
    `  fdb    ${k.fdb_entries} entries (${k.fdb_learned} learned), ${k.fdb_peers} peers`,
  ];
  const drops = DROP_REASONS.filter((r) => c.drops[r] > 0).map((r) => `${r} ${c.drops[r]}`);
  lines.push(`  drops  ${drops.length ? drops.join(', ') : 'none'}`);
  lines.push(
    `  errors tap read ${k.tap_read_errors ?? 0}, tap write ${k.tap_write_errors ?? 0}, udp recv ${k.udp_recv_errors ?? 0}, udp send ` +
      `${k.udp_send_errors ?? 0}`,
  );
  return lines.join('\n');
}

function statusText(s: NodeStatus): string {
  const out: string[] = [];
  const l = s.lease;
  const lease = l ? `${l.subnet}  public IP ${l.publicIp}${l.expiration ? `  expires ${l.expiration}` : ''}` : 'none';
  out.push(`lease    ${lease}  (${s.subnetManager})`);
  if (s.vtep)
    out.push(
      `VTEP     ${s.vtep.name}  mac ${s.vtep.mac}  mtu ${s.vtep.mtu}  vni ${s.vtep.vni}  port ${s.vtep.port}  offload ` +
        `${s.vtep.offload ?? 'off'}  ${s.vtep.up ? 'up' : 'DOWN'}`,
    );
  out.push(`subnet   ${s.subnetFile.path} ${s.subnetFile.written ? 'written' : 'NOT WRITTEN'}   ip-masq ${s.ipMasq ? 'on' : 'off'}`);
  out.push(`peers    ${s.peers.length}`);
  if (s.peers.length)
    out.push(
      textTable(
        ['SUBNET', 'PUBLIC IP', 'VTEP MAC', 'GATEWAY'],
        s.peers.map((p) => [p.subnet, p.publicIp, p.vtepMac, p.gateway]),
      ),
    );
  if (s.datapath)
    out.push(
      `watchdog ${s.datapath.healthy ? 'healthy' : `FAILED: ${s.datapath.cause ?? '?'}`}  worker restarts ${s.datapath.workerRestarts}`,
    );
  if (s.counters) out.push('datapath', countersText(s.counters));
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      endpoint: { type: 'string', default: process.env.WEFTCTL_ENDPOINT ?? 'http://127.0.0.1:8081' },
      'etcd-endpoints': { type: 'string', default: process.env.FLANNELD_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379' },
      'etcd-prefix': { type: 'string', default: process.env.FLANNELD_ETCD_PREFIX ?? DEFAULT_ETCD_PREFIX },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', default: false },
    },
  });
  const [cmd, arg] = positionals;
  if (values.version) {
    console.log(`weftctl ${packageVersion()}`);
    return 0;
  }
  if (values.help || !cmd) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  const print = (human: string, data: unknown): void => console.log(values.json ? JSON.stringify(data, null, 2) : human);
  switch (cmd) {
    case 'status': {
      const s = await getJson<NodeStatus>(values.endpoint, '/v1/status');
      print(statusText(s), s);
      return s.lease && s.vtep?.up ? 0 : 1;
    }
    case 'fdb': {
      const f = await getJson<Array<{ mac: string; remote: string; kind: string; idleMs?: number }>>(values.endpoint, '/v1/fdb');
      print(
        textTable(
          ['MAC', 'UNDERLAY', 'KIND'],
          f.map((e) => [e.mac, e.remote, e.kind]),
        ),
        f,
      );
      return 0;
    }
    case 'leases':
      return leases(values['etcd-endpoints'].split(','), values['etcd-prefix'], values.endpoint, print);
    case 'probe': {
      if (!arg) throw new UsageError('probe needs a node: its PublicIP, subnet or VTEP address');
      const s = await getJson<NodeStatus>(values.endpoint, '/v1/status');
      const peer = findPeer(s.peers, arg);
      if (!peer)
        throw new Error(`no peer matches ${arg}; peers: ${s.peers.map((p) => `${p.publicIp} (${p.subnet})`).join(', ') || 'none'}`);
      const [underlay, overlay] = await Promise.all([icmpEcho(peer.publicIp), icmpEcho(peer.gateway)]);
      const v = probeVerdict({ ...peer, port: s.vtep?.port ?? 8472 }, underlay, overlay);
      print(`${v.state}: ${v.summary}\n  ${v.hint}`, { peer, underlay, overlay, verdict: v });
      return v.state === 'healthy' ? 0 : 1;
    }
    case 'policy': {
      if (!arg) throw new UsageError('policy needs a pod: namespace/name, name or IP');
      const r = await getJson<PolicyReport>(values.endpoint, `/v1/policy?pod=${encodeURIComponent(arg)}`);
      print(policyText(r), r);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)} (status, fdb, leases, probe, policy)`);
  }
}

interface PolicyReport {
  pod: string;
  ip: string;
  isolated: { ingress: boolean; egress: boolean };
  policies: Array<{ policy: string; types: string[]; ingress: string[]; egress: string[] }>;
}

function policyText(r: PolicyReport): string {
  const state = (d: 'ingress' | 'egress'): string =>
    `${d} ${r.isolated[d] ? 'isolated (only what the policies allow)' : 'open (no policy of this type)'}`;
  const lines = [`pod ${r.pod} (${r.ip}): ${state('ingress')}; ${state('egress')}`];
  if (r.policies.length === 0) lines.push('  no NetworkPolicy selects this pod');
  for (const p of r.policies) {
    lines.push(`  ${p.policy} [${p.types.join(', ')}]`);
    for (const i of p.ingress) lines.push(`    ingress ${i}`);
    for (const e of p.egress) lines.push(`    egress  ${e}`);
  }
  return lines.join('\n');
}

async function leases(endpoints: string[], prefix: string, endpoint: string, print: (h: string, d: unknown) => void): Promise<number> {
  const reg = new EtcdRegistry({ endpoints, prefix, logger: pino({ level: 'silent' }), callTimeoutMs: 5000 });
  try {
    const [{ kvs }, verdicts] = await Promise.all([
      reg.listSubnets().catch((e: Error) => {
        throw new Error(`cannot list leases from etcd ${endpoints.join(',')}: ${e.message}`);
      }),
      // This node's verdicts when its weftd answers; without it the leases are shown as stored.
      getJson<NodeStatus>(endpoint, '/v1/status').then(
        (s) => new Map((s.leases ?? []).map((l) => [l.key, l])),
        () => undefined,
      ),
    ]);
    const rows = kvs.map((kv) => {
      const v = verdicts?.get(kv.name);
      const verdict = v
        ? { status: v.status === 'own' ? 'THIS NODE' : v.status, ...(v.reason ? { reason: v.reason, detail: v.detail } : {}) }
        : {};
      if (kv.oversizeBytes !== undefined) return { subnet: kv.name, error: `oversize value (${kv.oversizeBytes} bytes)`, ...verdict };
      try {
        const l = decodeLease(kv.name, kv.value);
        const d = l.attrs.BackendData as { VtepMAC?: string; VNI?: number } | null;
        return {
          subnet: l.subnet,
          publicIp: l.attrs.PublicIP,
          backend: l.attrs.BackendType,
          vtepMac: d?.VtepMAC ?? '',
          vni: d?.VNI,
          lease: kv.lease,
          ...verdict,
        };
      } catch (e) {
        return { subnet: kv.name, error: (e as Error).message, ...verdict };
      }
    });
    const status = (r: object): string => {
      const v = r as { status?: string; reason?: string };
      return v.status ? `${v.status}${v.reason ? ` (${v.reason})` : ''}` : '-';
    };
    print(
      textTable(
        ['SUBNET', 'PUBLIC IP', 'BACKEND', 'VTEP MAC', 'ETCD LEASE', "THIS NODE'S VERDICT"],
        rows.map((r) =>
          'error' in r
            ? [r.subnet, '-', '-', `malformed: ${r.error}`, '-', status(r)]
            : [r.subnet, r.publicIp, r.backend, r.vtepMac, r.lease === '0' ? 'reservation' : r.lease, status(r)],
        ),
      ),
      rows,
    );
    return 0;
  } finally {
    await reg.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`weftctl: ${e.message}`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);

/** The lower-level reason a fetch failed (ECONNREFUSED, a timeout), or the error's own message. */
function causeOf(e: Error): string {
  return e.cause instanceof Error ? e.cause.message : e.message;
}
