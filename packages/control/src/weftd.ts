/**
 * weftd: the node agent, wired like flanneld's main but in small steps.
 *
 *   underlay (iface, PublicIP, MTU) → subnet manager (etcd or Kubernetes) → network config
 *   → VTEP `weft.<VNI>` (persistent TAP, derived MAC) → our lease → device address, subnet file,
 *   iptables → lease keeper (renewal; lost → re-acquire → re-program) → lease watch → VxlanNetwork.
 *
 * Lifecycle in one method: `run()` starts everything, waits for `stop()` (SIGTERM), then takes down
 * what it started, in reverse, whether startup finished or failed half-way. What it deliberately
 * leaves behind: the lease in etcd (a restart reuses it), the persistent TAP with its address,
 * routes and neighbours (peers keep reaching this node's pods while weftd restarts). What it removes:
 * its iptables chains. Waiting for etcd (config, lease) retries with backoff and is cut short by stop().
 *
 * Failure policy: a bad configuration (flags, net-conf.json, MTU, a port taken) stops weftd with an
 * error naming the cause; anything that can heal (etcd down, network full, a failed route) is
 * retried and logged, never fatal.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Vtep, VXLAN_OVERHEAD_V4, describeFeatures } from '@weft/datapath';
import type { WeftdConfig } from './cli/weftd-flags.js';
import { ConfigError } from './cli/weftd-flags.js';
import { IpBatchProgrammer } from './backend/ip-batch-programmer.js';
import { VxlanNetwork } from './backend/vxlan-network.js';
import { deriveVtepMac, vtepDeviceName } from './backend/vtep-mac.js';
import { NetConfError } from './config/net-conf.js';
import { findUnderlay, type Underlay } from './host/underlay.js';
import { IptablesChains } from './host/iptables-chains.js';
import { forwardChain, masqChain, supportsRandomFully, type OwnedChain } from './host/ip-masq.js';
import { readPreviousSubnet, writeSubnetFile } from './host/subnet-file.js';
import { runHostTool } from './host/host-tool.js';
import type { NodeStatus, Readiness, StatusSource } from './http/node-status.js';
import { StatusServer } from './http/status-server.js';
import { RetryBackoff, sleep } from './retry-backoff.js';
import { createSubnetManager } from './subnet-manager-factory.js';
import { LeaseKeeper } from './subnet/lease-keeper.js';
import type { Lease, LeaseEvent, NetworkConfig, SubnetManager } from './subnet/types.js';
import { protectedEndpoints } from './subnet/lease-admission.js';
import { SubnetMove } from './host/subnet-move.js';

/** How often the peers are reconciled against the host even without a snapshot (drift repair). */
const PEER_RESYNC_MS = 60_000;

export class Weftd implements StatusSource {
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private readonly startedAt = new Date();
  private sm: SubnetManager | undefined;
  private http: StatusServer | undefined;
  private vtep: Vtep | undefined;
  private host: IpBatchProgrammer | undefined;
  private network: VxlanNetwork | undefined;
  private keeper: LeaseKeeper | undefined;
  private iptables: IptablesChains | undefined;
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

  constructor(
    private readonly config: WeftdConfig,
    logger: Logger,
    private readonly version = '0.0.0',
  ) {
    this.log = logger;
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
  }

  private async start(signal: AbortSignal): Promise<void> {
    const c = this.config;
    if (c.healthzPort > 0) this.http = await StatusServer.listen(this, c.healthzIp, c.healthzPort, this.log.child({ component: 'http' }));
    const underlay = await findUnderlay({ ifaces: c.ifaces, ...(c.publicIp ? { publicIp: c.publicIp } : {}) });
    this.underlay = underlay;
    const previousSubnet = await readPreviousSubnet(c.subnetFile);
    this.previousSubnet = previousSubnet;
    this.log.info({ ...underlay, previousSubnet }, 'underlay found');
    const sm = await createSubnetManager(c, { previousSubnet, logger: this.log.child({ component: 'subnet' }) });
    this.sm = sm;
    // In Kubernetes mode the config is a local file: any error there is a configuration error.
    const fatal = (e: unknown): boolean => e instanceof NetConfError || c.kubeSubnetMgr;
    const netConfig = await this.retrying('reading the network config', () => sm.getNetworkConfig(), signal, fatal);
    if (!netConfig) return;
    this.netConfig = netConfig;
    await this.openVtep(netConfig, underlay);
    const lease = await this.retrying('acquiring a subnet lease', () => sm.acquireLease(this.leaseAttrs(), signal), signal);
    if (!lease) return;
    await this.applyLease(lease);
    this.keepLease(sm, lease);
    this.watch = sm.watchLeases((events) => this.onLeaseEvents(events), signal);
    const resync = setInterval(() => this.network?.resync(), PEER_RESYNC_MS).unref();
    signal.addEventListener('abort', () => clearInterval(resync), { once: true });
    this.iptables?.start(c.iptablesResync * 1000);
    await warnIfNotForwarding(this.log);
  }

  private async openVtep(nc: NetworkConfig, u: Underlay): Promise<void> {
    const mtu = nc.backend.mtu ?? u.mtu - VXLAN_OVERHEAD_V4;
    const mtuSource = nc.backend.mtu ? 'Backend.MTU' : `underlay ${u.iface} MTU ${u.mtu} - ${VXLAN_OVERHEAD_V4}`;
    if (mtu < 576 || mtu > 9000) throw new ConfigError(`VTEP MTU ${mtu} (${mtuSource}) is outside 576..9000`);
    const name = vtepDeviceName(nc.backend.vni);
    const mac = deriveVtepMac(u.publicIp, nc.backend.vni);
    // Whether a persistent TAP survived an earlier run (for the log). Vtep.open leaves an unchanged MAC
    // alone, so the neighbours programmed on the device survive the re-attach.
    const existing = await readFile(`/sys/class/net/${name}/address`, 'utf8').then((t) => t.trim(), () => undefined);
    const dlog = this.log.child({ component: 'datapath', dev: name });
    this.vtep = await Vtep.open({
      name,
      mtu,
      vni: nc.backend.vni,
      port: nc.backend.port,
      mac,
      localIp: u.ifaceAddr,
      persist: true,
      offload: this.config.vtepOffload as 'auto' | 'on' | 'off',
      onWarning: (m) => dlog.warn(m),
    });
    this.host = new IpBatchProgrammer(name);
    this.network = new VxlanNetwork({
      vtep: this.vtep,
      host: this.host,
      logger: this.log.child({ component: 'vxlan' }),
      publicIp: u.publicIp,
      network: nc.network,
      protectedNets: protectedEndpoints(this.sm?.endpoints ?? []),
    });
    const offload = this.vtep.features ? describeFeatures(this.vtep.features) : 'off';
    this.log.info({ dev: name, mac, reattached: existing !== undefined, mtu, mtuSource, vni: nc.backend.vni, port: nc.backend.port, bind: u.ifaceAddr, offload }, 'VTEP open');
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
    if (from && from !== lease.subnet) this.subnetMove = new SubnetMove(from, lease.subnet, this.config.cniIpamDir, this.log.child({ component: 'subnet-move' }));
    this.lease = lease;
    this.leaseHeld = true;
    await this.network!.setOwnLease(lease);
    await writeSubnetFile(this.config.subnetFile, { network: nc.network, subnet: lease.subnet, mtu: this.vtep!.mtu, ipMasq: this.config.ipMasq });
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
    keeper.on('renewed', (l) => (this.lease = l));
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
  }

  /** Retries `f` with backoff (1 s → 10 s) until it succeeds, fails fatally, or stop() is called (→ undefined). */
  private async retrying<T>(what: string, f: () => Promise<T>, signal: AbortSignal, fatal: (e: unknown) => boolean = () => false): Promise<T | undefined> {
    const backoff = new RetryBackoff(1000, 10_000);
    while (!signal.aborted) {
      try {
        return await f();
      } catch (e) {
        if (signal.aborted) break;
        if (fatal(e)) throw e;
        const retryMs = backoff.next();
        this.log.warn({ err: (e as Error).message, retryMs }, `${what} failed; retrying`);
        await sleep(retryMs, signal);
      }
    }
    return undefined;
  }

  private async teardown(): Promise<void> {
    this.abort.abort();
    this.keeper?.stop();
    const steps: Array<[string, () => Promise<unknown> | undefined]> = [
      ['lease watch', () => this.watch],
      ['re-programming', () => this.reprogram],
      ['vxlan network', () => this.network?.close()],
      ['iptables chains', () => this.iptables?.removeAll()],
      ['VTEP', () => this.vtep?.close()],
      ['HTTP server', () => this.http?.close()],
      ['subnet manager', () => this.sm?.close()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, `stopping the ${what} failed`);
      }
    }
    if (this.lease) this.log.info({ subnet: this.lease.subnet, dev: this.vtep?.name }, 'weftd stopped; lease, device and routes left in place');
    else this.log.info('weftd stopped');
  }

  // --- StatusSource (HTTP) ---

  async readiness(): Promise<Readiness> {
    const deviceUp = this.host ? await this.host.isUp() : false;
    const left = (await this.subnetMove?.podsLeft()) ?? [];
    const checks = { leaseHeld: this.leaseHeld, deviceUp, subnetFileWritten: this.subnetFileWritten, podsOnOurSubnet: left.length === 0 };
    const detail = left.length > 0 ? `${left.length} pod address(es) still on ${this.subnetMove!.from}, our subnet is now ${this.subnetMove!.to}: ${left.slice(0, 5).join(', ')}` : undefined;
    return { ready: Object.values(checks).every(Boolean), checks, ...(detail ? { detail } : {}) };
  }

  async status(): Promise<NodeStatus> {
    const v = this.vtep;
    const l = this.lease;
    return {
      version: this.version,
      startedAt: this.startedAt.toISOString(),
      subnetManager: this.sm?.name ?? 'starting',
      ...(this.netConfig ? { network: this.netConfig.network } : {}),
      ...(l ? { lease: { subnet: l.subnet, publicIp: l.attrs.PublicIP, ...(l.expiration ? { expiration: l.expiration.toISOString() } : {}) } } : {}),
      ...(v ? { vtep: { name: v.name, mac: v.mac, mtu: v.mtu, vni: v.vni, port: v.port, offload: v.features ? describeFeatures(v.features) : 'off', up: (await this.host?.isUp()) ?? false } } : {}),
      subnetFile: { path: this.config.subnetFile, written: this.subnetFileWritten },
      ipMasq: this.config.ipMasq,
      peers: this.network?.peers() ?? [],
      leases: this.network?.leaseStatuses() ?? [],
      ...(v ? { counters: v.counters() } : {}),
      ...(this.network ? { programming: { ...this.network.stats } } : {}),
      iptablesRepairs: this.iptables?.repairs ?? 0,
      leaseEvents: this.leaseEvents,
    };
  }

  async fdb(): Promise<Array<{ mac: string; remote: string; kind: string }>> {
    return this.vtep ? this.vtep.fdbEntries() : [];
  }
}

/** Pods on cni0 reach other nodes only when the node forwards; flannel leaves that to the host too. */
async function warnIfNotForwarding(log: Logger): Promise<void> {
  const v = await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8').catch(() => '1');
  if (v.trim() === '0') log.warn('net.ipv4.ip_forward is 0: pods will not reach other nodes until it is 1 (sysctl -w net.ipv4.ip_forward=1)');
}
