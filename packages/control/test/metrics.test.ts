import { FakeVtep } from '@weft/datapath/testing';
import { REJECT_REASONS, type RejectReason } from '../src/subnet/lease-admission.js';
import { describe, expect, it } from 'vitest';
import { renderExposition } from '../src/http/prometheus-text.js';
import { weftdMetrics } from '../src/http/weftd-metrics.js';
import type { NodeStatus, Readiness } from '../src/http/node-status.js';

const status: NodeStatus = {
  version: '0.1.0',
  startedAt: '2026-11-21T10:00:00.000Z',
  subnetManager: 'etcd',
  network: '10.244.0.0/16',
  lease: { subnet: '10.244.3.0/24', publicIp: '192.168.1.3', expiration: '2026-11-22T10:00:00.000Z' },
  vtep: { name: 'weft.1', mac: '02:00:00:00:00:01', mtu: 1450, vni: 1, port: 8472, up: true },
  subnetFile: { path: '/run/flannel/subnet.env', written: true },
  ipMasq: false,
  peers: [{ subnet: '10.244.4.0/24', gateway: '10.244.4.0', vtepMac: '0a:00:00:00:00:04', publicIp: '192.168.1.4' }],
  counters: new FakeVtep().counters(),
  programming: {
    rounds: 3,
    reconciles: 1,
    failures: 0,
    skippedLeases: 2,
    lastRoundMs: 12.5,
    rejected: { ...Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])), 'outside-network': 2 } as Record<RejectReason, number>,
  },
  iptablesRepairs: 0,
  leaseEvents: 7,
};
const ready: Readiness = { ready: true, checks: { leaseHeld: true, deviceUp: true, subnetFileWritten: true } };

describe('Prometheus text', () => {
  it('writes HELP, TYPE and samples; escapes label values; skips empty families', () => {
    const text = renderExposition([
      { name: 'a_total', help: 'line\nbreak', type: 'counter', samples: [{ labels: { reason: 'x"y\\z' }, value: 3 }] },
      { name: 'b', help: 'empty', type: 'gauge', samples: [] },
      { name: 'c', help: 'inf', type: 'gauge', samples: [{ value: Infinity }] },
    ]);
    expect(text).toBe(
      '# HELP a_total line\\nbreak\n# TYPE a_total counter\na_total{reason="x\\"y\\\\z"} 3\n# HELP c inf\n# TYPE c gauge\nc +Inf\n',
    );
  });
});

describe('weftd metrics', () => {
  const text = renderExposition(weftdMetrics(status, ready, 50_000_000));

  it('exports lease expiry, peers, FDB size and readiness', () => {
    expect(text).toContain('weft_lease_expiry_timestamp_seconds 1795341600');
    expect(text).toContain('weft_peers 1\n');
    expect(text).toContain('# TYPE weft_fdb_entries gauge\nweft_fdb_entries 0\n');
    expect(text).toContain('weft_ready 1\n');
    expect(text).toContain('weft_leases_skipped_total 2\n');
    expect(text).toContain('# TYPE weft_leases_rejected_total counter\nweft_leases_rejected_total{reason="malformed"} 0\n');
    expect(text).toContain('weft_leases_rejected_total{reason="outside-network"} 2\n');
    expect(text).toContain('process_resident_memory_bytes 50000000\n');
  });

  it('exports every datapath counter and one drops family with a reason label', () => {
    expect(text).toContain('# TYPE weft_datapath_rx_datagrams_total counter');
    expect(text).toContain('# TYPE weft_datapath_fdb_peers gauge');
    expect(text).toContain('# TYPE weft_datapath_drops_total counter');
    expect(text).toContain('weft_datapath_drops_total{reason="tx_no_fdb"} 0');
    expect(text).toContain('weft_datapath_drops_total{reason="rx_unknown_peer"} 0');
  });

  it('exports the kernel drop counters around the VTEP as weft_kernel_*_total', () => {
    const withKernel = { ...status, counters: { ...status.counters!, kernel: { tap_tx_dropped: 5, tap_rx_dropped: 0, udp_rx_drops: 17 } } };
    const t = renderExposition(weftdMetrics(withKernel, ready, 1));
    expect(t).toContain('# TYPE weft_kernel_tap_tx_dropped_total counter\nweft_kernel_tap_tx_dropped_total 5\n');
    expect(t).toContain('weft_kernel_tap_rx_dropped_total 0\n');
    expect(t).toContain('weft_kernel_udp_rx_drops_total 17\n');
    const unknown = {
      ...status,
      counters: { ...status.counters!, kernel: { tap_tx_dropped: NaN, tap_rx_dropped: NaN, udp_rx_drops: NaN } },
    };
    expect(renderExposition(weftdMetrics(unknown, ready, 1))).not.toContain('weft_kernel_udp_rx_drops_total ');
  });

  it('every line is a comment or `name{labels} value`', () => {
    for (const line of text.trimEnd().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"\})? [-+0-9.eInf]+)$/);
    }
  });

  it('leaves out the expiry when the lease has none (Kubernetes mode)', () => {
    const { expiration: _, ...lease } = status.lease!;
    const t = renderExposition(weftdMetrics({ ...status, lease }, ready, 1));
    expect(t).not.toContain('weft_lease_expiry_timestamp_seconds');
  });
});
