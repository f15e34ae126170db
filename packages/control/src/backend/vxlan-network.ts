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
 * Shape: level-triggered. Lease events only update `leases` (every vxlan lease seen) and ask for an
 * admission; the programming loop first re-runs lease-admission.ts over the whole set against the
 * node's context (its addresses and routes read back from the host in that round), which yields
 * `known` (the accepted peers) and marks the subnets whose peer changed dirty; then it turns the
 * difference between `desired` (known) and `programmed` into FDB calls plus one `ip -batch` per round.
 * A rejection is logged once and counted once per lease and reason (not per round).
 * Only weft's routes are touched: they carry `proto 87` (host-programmer.ts); a route weft did not
 * create for a lease's prefix makes that lease a `route-conflict` instead of being replaced. Events arriving
 * while a round runs are coalesced into the next round, so 1000 leases cost one spawn, not 1000.
 * A `snapshot` (start, re-list after compaction or reconnect) triggers a reconcile against what the
 * host actually has (routes and neighbours read back from the device, the datapath's pinned FDB), which
 * also removes what an earlier run left behind. Failed entries are retried after `retryMs`; weftd also
 * asks for a reconcile every minute (`resync()`), which undoes drift at the cost of two `ip -j` reads.
 */
import type { Logger } from 'pino';
import type { VtepControl } from '@weft/datapath';
import type { Lease, LeaseEvent } from '../subnet/types.js';
import {
  type HostAddress,
  type HostOp,
  type HostOpFailure,
  type HostProgrammer,
  type HostRoute,
  describeHostOp,
} from './host-programmer.js';
import { type VxlanPeer, samePeer } from './vxlan-peer.js';
import { formatIpv4, formatIpv4Cidr, parseIpv4Cidr, type Ipv4Cidr } from '@weft/netbase';
import { REJECT_REASONS, admitLeases, type LeaseVerdict, type RejectReason } from '../subnet/lease-admission.js';

export interface VxlanNetworkOptions {
  vtep: VtepControl;
  host: HostProgrammer;
  logger: Logger;
  /** This node's PublicIP: a lease carrying it is a stale lease of ours, never a peer. */
  publicIp: string;
  /** The cluster network (net-conf.json Network): peers' subnets must lie inside it. */
  network: string;
  /** Addresses the node needs besides its own interfaces' (etcd endpoints, API server). */
  protectedNets?: ReadonlyArray<{ cidr: Ipv4Cidr; what: string }>;
  retryMs?: number;
}

/** One lease (or unusable key) as this node judged it: `weftctl leases` shows these. */
export interface LeaseStatus {
  key: string;
  subnet?: string;
  publicIp?: string;
  vtepMac?: string;
  status: 'accepted' | 'own' | 'rejected';
  reason?: RejectReason;
  detail?: string;
}

export interface VxlanNetworkStats {
  rounds: number;
  reconciles: number;
  failures: number;
  skippedLeases: number;
  lastRoundMs: number;
  /** Rejections by reason, each counted when a lease becomes rejected for that reason. */
  rejected: Record<RejectReason, number>;
}

export class VxlanNetwork {
  private readonly vtep: VtepControl;
  private readonly host: HostProgrammer;
  private readonly log: Logger;
  private readonly publicIp: string;
  private readonly retryMs: number;
  private readonly network: Ipv4Cidr;
  private readonly protectedNets: ReadonlyArray<{ cidr: Ipv4Cidr; what: string }>;
  private ownSubnet: string | undefined;
  /** Every vxlan lease the watch reported, ours included, by subnet. */
  private readonly leases = new Map<string, Lease>();
  /** Keys whose values cannot be leases, with why. */
  private readonly unusable = new Map<string, { reason: 'malformed' | 'oversize'; detail: string }>();
  /** The last admission's verdicts by subnet. */
  private verdicts = new Map<string, LeaseVerdict>();
  private needsAdmission = false;
  /** The accepted peers (the last admission's). */
  private readonly known = new Map<string, VxlanPeer>();
  /** What the host has, as far as this process wrote or verified it. */
  private readonly programmed = new Map<string, VxlanPeer>();
  private readonly dirty = new Set<string>();
  private needsReconcile = false;
  private loop: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Subnets to try again when the retry timer fires; nothing runs until then after a failed round. */
  private readonly retry = new Set<string>();
  /** A failed reconcile (a full comparison with the host) is tried again with them. */
  private retryReconcile = false;
  private paused = false;
  private closed = false;
  readonly stats: VxlanNetworkStats = {
    rounds: 0,
    reconciles: 0,
    failures: 0,
    skippedLeases: 0,
    lastRoundMs: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
  };

  constructor(o: VxlanNetworkOptions) {
    this.vtep = o.vtep;
    this.host = o.host;
    this.log = o.logger;
    this.publicIp = o.publicIp;
    this.network = parseIpv4Cidr(o.network);
    this.protectedNets = o.protectedNets ?? [];
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
      // Judge every lease again against the new subnet, then check the host has every entry.
      this.needsAdmission = true;
      if (previous) this.needsReconcile = true;
      this.kick();
    }
  }

  /** A batch from the subnet manager's watch. Returns at once; programming follows in the loop. */
  handleEvents(events: readonly LeaseEvent[]): void {
    for (const e of events) {
      if (e.type === 'snapshot') {
        this.leases.clear();
        for (const l of e.leases) this.leases.set(l.subnet, l);
        const before = new Map(this.unusable);
        this.unusable.clear();
        for (const u of e.unusable ?? []) this.noteUnusable(u.key, u.reason, u.detail, before.get(u.key)?.reason);
        this.needsReconcile = true;
      } else if (e.type === 'added') {
        this.leases.set(e.lease.subnet, e.lease);
      } else if (e.type === 'removed') {
        this.leases.delete(e.lease.subnet);
      } else if (e.type === 'unusable') {
        this.noteUnusable(e.key, e.reason, e.detail, this.unusable.get(e.key)?.reason);
      } else {
        this.unusable.delete(e.key);
      }
    }
    this.needsAdmission = true;
    this.kick();
  }

  /** Every lease and unusable key with this node's verdict. */
  leaseStatuses(): LeaseStatus[] {
    const out: LeaseStatus[] = [];
    for (const v of this.verdicts.values()) {
      const data = v.lease.attrs.BackendData as { VtepMAC?: unknown } | null;
      out.push({
        key: v.subnet.replace('/', '-'),
        subnet: v.subnet,
        publicIp: v.lease.attrs.PublicIP,
        ...(typeof data?.VtepMAC === 'string' ? { vtepMac: data.VtepMAC } : {}),
        status: v.status,
        ...(v.status === 'rejected' ? { reason: v.reason, detail: v.detail } : {}),
      });
    }
    for (const [key, u] of this.unusable) out.push({ key, status: 'rejected', reason: u.reason, detail: u.detail });
    return out;
  }

  private noteUnusable(key: string, reason: 'malformed' | 'oversize', detail: string, before: string | undefined): void {
    this.unusable.set(key, { reason, detail });
    if (before !== reason) this.stats.rejected[reason]++;
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

  /**
   * Re-runs admission over every lease against the node as it is now (its addresses and routes read
   * back from the host); the subnets whose accepted peer changed become dirty. A lease newly rejected
   * (or rejected for a new reason) is one log line and one count; one newly accepted after being
   * rejected is one line too.
   */
  private async admit(): Promise<void> {
    this.needsAdmission = false;
    const [routes, addresses] = await Promise.all([this.host.routes(), this.host.addresses()]);
    const order = (l: Lease): number => l.order ?? Number.MAX_SAFE_INTEGER;
    const verdicts = admitLeases(
      [...this.leases.values()].map((lease) => ({ lease, order: order(lease) })),
      {
        network: this.network,
        ownSubnet: this.ownSubnet ? parseIpv4Cidr(this.ownSubnet) : undefined,
        publicIp: this.publicIp,
        vtepMac: this.vtep.mac,
        vni: this.vtep.vni,
        protectedNets: [...this.protectedNets, ...nodeNetworks(addresses, routes, this.host.dev)],
        foreignRoutes: new Set(routes.filter((r) => !r.weft).map((r) => r.dst)),
      },
    );
    const next = new Map(verdicts.map((v) => [v.subnet, v]));
    for (const v of verdicts) this.noteVerdict(v, this.verdicts.get(v.subnet));
    this.verdicts = next;
    const accepted = new Map<string, VxlanPeer>();
    for (const v of verdicts) if (v.status === 'accepted') accepted.set(v.subnet, v.peer);
    for (const s of new Set([...accepted.keys(), ...this.known.keys(), ...this.programmed.keys()])) {
      const a = accepted.get(s);
      const k = this.known.get(s);
      if (!a || !k || !samePeer(a, k) || !this.programmed.has(s)) this.dirty.add(s);
    }
    this.known.clear();
    for (const [s, p] of accepted) this.known.set(s, p);
  }

  private noteVerdict(v: LeaseVerdict, before: LeaseVerdict | undefined): void {
    const wasReason = before?.status === 'rejected' ? before.reason : undefined;
    if (v.status === 'rejected') {
      if (wasReason === v.reason) return;
      this.stats.rejected[v.reason]++;
      this.stats.skippedLeases++;
      this.log.warn(
        { subnet: v.subnet, publicIp: v.lease.attrs.PublicIP, reason: v.reason, detail: v.detail },
        `lease rejected: ${v.reason}`,
      );
    } else if (wasReason) {
      this.log.info(
        { subnet: v.subnet, publicIp: v.lease.attrs.PublicIP, was: wasReason },
        v.status === 'own' ? 'lease is our own now' : 'lease accepted (was rejected)',
      );
    }
  }

  private desired(subnet: string): VxlanPeer | undefined {
    return this.known.get(subnet);
  }

  private kick(): void {
    if (this.closed || this.loop || this.paused) return;
    if (!this.needsReconcile && !this.needsAdmission && this.dirty.size === 0) return;
    this.loop = this.runRounds().finally(() => {
      this.loop = undefined;
      this.kick(); // work that arrived between the last check and here
    });
  }

  private async runRounds(): Promise<void> {
    while (!this.closed && (this.needsReconcile || this.needsAdmission || this.dirty.size > 0)) {
      const started = performance.now();
      try {
        if (this.needsAdmission) await this.admit();
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
        this.needsAdmission = true;
        this.scheduleRetry([], { reconcile: true });
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
    const [allRoutes, neighbours, fdb] = await Promise.all([this.host.routes(), this.host.neighbours(), this.vtep.fdbEntries()]);
    // Only weft's routes on weft's device: anything else (an admin's route, the kernel's) is left alone.
    const routes = allRoutes.filter((r) => r.weft && r.dev === this.host.dev);
    const gateways = new Map([...desired.values()].map((p) => [p.gateway, p]));

    const staleRoutes = routes
      .filter((r) => !desired.has(r.dst))
      .map((r): HostOp => ({ op: 'route-del', dst: r.dst, ...(r.legacy ? { legacy: true } : {}) }));
    const staleNeighbours = neighbours
      .filter((n) => n.permanent && !gateways.has(n.ip))
      .map((n): HostOp => ({ op: 'neigh-del', ip: n.ip }));
    const removeFailures = await this.host.apply([...staleRoutes, ...staleNeighbours]);

    const pinned = fdb.filter((e) => e.kind === 'pinned');
    const wantFdb = new Map([...desired.values()].map((p) => [p.vtepMac, p.publicIp]));
    const fdbOk = pinned.length === wantFdb.size && pinned.every((e) => wantFdb.get(e.mac) === e.remote);
    if (!fdbOk) this.vtep.replaceFdb([...desired.values()].map((p) => ({ mac: p.vtepMac, remote: p.publicIp })));

    const routeOk = new Set(routes.filter((r) => !r.legacy && r.onlink && r.gateway === desired.get(r.dst)?.gateway).map((r) => r.dst));
    const neighOk = new Set(neighbours.filter((n) => n.permanent && n.mac === gateways.get(n.ip)?.vtepMac).map((n) => n.ip));
    const addOps: HostOp[] = [];
    for (const p of desired.values()) {
      if (!neighOk.has(p.gateway)) addOps.push(additionOps(p)[0]);
      if (!routeOk.has(p.subnet)) addOps.push(additionOps(p)[1]);
    }
    const failures = [...removeFailures, ...(await this.host.apply(addOps))];
    const failed = this.noteFailures(failures);
    if (failures.length > 0) this.scheduleRetry([], { reconcile: true });

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

  private scheduleRetry(subnets: readonly string[], opts: { reconcile?: boolean } = {}): void {
    for (const s of subnets) this.retry.add(s);
    if (opts.reconcile) this.retryReconcile = true;
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.paused = false;
      for (const s of this.retry) this.dirty.add(s);
      this.retry.clear();
      if (this.retryReconcile) this.needsReconcile = true;
      this.retryReconcile = false;
      this.kick();
    }, this.retryMs);
    this.retryTimer.unref();
  }

  private dropFdbIfUnused(mac: string): void {
    for (const p of this.programmed.values()) if (p.vtepMac === mac) return;
    this.vtep.deleteFdb(mac);
  }
}

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

/**
 * What the node itself needs, from its interfaces and routes: every address (as a /32) and network on
 * an interface other than weft's device, and the default gateway.
 */
function nodeNetworks(
  addresses: readonly HostAddress[],
  routes: readonly HostRoute[],
  weftDev: string,
): Array<{ cidr: Ipv4Cidr; what: string }> {
  const out: Array<{ cidr: Ipv4Cidr; what: string }> = [];
  for (const a of addresses) {
    if (a.dev === weftDev) continue;
    try {
      const net = parseIpv4Cidr(`${a.local}/${a.prefixLen}`, { allowHostBits: true });
      out.push({ cidr: { base: parseIpv4Cidr(`${a.local}/32`).base, prefixLen: 32 }, what: `${a.dev} address ${a.local}` });
      if (a.prefixLen < 32)
        out.push({ cidr: { base: net.base, prefixLen: net.prefixLen }, what: `${a.dev} network ${formatIpv4Cidr(net)}` });
    } catch {
      // not an IPv4 address we can read: nothing to protect
    }
  }
  for (const r of routes) {
    if (r.dst !== '0.0.0.0/0' || !r.gateway) continue;
    try {
      out.push({ cidr: parseIpv4Cidr(`${r.gateway}/32`), what: `default gateway ${r.gateway}` });
    } catch {
      // an IPv6 or odd gateway: nothing to protect
    }
  }
  return out;
}
