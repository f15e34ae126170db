/**
 * The vxlan backend's network: flannel's pkg/backend/vxlan on weft's userspace VTEP.
 *
 * Why three entries per remote node are enough: every pod subnet of node N is reached through N's
 * VTEP. The route `10.244.2.0/24 via 10.244.2.0 dev weft.1 onlink` sends the subnet to a gateway that
 * is N's subnet network address; the permanent neighbour `10.244.2.0 lladdr <N's VtepMAC>` answers
 * the kernel's ARP for that gateway without any ARP on the wire; the FDB entry `<N's VtepMAC> → N's
 * PublicIP` tells the datapath where to send frames for that MAC. No flooding, no learning, one route
 * per node whatever its pod count. Each is written before the one that needs it (FDB, neighbour,
 * route) and removed in the reverse order, so a route never points at a missing neighbour or MAC.
 *
 * Shape: level-triggered. Lease events only update `known` (every valid vxlan lease) and mark
 * subnets dirty; one programming loop at a time turns the difference between `desired` (known minus
 * our own subnet) and `programmed` into FDB calls plus one `ip -batch` per round. Events arriving
 * while a round runs are coalesced into the next round, so 1000 leases cost one spawn, not 1000.
 * A `snapshot` (start, re-list after compaction or reconnect) triggers a reconcile against what the
 * host actually has (routes and neighbours read back from the device, the datapath's pinned FDB), which
 * also removes what an earlier run left behind. Failed entries are retried after `retryMs`; weftd also
 * asks for a reconcile every minute (`resync()`), which undoes drift at the cost of two `ip -j` reads.
 */
import type { Logger } from 'pino';
import type { VtepControl } from '@weft/datapath';
import type { Lease, LeaseEvent } from '../subnet/types.js';
import { type HostOp, type HostOpFailure, type HostProgrammer, describeHostOp } from './host-programmer.js';
import { type VxlanPeer, decodeVxlanPeer, samePeer } from './vxlan-peer.js';
import { formatIpv4 } from '@weft/netbase';
import { formatIpv4Cidr, parseIpv4Cidr } from '../net/ipv4-cidr.js';

export interface VxlanNetworkOptions {
  vtep: VtepControl;
  host: HostProgrammer;
  logger: Logger;
  /** This node's PublicIP: a lease carrying it is a stale lease of ours, never a peer. */
  publicIp: string;
  retryMs?: number;
}

export interface VxlanNetworkStats {
  rounds: number;
  reconciles: number;
  failures: number;
  skippedLeases: number;
  lastRoundMs: number;
}

export class VxlanNetwork {
  private readonly vtep: VtepControl;
  private readonly host: HostProgrammer;
  private readonly log: Logger;
  private readonly publicIp: string;
  private readonly retryMs: number;
  private ownSubnet: string | undefined;
  /** Every valid vxlan lease the watch reported, ours included. */
  private readonly known = new Map<string, VxlanPeer>();
  /** What the host has, as far as this process wrote or verified it. */
  private readonly programmed = new Map<string, VxlanPeer>();
  private readonly dirty = new Set<string>();
  private needsReconcile = false;
  private loop: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Subnets (or `reconcile`) to try again when the retry timer fires; nothing runs until then after a failed round. */
  private readonly retry = new Set<string>();
  private paused = false;
  private closed = false;
  readonly stats: VxlanNetworkStats = { rounds: 0, reconciles: 0, failures: 0, skippedLeases: 0, lastRoundMs: 0 };

  constructor(o: VxlanNetworkOptions) {
    this.vtep = o.vtep;
    this.host = o.host;
    this.log = o.logger;
    this.publicIp = o.publicIp;
    this.retryMs = o.retryMs ?? 5000;
  }

  /** Our lease (first, or re-acquired, maybe with another subnet): device address, then re-program. */
  async setOwnLease(lease: Lease): Promise<void> {
    const c = parseIpv4Cidr(lease.subnet);
    const subnet = formatIpv4Cidr(c);
    await this.host.setAddress(`${formatIpv4(c.base)}/32`);
    const previous = this.ownSubnet;
    this.ownSubnet = subnet;
    if (previous !== subnet) {
      this.log.info({ subnet, previous, dev: this.host.dev }, 'vxlan device addressed for our subnet');
      if (previous) this.dirty.add(previous);
      this.dirty.add(subnet);
      this.kick();
    }
  }

  /** A batch from the subnet manager's watch. Returns at once; programming follows in the loop. */
  handleEvents(events: readonly LeaseEvent[]): void {
    for (const e of events) {
      if (e.type === 'snapshot') {
        this.known.clear();
        for (const l of e.leases) this.learn(l);
        this.needsReconcile = true;
        this.dirty.clear();
      } else if (e.type === 'added') {
        if (!this.learn(e.lease)) this.forget(e.lease.subnet);
      } else {
        this.forget(e.lease.subnet);
      }
    }
    this.kick();
  }

  /** Schedules a full reconcile against the host (weftd calls it periodically to undo drift: a route
   *  someone deleted, an entry left by a failed change whose lease then went away). */
  resync(): void {
    this.needsReconcile = true;
    this.kick();
  }

  /** Peers as programmed on the host right now. */
  peers(): VxlanPeer[] {
    return [...this.programmed.values()];
  }

  /** Resolves once no programming is pending (tests, bench, readiness). */
  async settled(): Promise<void> {
    while (this.loop) await this.loop;
  }

  /** Stops programming. Leaves every entry in place: a restarted weftd re-syncs against them. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.settled();
  }

  private learn(lease: Lease): boolean {
    const d = decodeVxlanPeer(lease, this.vtep.vni);
    if (!d.ok) {
      this.stats.skippedLeases++;
      this.log.warn({ subnet: lease.subnet, reason: d.reason }, 'lease skipped: not a usable vxlan lease');
      return false;
    }
    if (d.peer.publicIp === this.publicIp || d.peer.vtepMac === this.vtep.mac) {
      if (d.peer.subnet !== this.ownSubnet) {
        this.log.warn({ subnet: d.peer.subnet, publicIp: d.peer.publicIp }, 'lease skipped: it carries this node\'s PublicIP or VTEP MAC (a stale lease of this node?)');
      }
      this.forget(d.peer.subnet);
      return true;
    }
    this.known.set(d.peer.subnet, d.peer);
    this.dirty.add(d.peer.subnet);
    return true;
  }

  private forget(subnet: string): void {
    if (this.known.delete(subnet) || this.programmed.has(subnet)) this.dirty.add(subnet);
  }

  private desired(subnet: string): VxlanPeer | undefined {
    return subnet === this.ownSubnet ? undefined : this.known.get(subnet);
  }

  private kick(): void {
    if (this.closed || this.loop || this.paused) return;
    if (!this.needsReconcile && this.dirty.size === 0) return;
    this.loop = this.runRounds().finally(() => {
      this.loop = undefined;
      this.kick(); // work that arrived between the last check and here
    });
  }

  private async runRounds(): Promise<void> {
    while (!this.closed && (this.needsReconcile || this.dirty.size > 0)) {
      const started = performance.now();
      try {
        if (this.needsReconcile) {
          this.needsReconcile = false;
          this.dirty.clear();
          await this.reconcile();
        } else {
          const subnets = [...this.dirty];
          this.dirty.clear();
          await this.applyChanges(subnets);
        }
      } catch (e) {
        this.stats.failures++;
        this.log.error({ err: e, retryMs: this.retryMs }, 'programming round failed; a full reconcile follows');
        this.paused = true;
        this.scheduleRetry([RECONCILE]);
        return;
      }
      this.stats.rounds++;
      this.stats.lastRoundMs = performance.now() - started;
    }
  }

  /** Incremental round: only the subnets whose lease changed. */
  private async applyChanges(subnets: readonly string[]): Promise<void> {
    const adds: VxlanPeer[] = [];
    const removes: VxlanPeer[] = [];
    for (const s of subnets) {
      const want = this.desired(s);
      const have = this.programmed.get(s);
      if (want && (!have || !samePeer(want, have))) adds.push(want);
      else if (!want && have) removes.push(have);
    }
    if (adds.length + removes.length === 0) return;
    for (const p of adds) this.vtep.setFdb(p.vtepMac, p.publicIp);
    const ops = [...removes.flatMap(removalOps), ...adds.flatMap(additionOps)];
    const failures = await this.host.apply(ops);
    const failed = this.noteFailures(failures);
    for (const p of adds) {
      const old = this.programmed.get(p.subnet);
      if (failed.has(p.subnet)) continue;
      this.programmed.set(p.subnet, p);
      if (old && old.vtepMac !== p.vtepMac) this.dropFdbIfUnused(old.vtepMac);
      this.log.info({ subnet: p.subnet, publicIp: p.publicIp, vtepMac: p.vtepMac }, old ? 'peer updated' : 'peer added');
    }
    for (const p of removes) {
      if (failed.has(p.subnet)) continue;
      this.programmed.delete(p.subnet);
      this.dropFdbIfUnused(p.vtepMac);
      this.log.info({ subnet: p.subnet, publicIp: p.publicIp }, 'peer removed');
    }
  }

  /**
   * Full round after a snapshot: read the device's routes and neighbours and the datapath's pinned
   * FDB, remove what is not desired (stale state of an earlier run included), add what is missing.
   */
  private async reconcile(): Promise<void> {
    this.stats.reconciles++;
    const desired = new Map<string, VxlanPeer>();
    for (const s of this.known.keys()) {
      const p = this.desired(s);
      if (p) desired.set(s, p);
    }
    const [routes, neighbours, fdb] = await Promise.all([this.host.routes(), this.host.neighbours(), this.vtep.fdbEntries()]);
    const gateways = new Map([...desired.values()].map((p) => [p.gateway, p]));

    const staleRoutes = routes.filter((r) => !desired.has(r.dst)).map((r): HostOp => ({ op: 'route-del', dst: r.dst }));
    const staleNeighbours = neighbours
      .filter((n) => n.permanent && !gateways.has(n.ip))
      .map((n): HostOp => ({ op: 'neigh-del', ip: n.ip }));
    const removeFailures = await this.host.apply([...staleRoutes, ...staleNeighbours]);

    const pinned = fdb.filter((e) => e.kind === 'pinned');
    const wantFdb = new Map([...desired.values()].map((p) => [p.vtepMac, p.publicIp]));
    const fdbOk = pinned.length === wantFdb.size && pinned.every((e) => wantFdb.get(e.mac) === e.remote);
    if (!fdbOk) this.vtep.replaceFdb([...desired.values()].map((p) => ({ mac: p.vtepMac, remote: p.publicIp })));

    const routeOk = new Set(routes.filter((r) => r.onlink && r.gateway === desired.get(r.dst)?.gateway).map((r) => r.dst));
    const neighOk = new Set(neighbours.filter((n) => n.permanent && n.mac === gateways.get(n.ip)?.vtepMac).map((n) => n.ip));
    const addOps: HostOp[] = [];
    for (const p of desired.values()) {
      if (!neighOk.has(p.gateway)) addOps.push(additionOps(p)[0]!);
      if (!routeOk.has(p.subnet)) addOps.push(additionOps(p)[1]!);
    }
    const failures = [...removeFailures, ...(await this.host.apply(addOps))];
    const failed = this.noteFailures(failures);
    if (failures.length > 0) this.scheduleRetry([RECONCILE]);

    this.programmed.clear();
    for (const [s, p] of desired) if (!failed.has(s)) this.programmed.set(s, p);
    const changed = staleRoutes.length + staleNeighbours.length + addOps.length > 0 || !fdbOk;
    this.log[changed || this.stats.reconciles === 1 ? 'info' : 'debug'](
      {
        peers: this.programmed.size,
        removedRoutes: staleRoutes.length,
        removedNeighbours: staleNeighbours.length,
        added: addOps.length,
        fdbReplaced: !fdbOk,
        failed: failed.size,
      },
      'reconciled peers against the host',
    );
  }

  /** Logs failures, schedules their subnets for a retry, returns the set of affected subnets. */
  private noteFailures(failures: readonly HostOpFailure[]): Set<string> {
    const subnets = new Set<string>();
    for (const f of failures) {
      const s = subnetOfOp(f.op, this.known, this.programmed);
      if (s) subnets.add(s);
      this.stats.failures++;
      this.log.warn({ op: describeHostOp(f.op), error: f.message, dev: this.host.dev }, 'host programming failed; will retry');
    }
    if (subnets.size > 0) this.scheduleRetry([...subnets]);
    return subnets;
  }

  private scheduleRetry(subnets: readonly string[]): void {
    for (const s of subnets) this.retry.add(s);
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.paused = false;
      for (const s of this.retry) {
        if (s === RECONCILE) this.needsReconcile = true;
        else this.dirty.add(s);
      }
      this.retry.clear();
      this.kick();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private dropFdbIfUnused(mac: string): void {
    for (const p of this.programmed.values()) if (p.vtepMac === mac) return;
    this.vtep.deleteFdb(mac);
  }
}

const RECONCILE = 'reconcile';

/** neighbour, then route (FDB goes before both, outside the batch). */
function additionOps(p: VxlanPeer): [HostOp, HostOp] {
  return [
    { op: 'neigh-replace', ip: p.gateway, mac: p.vtepMac },
    { op: 'route-replace', dst: p.subnet, via: p.gateway },
  ];
}

/** route, then neighbour (FDB goes after both, outside the batch). */
function removalOps(p: VxlanPeer): HostOp[] {
  return [
    { op: 'route-del', dst: p.subnet },
    { op: 'neigh-del', ip: p.gateway },
  ];
}

function subnetOfOp(op: HostOp, ...maps: Array<Map<string, VxlanPeer>>): string | undefined {
  if (op.op === 'route-del' || op.op === 'route-replace') return op.dst;
  for (const m of maps) for (const p of m.values()) if (p.gateway === op.ip) return p.subnet;
  return undefined;
}
