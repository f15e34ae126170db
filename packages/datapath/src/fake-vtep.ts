/**
 * A VTEP that records what the control plane asked for, for the control plane's unit tests (VxlanNetwork, weftd).
 * Keeps pinned entries in a Map and the calls in order; no devices, no worker. As a watched datapath it is always
 * alive (`heartbeat` moves on every read) unless a test sets `failed`.
 */
import type { FdbSpec } from './commands.js';
import { type CounterSnapshot, newCounterArray, snapshotCounters } from './counters.js';
import type { FdbEntry } from './fdb.js';
import { parseIpv4, parseMac } from '@weft/netbase';
import { PER_PACKET, type VtepFeatures } from './offload-features.js';
import type { NodeVtep } from './vtep.js';
import type { VtepRuntimeOptions } from './vtep-state.js';

export class FakeVtep implements NodeVtep {
  readonly fdb = new Map<string, string>();
  readonly calls: string[] = [];
  options: VtepRuntimeOptions = {};
  features: VtepFeatures = PER_PACKET;
  closed = false;
  /** Set by a test: the worker ended with this cause. */
  failed: string | undefined;
  restarts = 0;
  private beats = 0;
  private readonly c = newCounterArray(false);

  constructor(
    readonly name = 'weft.1',
    readonly mac = '02:00:00:00:00:01',
    readonly mtu = 1450,
    readonly vni = 1,
    readonly port = 8472,
  ) {}

  setFdb(mac: string, remote: string): void {
    parseMac(mac);
    parseIpv4(remote);
    this.fdb.set(mac, remote);
    this.calls.push(`set ${mac} ${remote}`);
  }
  deleteFdb(mac: string): void {
    this.fdb.delete(mac);
    this.calls.push(`del ${mac}`);
  }
  replaceFdb(entries: readonly FdbSpec[]): void {
    this.fdb.clear();
    for (const e of entries) this.fdb.set(e.mac, e.remote);
    this.calls.push(`replace ${entries.length}`);
  }
  setOptions(options: VtepRuntimeOptions): void {
    this.options = { ...this.options, ...options };
  }
  counters(): CounterSnapshot {
    return snapshotCounters(this.c);
  }
  async fdbEntries(): Promise<FdbEntry[]> {
    return [...this.fdb].map(([mac, remote]) => ({ mac, remote, kind: 'pinned' as const }));
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  failure(): string | undefined {
    return this.failed;
  }
  heartbeat(): number {
    return ++this.beats;
  }
  progress(): number {
    return 0;
  }
  packetsWaiting(): string {
    return '';
  }
  async restartWorker(): Promise<void> {
    this.restarts++;
    this.failed = undefined;
    this.calls.push('restart-worker');
  }
  detachQueue(): boolean {
    this.calls.push('detach-queue');
    return true;
  }
  async debugTerminateWorker(): Promise<void> {
    this.failed = 'terminated by a test';
  }
  debugStall(_ms: number): void {
    // a fake never stalls
  }
}
