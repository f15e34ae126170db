/**
 * weftd: the node agent, wired like flanneld's main but in small steps.
 *
 *   underlay (iface, PublicIP, MTU) → subnet manager (etcd or Kubernetes) → network config
 *   → VTEP `weft.<VNI>` (persistent TAP, derived MAC) → our lease → device address, subnet file,
 *   iptables → lease keeper (renewal; lost → re-acquire → re-program) → lease watch → VxlanNetwork.
 *
 * Local state first: with a state file from an earlier run (state/node-state.ts) the VTEP opens and
 * its FDB is programmed from it before etcd, gRPC or the Kubernetes client are even imported; the
 * subnet manager then reconciles. Host lock and hand-over (state/handover.ts): one weftd per node is
 * the lease keeper and host programmer (flock on <run dir>/weftd.lock); a second one (a surge
 * upgrade) opens its own TAP queue and socket, forwards, asks the holder over <run dir>/weftd.sock
 * to let go, takes the lock and carries on; the old one detaches and leaves. The datapath worker is
 * watched (VtepWatchdog): a dead or wedged worker is restarted from the FDB copy.
 *
 * The node itself (underlay, subnet manager, VTEP, host programmer, NetworkPolicy) comes through
 * WeftdDeps (weftd-deps.ts): linuxDeps in production, fakes in test/weftd.test.ts.
 *
 * Lifecycle in one method: `run()` starts everything, waits for `stop()` (SIGTERM), then takes down
 * what it started, in reverse, whether startup finished or failed half-way. What it deliberately
 * leaves behind: the lease in etcd (a restart reuses it), the persistent TAP with its address,
 * routes and neighbours, the state file (the next start forwards from it at once) and the NetworkPolicy
 * table `inet weft` (pods stay protected across a restart). What it removes: its iptables chains (not
 * after a hand-over: the new weftd keeps them). `--cleanup` removes the rest. Waiting for etcd (config,
 * lease) retries with backoff and is cut short by stop().
 *
 * Failure policy: a bad configuration (flags, net-conf.json, MTU, a port taken) stops weftd with an
 * error naming the cause; anything that can heal (etcd down, network full, a failed route) is
 * retried and logged, never fatal.
 */
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  HostLock,
  VtepWatchdog,
  VTEP_MAX_MTU,
  VTEP_MIN_MTU,
  VXLAN_OVERHEAD_V4,
  describeFeatures,
  type NodeVtep,
  type WatchdogEvent,
} from '@weft/datapath';
import type { WeftdConfig } from './cli/weftd-flags.js';
import { ConfigError } from './cli/weftd-flags.js';
import type { HostProgrammer } from './backend/host-programmer.js';
import { VxlanNetwork } from './backend/vxlan-network.js';
import { deriveVtepMac, vtepDeviceName } from './backend/vtep-mac.js';
import { NetConfError } from './config/net-conf.js';
import type { Underlay } from './host/underlay.js';
import { IptablesChains } from './host/iptables-chains.js';
import { forwardChain, masqChain, supportsRandomFully, type OwnedChain } from './host/ip-masq.js';
import { readPreviousSubnet, writeSubnetFile } from './host/subnet-file.js';
import { runHostTool } from './host/host-tool.js';
import type { NetworkPolicyHandle } from './host/network-policy.js';
import { containsAddress, parseIpv4Cidr, parseIpv4 } from '@weft/netbase';
import type { Liveness, NodeStatus, Readiness, StatusSource } from './http/node-status.js';
import { livenessOf, readinessOf } from './http/node-health.js';
import { StatusServer } from './http/status-server.js';
import { RetryBackoff, sleep } from './retry-backoff.js';
import { linuxDeps, type WeftdDeps } from './weftd-deps.js';
import { LeaseKeeper } from './subnet/lease-keeper.js';
import type { Lease, LeaseEvent, NetworkConfig, SubnetManager } from './subnet/types.js';
import { HandoverListener, requestHandover } from './state/handover.js';
import { type NodeState, NodeStateFile, PeerLeaseMirror, type StateVtep, readNodeState } from './state/node-state.js';
import { admitLeases, protectedEndpoints } from './subnet/lease-admission.js';
import { SubnetMove } from './host/subnet-move.js';

/** How often the peers are reconciled against the host even without a snapshot (drift repair). */
const PEER_RESYNC_MS = 60_000;

export class Weftd implements StatusSource {
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly startedAt = new Date();
  private sm: SubnetManager | undefined;
  private http: StatusServer | undefined;
  private vtep: NodeVtep | undefined;
  private host: HostProgrammer | undefined;
  private network: VxlanNetwork | undefined;
  private keeper: LeaseKeeper | undefined;
  private iptables: IptablesChains | undefined;
  private netpol: NetworkPolicyHandle | undefined;
  private watch: Promise<void> | undefined;
  private netConfig: NetworkConfig | undefined;
  private underlay: Underlay | undefined;
  private lease: Lease | undefined;
  private leaseHeld = false;
  private subnetFileWritten = false;
  private leaseEvents = 0;
  /** The subnet file's subnet at start; then set while pods may remain on a subnet we no longer hold. */
  private previousSubnet: string | undefined;
  private subnetMove: SubnetMove | undefined;
  /** Re-programming after a lease change runs one at a time. */
  private reprogram: Promise<void> = Promise.resolve();
  private readonly lock: HostLock;
  private readonly stateFile: NodeStateFile;
  private readonly peerLeases = new PeerLeaseMirror();
  private handoverListener: HandoverListener | undefined;
  private watchdog: VtepWatchdog | undefined;
  /** Aborted by stop() and by a hand-over: ends the control plane (etcd, programming), not the datapath. */
  private control = new AbortController();
  private handedOver = false;
  private datapathGaveUp: string | undefined;
  /** The state as last read or written. */
  private lastSaved: NodeState | undefined;
  private runDirUsable = true;

  constructor(
    private readonly config: WeftdConfig,
    logger: Logger,
    private readonly version = '0.0.0',
    private readonly deps: WeftdDeps = linuxDeps,
  ) {
    this.log = logger;
    this.lock = new HostLock(join(config.runDir, 'weftd.lock'));
    this.stateFile = NodeStateFile.inRunDir(config.runDir);
    this.abort.signal.addEventListener('abort', () => this.control.abort(), { once: true });
  }

  private get socketPath(): string {
    return join(this.config.runDir, 'weftd.sock');
  }

  /** Asks run() to finish (SIGTERM). Safe to call at any time, more than once. */
  stop(): void {
    this.abort.abort();
  }

  /** Starts the node, serves until stop(), then stops it. Rejects when startup fails. */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      await this.start(signal);
      if (!signal.aborted) {
        this.log.info({ subnet: this.lease?.subnet, dev: this.vtep?.name }, 'weftd is up');
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      }
    } finally {
      await this.teardown();
    }
    if (this.datapathGaveUp) throw new Error(`datapath failed too often: ${this.datapathGaveUp}`);
  }

  /**
   * Datapath from the state file first (no etcd), then the host lock (asking a running weftd to hand
   * over if it holds it), then the control plane.
   */
  private async start(signal: AbortSignal): Promise<void> {
    this.runDirUsable = this.prepareRunDir();
    const saved = this.runDirUsable ? await this.loadState() : undefined;
    const free = this.runDirUsable ? this.lock.tryAcquire() : true;
    if (saved) await this.openVtepFromState(saved);
    if (!free) await this.takeOver(signal);
    if (signal.aborted) return;
    if (this.runDirUsable) await this.becomeHolder(saved);
    await this.startControl(this.control.signal);
  }

  /** The run dir holds the state file, the lock and the socket; without it weftd runs, warned, with none of them. */
  private prepareRunDir(): boolean {
    try {
      mkdirSync(this.config.runDir, { recursive: true });
      return true;
    } catch (e) {
      this.log.warn(
        { runDir: this.config.runDir, err: e },
        '--run-dir unusable: no state file (restarts wait for etcd), no host lock, no hand-over',
      );
      return false;
    }
  }

  /** The state file, validated; undefined (logged) when absent or unusable: an ordinary cold start. */
  private async loadState(): Promise<NodeState | undefined> {
    try {
      const r = await readNodeState(this.stateFile.path);
      if (!r) return undefined;
      if (r.droppedPeers > 0)
        this.log.warn({ path: this.stateFile.path, dropped: r.droppedPeers }, 'state file: malformed peer leases skipped');
      return r.state;
    } catch (e) {
      this.log.warn({ path: this.stateFile.path, err: e }, 'state file unusable; starting without it');
      return undefined;
    }
  }

  /** Opens the VTEP as the state file describes it, its FDB from the stored peers (decoded as etcd's leases are). */
  private async openVtepFromState(st: NodeState): Promise<void> {
    const t0 = performance.now();
    const fdb: Array<{ mac: string; remote: string }> = [];
    try {
      // The stored peers pass the same lease admission as etcd's: a hostile lease saved before it lost must not
      // re-point a victim's FDB entry until the first round. Without a stored order, the order first seen wins.
      const verdicts = admitLeases(
        st.peers.map((lease, i) => ({ lease, order: lease.order ?? i })),
        {
          network: parseIpv4Cidr(st.network.network),
          ownSubnet: st.ownLease ? parseIpv4Cidr(st.ownLease.subnet) : undefined,
          publicIp: st.publicIp,
          vtepMac: st.vtep.mac,
          vni: st.vtep.vni,
          protectedNets: protectedEndpoints(this.controlEndpoints()),
          foreignRoutes: new Set(),
        },
      );
      for (const v of verdicts) if (v.status === 'accepted') fdb.push({ mac: v.peer.vtepMac, remote: v.peer.publicIp });
      await this.openVtepWith(st.vtep, fdb, { restart: true });
      this.netConfig = st.network;
      this.lastSaved = st;
      const mark = (n: string): number | undefined => {
        const m = performance.getEntriesByName(n)[0];
        return m ? Math.round(m.startTime) : undefined;
      };
      const phases = {
        mainMs: mark('weftd-main'),
        importedMs: mark('weftd-imported'),
        openStartMs: Math.round(t0),
        forwardingMs: Math.round(performance.now()),
      };
      this.log.info({ dev: st.vtep.name, peers: fdb.length, ...phases }, 'datapath forwarding from the state file');
    } catch (e) {
      this.log.warn({ err: e }, 'opening the VTEP from the state file failed; it opens once the subnet manager answers');
    }
  }

  /** Another weftd holds the lock: ask it to hand over, then wait for the lock. */
  private async takeOver(signal: AbortSignal): Promise<void> {
    this.log.info({ socket: this.socketPath, forwarding: this.vtep !== undefined }, 'another weftd holds the node; asking it to hand over');
    const r = await requestHandover(this.socketPath);
    this.log.info({ result: r.result }, 'hand-over request answered');
    const pauseMs = process.env.WEFTD_DEBUG_HOOKS === '1' ? Number(process.env.WEFTD_DEBUG_HANDOVER_PAUSE_MS ?? 0) : 0;
    if (pauseMs > 0) {
      this.log.warn({ pauseMs }, 'hand-over paused before taking the lock (test hook)');
      await sleep(pauseMs, signal);
    }
    const got = await this.lock.acquire(Number.MAX_SAFE_INTEGER, signal);
    if (!got) return;
    if (r.result === 'released') r.confirm();
    this.log.info('host lock taken: this weftd keeps the lease and programs the node');
  }

  /** Holding the lock: listen for hand-over requests, program the host from the state file. */
  private async becomeHolder(saved: NodeState | undefined): Promise<void> {
    this.handoverListener = await HandoverListener.listen(this.socketPath, {
      release: (pid) => this.release(pid),
      takenOver: () => void this.leave(),
      aborted: () => void this.resume(),
    });
    if (!saved || !this.vtep || !saved.ownLease) return;
    const network = this.ensureNetwork();
    const own: Lease = { subnet: saved.ownLease.subnet, attrs: saved.ownLease.attrs };
    for (const p of saved.peers) this.peerLeases.apply([{ type: 'added', lease: p }]);
    network.setOwnLease(own).catch((e: unknown) => this.log.warn({ err: e }, 'restoring the device address from the state file failed'));
    network.handleEvents([{ type: 'snapshot', leases: [own, ...saved.peers] }]);
  }

  private ensureNetwork(): VxlanNetwork {
    if (!this.network) {
      this.host = this.deps.hostProgrammer(this.vtep!.name);
      this.network = new VxlanNetwork({
        vtep: this.vtep!,
        host: this.host,
        logger: this.log.child({ component: 'vxlan' }),
        publicIp: this.underlay?.publicIp ?? this.savedPublicIp(),
        network: (this.netConfig ?? this.lastSaved?.network)!.network,
        protectedNets: protectedEndpoints(this.controlEndpoints()),
      });
    }
    return this.network;
  }

  /** etcd endpoints or the API server: no lease may route them into the overlay (known before the manager exists). */
  private controlEndpoints(): string[] {
    const c = this.config;
    if (this.sm?.endpoints) return [...this.sm.endpoints];
    const env = process.env;
    const inCluster = env.KUBERNETES_SERVICE_HOST ? [`https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`] : [];
    return c.kubeSubnetMgr ? (c.kubeApiUrl ? [c.kubeApiUrl] : inCluster) : [...c.etcdEndpoints, ...(c.kubeApiUrl ? [c.kubeApiUrl] : [])];
  }

  private savedPublicIp(): string {
    return this.lastSaved?.publicIp ?? '0.0.0.0';
  }

  /** Writes the state file when what it holds changed (never fatal: the next change tries again). */
  private saveState(): void {
    const v = this.vtep;
    const u = this.underlay;
    if (!v || !u || !this.netConfig) return;
    const l = this.lease;
    const st: NodeState = {
      version: 1,
      vtep: { ...vtepIdentity(v), bind: u.ifaceAddr, offload: this.config.vtepOffload },
      publicIp: u.publicIp,
      network: this.netConfig,
      ...(l ? { ownLease: { subnet: l.subnet, attrs: l.attrs } } : {}),
      peers: this.peerLeases.list().filter((p) => p.subnet !== l?.subnet),
    };
    this.lastSaved = st;
    if (!this.runDirUsable) return;
    this.stateFile.save(st).catch((e: unknown) => this.log.warn({ err: e }, 'writing the state file failed'));
  }

  /** The control plane: HTTP, underlay, subnet manager, lease, watch. Ends when `signal` aborts. */
  private async startControl(signal: AbortSignal): Promise<void> {
    const c = this.config;
    if (c.healthzPort > 0) this.http = await this.listenHttp();
    const underlay = await this.deps.findUnderlay({ ifaces: c.ifaces, ...(c.publicIp ? { publicIp: c.publicIp } : {}) });
    this.underlay = underlay;
    const previousSubnet = await readPreviousSubnet(c.subnetFile);
    this.previousSubnet = previousSubnet;
    this.log.info({ ...underlay, previousSubnet }, 'underlay found');
    const sm = await this.deps.createSubnetManager(c, { previousSubnet, logger: this.log.child({ component: 'subnet' }) });
    this.sm = sm;
    // In Kubernetes mode the config is a local file: any error there is a configuration error.
    const fatal = (e: unknown): boolean => e instanceof NetConfError || c.kubeSubnetMgr;
    const netConfig = await this.retrying('reading the network config', () => sm.getNetworkConfig(), signal, fatal);
    if (!netConfig) return;
    this.netConfig = netConfig;
    if (!this.vtep || !this.vtepMatches(netConfig, underlay)) await this.openVtep(netConfig, underlay);
    this.ensureNetwork();
    this.saveState();
    const lease = await this.retrying('acquiring a subnet lease', () => sm.acquireLease(this.leaseAttrs(), signal), signal);
    if (!lease) return;
    await this.applyLease(lease);
    this.keepLease(sm, lease);
    this.watch = sm.watchLeases((events) => this.onLeaseEvents(events), signal);
    const resync = setInterval(() => this.network?.resync(), PEER_RESYNC_MS).unref();
    signal.addEventListener('abort', () => clearInterval(resync), { once: true });
    this.iptables?.start(c.iptablesResync * 1000);
    await this.startPolicy(signal);
    await warnIfNotForwarding(this.log);
  }

  /** --network-policy: enforce NetworkPolicy for the pods of our lease's subnet; off: weft's nft table removed. */
  private async startPolicy(signal: AbortSignal): Promise<void> {
    if (!this.config.networkPolicy) return this.deps.removePolicy(this.log);
    // Called with addresses the compiler already validated; the lease can change (re-acquired), so read it each time.
    const isLocal = (ip: string): boolean => this.lease !== undefined && containsAddress(parseIpv4Cidr(this.lease.subnet), parseIpv4(ip));
    const netpol = await this.deps.startPolicy(this.config, isLocal, this.log.child({ component: 'policy' }), signal);
    this.netpol = netpol;
    this.policy = async (pod) => netpol.explain(pod);
  }

  private listenHttp(): Promise<StatusServer> {
    const c = this.config;
    return StatusServer.listen(this, c.healthzIp, c.healthzPort, this.log.child({ component: 'http' }));
  }

  /** Whether the VTEP opened from the state file is what the config and underlay ask for now. */
  private vtepMatches(nc: NetworkConfig, u: Underlay): boolean {
    const v = this.vtep!;
    const mtu = nc.backend.mtu ?? u.mtu - VXLAN_OVERHEAD_V4;
    const same =
      v.vni === nc.backend.vni &&
      v.port === nc.backend.port &&
      v.mtu === mtu &&
      v.mac === deriveVtepMac(u.publicIp, nc.backend.vni) &&
      this.lastSaved?.vtep.bind === u.ifaceAddr;
    if (!same) this.log.warn({ dev: v.name }, 'the VTEP of the state file differs from the config or underlay now; re-opening it');
    return same;
  }

  // --- hand-over, old side ---

  /** A newer weftd forwards already and asks for the node: stop keeping and programming, let go of the lock. */
  private async release(pid: number): Promise<void> {
    this.log.info({ pid }, 'hand-over requested by a newer weftd; releasing the node');
    await this.stopControl();
    void this.handoverListener?.close(); // stops accepting now; the requester's connection stays open
    this.handoverListener = undefined;
    this.lock.release();
  }

  /** The newer weftd holds the lock: detach our TAP queue (the kernel sends to its queue), stop, leave. */
  private async leave(): Promise<void> {
    this.handedOver = true;
    this.watchdog?.stop();
    const detached = this.vtep?.detachQueue() ?? false;
    await sleep(50); // the worker drains what its queue and socket still hold
    await this.vtep?.close();
    this.vtep = undefined;
    this.log.info({ detached, after: this.config.afterHandover }, 'handed the node over to a newer weftd');
    if (this.config.afterHandover === 'exit') this.stop();
  }

  /** The newer weftd went away before taking over: take the lock back and carry on. */
  private async resume(): Promise<void> {
    this.log.warn('hand-over aborted (the newer weftd went away); resuming');
    if (!(await this.lock.acquire(Number.MAX_SAFE_INTEGER, this.abort.signal))) return;
    this.control = new AbortController();
    if (this.abort.signal.aborted) return;
    await this.becomeHolder(undefined);
    await this.startControl(this.control.signal).catch((e: unknown) => {
      this.log.fatal({ err: e }, `resuming after an aborted hand-over failed: ${(e as Error).message}`);
      this.datapathGaveUp = (e as Error).message;
      this.stop();
    });
  }

  /** Ends the control plane (lease keeping, watch, programming, iptables checks, HTTP); the datapath stays. */
  private async stopControl(): Promise<void> {
    this.control.abort();
    this.keeper?.stop();
    this.keeper = undefined;
    this.leaseHeld = false;
    for (const step of [
      () => this.watch,
      () => this.reprogram,
      () => this.network?.close(),
      () => this.iptables?.pause(),
      () => this.http?.close(),
      () => this.sm?.close(),
    ]) {
      await Promise.resolve(step()).catch((e: unknown) => this.log.warn({ err: e }, 'stopping the control plane'));
    }
    this.watch = undefined;
    this.network = undefined;
    this.iptables = undefined;
    this.http = undefined;
    this.sm = undefined;
  }

  private async openVtep(nc: NetworkConfig, u: Underlay): Promise<void> {
    const mtu = nc.backend.mtu ?? u.mtu - VXLAN_OVERHEAD_V4;
    const mtuSource = nc.backend.mtu ? 'Backend.MTU' : `underlay ${u.iface} MTU ${u.mtu} - ${VXLAN_OVERHEAD_V4}`;
    if (mtu < VTEP_MIN_MTU || mtu > VTEP_MAX_MTU)
      throw new ConfigError(`VTEP MTU ${mtu} (${mtuSource}) is outside ${VTEP_MIN_MTU}..${VTEP_MAX_MTU}`);
    const name = vtepDeviceName(nc.backend.vni);
    const mac = deriveVtepMac(u.publicIp, nc.backend.vni);
    // Whether a persistent TAP survived an earlier run (for the log). Vtep.open leaves an unchanged MAC
    // alone, so the neighbours programmed on the device survive the re-attach.
    const existing = await this.deps.linkMac(name);
    const fdb = this.vtep ? (await this.vtep.fdbEntries()).filter((e) => e.kind === 'pinned') : [];
    if (this.vtep) {
      this.watchdog?.stop();
      await this.vtep.close();
      this.vtep = undefined;
      this.network = undefined;
    }
    const setting = this.config.vtepOffload;
    await this.openVtepWith({ name, mtu, vni: nc.backend.vni, port: nc.backend.port, mac, bind: u.ifaceAddr, offload: setting }, fdb);
    this.ensureNetwork();
    const offload = this.vtep!.features ? describeFeatures(this.vtep!.features) : 'off';
    this.log.info(
      {
        dev: name,
        mac,
        reattached: existing !== undefined,
        mtu,
        mtuSource,
        vni: nc.backend.vni,
        port: nc.backend.port,
        bind: u.ifaceAddr,
        offload,
      },
      'VTEP open',
    );
  }

  /** Opens the VTEP (multi-queue persistent TAP, SO_REUSEPORT socket) and starts watching its worker. */
  /**
   * `restart`: forwarding from the state file (a restart, a crash, a surge hand-over), so the node's pods wait for this
   * VTEP or share the CPU with the one handing over: no JIT warm-up (jit-warmup.ts, ~0.3-0.5 s of a core). Measured
   * in a surge, the warm-up held the old weftd's echo replies for ~200 ms (bench:upgrade); the hot path warms on
   * real traffic instead.
   */
  private async openVtepWith(v: StateVtep, fdb: Array<{ mac: string; remote: string }>, opts: { restart?: boolean } = {}): Promise<void> {
    const { name, mtu, vni, port, mac, bind, offload } = v;
    const dlog = this.log.child({ component: 'datapath', dev: name });
    this.vtep = await this.deps.openVtep({
      name,
      mtu,
      vni,
      port,
      mac,
      localIp: bind,
      persist: true,
      multiQueue: true,
      replaceSingleQueue: this.lock.held,
      reusePort: true,
      joinRunning: !this.lock.held,
      jitWarmup: !opts.restart,
      fdb,
      offload,
      sourcePorts: this.config.vtepSourcePorts,
      onWarning: (m) => dlog.warn(m),
    });
    this.watchdog = new VtepWatchdog(this.vtep, { onEvent: (e) => this.onWatchdog(e, dlog) });
    this.watchdog.start();
  }

  private onWatchdog(e: WatchdogEvent, log: Logger): void {
    if (e.type === 'failed') log.error({ cause: e.cause }, `datapath failed: ${e.cause}; restarting the worker`);
    else if (e.type === 'restarted') log.warn({ cause: e.cause, restarts: e.restarts }, 'datapath worker restarted from the FDB copy');
    else {
      log.fatal(
        { cause: e.cause, restarts: e.restarts },
        'datapath failed more than 5 times in a minute; exiting for the kubelet to restart weftd',
      );
      this.datapathGaveUp = e.cause;
      this.stop();
    }
  }

  /** Test hooks (WEFTD_DEBUG_HOOKS=1): end the worker thread, or wedge it for `ms`. */
  debugDatapath(what: 'terminate' | 'stall', ms = 3000): void {
    if (what === 'terminate') void this.vtep?.debugTerminateWorker();
    else this.vtep?.debugStall(ms);
  }

  private leaseAttrs(): Lease['attrs'] {
    return {
      PublicIP: this.underlay!.publicIp,
      PublicIPv6: null,
      BackendType: 'vxlan',
      BackendData: { VNI: this.vtep!.vni, VtepMAC: this.vtep!.mac },
    };
  }

  /** Our (new) lease → device address, subnet file, iptables; then the peers follow in the network loop. */
  private async applyLease(lease: Lease): Promise<void> {
    const nc = this.netConfig!;
    const from = this.lease?.subnet ?? this.previousSubnet;
    if (from && from !== lease.subnet)
      this.subnetMove = new SubnetMove(from, lease.subnet, this.config.cniIpamDir, this.log.child({ component: 'subnet-move' }));
    this.lease = lease;
    this.leaseHeld = true;
    await this.network!.setOwnLease(lease);
    this.saveState();
    await writeSubnetFile(this.config.subnetFile, {
      network: nc.network,
      subnet: lease.subnet,
      mtu: this.vtep!.mtu,
      ipMasq: this.config.ipMasq,
    });
    this.subnetFileWritten = true;
    this.log.info({ path: this.config.subnetFile, subnet: lease.subnet, expiration: lease.expiration }, 'subnet file written');
    const chains = await this.ownedChains(nc.network, lease.subnet);
    if (chains.length > 0) {
      this.iptables ??= new IptablesChains(this.log.child({ component: 'iptables' }));
      await this.iptables.set(chains);
    }
  }

  private async ownedChains(network: string, subnet: string): Promise<OwnedChain[]> {
    const chains: OwnedChain[] = [];
    if (this.config.ipMasq) {
      const version = await runHostTool('iptables', ['--version']).catch(() => ({ stdout: '' }));
      chains.push(masqChain(subnet, network, supportsRandomFully(version.stdout)));
    }
    if (this.config.iptablesForwardRules) chains.push(forwardChain(network));
    return chains;
  }

  private keepLease(sm: SubnetManager, lease: Lease): void {
    const keeper = new LeaseKeeper({ manager: sm, lease, renewMarginMs: this.config.subnetLeaseRenewMargin * 60_000, logger: this.log });
    keeper.on('renewed', (l) => {
      this.lease = l;
      this.saveState();
    });
    keeper.on('lost', () => (this.leaseHeld = false));
    keeper.on('reacquired', (l) => {
      this.reprogram = this.reprogram
        .then(() => this.applyLease(l))
        .catch((e: unknown) => this.log.error({ err: e }, 're-programming the node for the re-acquired lease failed'));
    });
    keeper.start();
    this.keeper = keeper;
  }

  private onLeaseEvents(events: LeaseEvent[]): void {
    this.leaseEvents += events.length;
    this.keeper?.observe(events);
    this.network?.handleEvents(events);
    this.peerLeases.apply(events);
    this.saveState();
  }

  /** Retries `f` with backoff (1 s → 10 s) until it succeeds, fails fatally, or stop() is called (→ undefined). */
  private async retrying<T>(
    what: string,
    f: () => Promise<T>,
    signal: AbortSignal,
    fatal: (e: unknown) => boolean = () => false,
  ): Promise<T | undefined> {
    const backoff = new RetryBackoff(1000, 10_000);
    while (!signal.aborted) {
      try {
        return await f();
      } catch (e) {
        if (signal.aborted) break;
        if (fatal(e)) throw e;
        const retryMs = backoff.next();
        this.log.warn({ err: e, retryMs }, `${what} failed; retrying`);
        await sleep(retryMs, signal);
      }
    }
    return undefined;
  }

  private async teardown(): Promise<void> {
    this.abort.abort();
    this.keeper?.stop();
    this.watchdog?.stop();
    const steps: Array<[string, () => Promise<unknown> | undefined]> = [
      ['lease watch', () => this.watch],
      ['network policy', () => this.netpol?.done],
      ['re-programming', () => this.reprogram],
      ['vxlan network', () => this.network?.close()],
      ['iptables chains', () => (this.handedOver ? undefined : this.iptables?.removeAll())],
      ['HTTP server', () => this.http?.close()],
      ['subnet manager', () => this.sm?.close()],
      ['hand-over socket', () => this.handoverListener?.close()],
      // Last: the datapath forwards until the process is about to exit (the restart gap starts here).
      ['VTEP', () => this.vtep?.close()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (e) {
        this.log.warn({ err: e }, `stopping the ${what} failed`);
      }
    }
    this.lock.release();
    if (this.handedOver) this.log.info('weftd stopped after handing the node over');
    else if (this.lease)
      this.log.info(
        { subnet: this.lease.subnet, dev: this.vtep?.name },
        'weftd stopped; lease, device, routes and state file left in place',
      );
    else this.log.info('weftd stopped');
  }

  // --- StatusSource (HTTP) ---

  async readiness(): Promise<Readiness> {
    const move = this.subnetMove;
    return readinessOf({
      leaseHeld: this.leaseHeld,
      deviceUp: this.host ? await this.host.isUp() : false,
      subnetFileWritten: this.subnetFileWritten,
      datapathHealthy: this.watchdog?.healthy ?? false,
      ...(move ? { subnetMove: { from: move.from, to: move.to, podsLeft: await move.podsLeft() } } : {}),
    });
  }

  liveness(): Liveness {
    return livenessOf(this.watchdog);
  }

  async status(): Promise<NodeStatus> {
    const v = this.vtep;
    const l = this.lease;
    return {
      version: this.version,
      startedAt: this.startedAt.toISOString(),
      subnetManager: this.sm?.name ?? 'starting',
      ...(this.netConfig ? { network: this.netConfig.network } : {}),
      ...(l
        ? { lease: { subnet: l.subnet, publicIp: l.attrs.PublicIP, ...(l.expiration ? { expiration: l.expiration.toISOString() } : {}) } }
        : {}),
      ...(v
        ? {
            vtep: {
              ...vtepIdentity(v),
              offload: v.features ? describeFeatures(v.features) : 'off',
              up: (await this.host?.isUp()) ?? false,
            },
          }
        : {}),
      subnetFile: { path: this.config.subnetFile, written: this.subnetFileWritten },
      ipMasq: this.config.ipMasq,
      peers: this.network?.peers() ?? [],
      leases: this.network?.leaseStatuses() ?? [],
      ...(v ? { counters: v.counters() } : {}),
      ...(this.network ? { programming: { ...this.network.stats } } : {}),
      iptablesRepairs: this.iptables?.repairs ?? 0,
      leaseEvents: this.leaseEvents,
      ...(this.netpol ? { policy: await this.netpol.status() } : {}),
      ...(this.watchdog
        ? {
            datapath: {
              healthy: this.watchdog.healthy,
              ...(this.watchdog.cause ? { cause: this.watchdog.cause } : {}),
              workerRestarts: this.watchdog.restarts,
            },
          }
        : {}),
    };
  }

  /** Set when --network-policy is on (the HTTP route answers 404 without it). */
  policy?: (pod: string) => Promise<unknown>;

  async fdb(): Promise<Array<{ mac: string; remote: string; kind: string }>> {
    return this.vtep ? this.vtep.fdbEntries() : [];
  }
}

/** Pods on cni0 reach other nodes only when the node forwards; flannel leaves that to the host too. */
async function warnIfNotForwarding(log: Logger): Promise<void> {
  const v = await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '1');
  if (v.trim() === '0')
    log.warn('net.ipv4.ip_forward is 0: pods will not reach other nodes until it is 1 (sysctl -w net.ipv4.ip_forward=1)');
}

/** What names a VTEP on the wire and on the node: the state file and /v1/status both carry it. */
function vtepIdentity(v: NodeVtep): { name: string; mac: string; mtu: number; vni: number; port: number } {
  return { name: v.name, mac: v.mac, mtu: v.mtu, vni: v.vni, port: v.port };
}
