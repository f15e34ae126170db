/**
 * weftd's /metrics: NodeStatus → Prometheus families. Names follow Prometheus conventions (`_total`
 * for counters, base units, `_timestamp_seconds`); datapath drops are one family with a `reason`
 * label, one sample per reason the datapath knows (zeros included, so rates work from the start).
 */
import { COUNTERS, DROP_REASONS, KERNEL_DROPS, type CounterName } from '@weft/datapath';
import type { MetricFamily } from './prometheus-text.js';
import type { NodeStatus, Readiness } from './node-status.js';
import { REJECT_REASONS } from '../subnet/lease-admission.js';

/** Datapath counters that are gauges (levels), not monotonic counts. */
const DATAPATH_GAUGES: ReadonlySet<CounterName> = new Set(['fdb_entries', 'fdb_learned', 'fdb_peers']);

const KERNEL_HELP: Record<(typeof KERNEL_DROPS)[number], string> = {
  tap_tx_dropped: 'Frames the host sent into the VTEP TAP that its queue could not hold (the datapath read too slowly).',
  tap_rx_dropped: 'Frames the datapath wrote into the TAP that the kernel dropped.',
  udp_rx_drops: 'VXLAN datagrams the socket receive buffer could not hold (/proc/net/udp drops).',
};

function one(name: string, help: string, type: MetricFamily['type'], value: number | undefined): MetricFamily {
  return { name, help, type, samples: value === undefined ? [] : [{ value }] };
}

export function weftdMetrics(s: NodeStatus, r: Readiness, rssBytes: number): MetricFamily[] {
  const expiry = s.lease?.expiration ? Date.parse(s.lease.expiration) / 1000 : undefined;
  const families: MetricFamily[] = [
    one('weft_ready', '1 when the lease is held, the VTEP device is up and the subnet file is written.', 'gauge', r.ready ? 1 : 0),
    one('weft_lease_held', '1 while this node holds a subnet lease.', 'gauge', r.checks.leaseHeld ? 1 : 0),
    one('weft_lease_expiry_timestamp_seconds', 'When our lease expires unless renewed (Unix time).', 'gauge', expiry),
    one('weft_peers', 'Remote nodes programmed (route, neighbour and FDB entry each).', 'gauge', s.peers.length),
    one('weft_fdb_entries', 'Entries in the datapath FDB (pinned and learned).', 'gauge', s.counters?.counters.fdb_entries),
    one('weft_lease_events_total', 'Lease events received from the subnet manager.', 'counter', s.leaseEvents),
    one('weft_programming_rounds_total', 'Host programming rounds (one ip -batch each at most).', 'counter', s.programming?.rounds),
    one('weft_programming_reconciles_total', 'Full reconciles against the host (after snapshots).', 'counter', s.programming?.reconciles),
    one('weft_programming_failures_total', 'Route/neighbour changes that failed (retried).', 'counter', s.programming?.failures),
    one(
      'weft_leases_skipped_total',
      'Leases not programmed (every rejection counted once; see weft_leases_rejected_total).',
      'counter',
      s.programming?.skippedLeases,
    ),
    one(
      'weft_programming_last_round_seconds',
      'Duration of the last programming round.',
      'gauge',
      s.programming ? s.programming.lastRoundMs / 1000 : undefined,
    ),
    one(
      'weft_iptables_repairs_total',
      'Times weftd restored its iptables chains after someone changed them.',
      'counter',
      s.iptablesRepairs,
    ),
    one(
      'weft_datapath_healthy',
      '1 while the datapath worker is alive and moving waiting packets (watchdog).',
      'gauge',
      s.datapath ? (s.datapath.healthy ? 1 : 0) : undefined,
    ),
    one('weft_datapath_worker_restarts_total', 'Datapath worker restarts by the watchdog.', 'counter', s.datapath?.workerRestarts),
    one('weft_vtep_mtu_bytes', 'MTU of the VTEP device.', 'gauge', s.vtep?.mtu),
    one('process_resident_memory_bytes', 'Resident memory of weftd.', 'gauge', rssBytes),
    one('process_start_time_seconds', 'Start time of weftd (Unix time).', 'gauge', Date.parse(s.startedAt) / 1000),
  ];
  if (s.programming?.rejected) {
    const rejected = s.programming.rejected;
    families.push({
      name: 'weft_leases_rejected_total',
      help: 'Leases rejected by lease admission (nothing programmed from them), by reason; counted when a lease becomes rejected.',
      type: 'counter',
      samples: REJECT_REASONS.map((reason) => ({ labels: { reason }, value: rejected[reason] ?? 0 })),
    });
  }
  if (s.counters) {
    for (const n of COUNTERS) {
      const gauge = DATAPATH_GAUGES.has(n);
      families.push(
        one(`weft_datapath_${n}${gauge ? '' : '_total'}`, `Datapath counter ${n}.`, gauge ? 'gauge' : 'counter', s.counters.counters[n]),
      );
    }
    families.push({
      name: 'weft_datapath_drops_total',
      help: 'Packets the datapath dropped, by reason.',
      type: 'counter',
      samples: DROP_REASONS.map((reason) => ({ labels: { reason }, value: s.counters!.drops[reason] })),
    });
    // The kernel's own drops around the VTEP (TAP queue, socket buffer): loss weft's counters cannot see.
    const k = s.counters.kernel;
    for (const n of KERNEL_DROPS) {
      const v = k?.[n];
      families.push(one(`weft_kernel_${n}_total`, KERNEL_HELP[n], 'counter', v !== undefined && Number.isFinite(v) ? v : undefined));
    }
  }
  if (s.policy) {
    const p = s.policy;
    families.push(
      {
        name: 'weft_policy_drops_total',
        help: 'Packets dropped by NetworkPolicy (default deny of an isolated pod), by pod and direction.',
        type: 'counter',
        samples: p.drops.map((d) => ({ labels: { pod: d.pod, direction: d.direction }, value: d.packets })),
      },
      one('weft_policy_applies_total', 'nftables transactions that replaced the policy table.', 'counter', p.applies),
      one(
        'weft_policy_apply_failures_total',
        'Policy table transactions nft refused (the previous table stayed).',
        'counter',
        p.applyFailures,
      ),
      one('weft_policy_last_apply_seconds', 'Duration of the last nft transaction.', 'gauge', p.lastApplyMs / 1000),
      one('weft_policy_rules', 'Rules in the policy table.', 'gauge', p.table?.rules),
      one('weft_policy_set_elements', 'Set and map elements in the policy table.', 'gauge', p.table?.elements),
    );
  }
  return families;
}
