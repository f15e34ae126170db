/**
 * Vtep: weft's userspace VXLAN tunnel endpoint, as the control plane sees it.
 *
 * `Vtep.open()` creates the TAP (name, MAC, MTU, up), binds the VXLAN UDP socket and starts the worker
 * thread that moves packets (vtep-worker.ts). Everything after that goes through `VtepControl`: set or
 * delete pinned FDB entries, replace them all (re-sync), change options, read counters (shared
 * memory: free), dump the FDB, close. If any step of `open()` fails, what it already made is undone.
 *
 * Surviving the worker and the process: the Vtep keeps a copy of the pinned FDB and the options, so
 * `restartWorker()` (the watchdog's remedy, vtep-watchdog.ts) starts a fresh worker on the same
 * descriptors and gives it that copy; `failure()` says why a worker ended unasked. With `multiQueue`
 * and `reusePort` a second process opens the same device and port while the first still runs (an
 * upgrade hand-over); `detachQueue()` is the old one's way out without dropping the device.
 *
 * Offloads (`offload`, default 'auto'): the TAP is opened with IFF_VNET_HDR and TSO, the socket with
 * UDP GSO/GRO, as far as the kernel accepts them; `features` says what the VTEP runs with (see
 * offload-features.ts), and every offload that was wanted but is missing goes to `onWarning`.
 */
import { readFileSync } from 'node:fs';
import { mustRunTool, readLinkMac as readSysfsMac, parseIpv4, parseMac } from '@weft/netbase';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { CTRL_PENDING, CTRL_SLOTS, toWireEntry, type FdbSpec, type VtepCommand, type VtepEvent } from './commands.js';
import { C_LOOP_HEARTBEAT, C_RX_DATAGRAMS, C_TX_FRAMES, type CounterSnapshot, newCounterArray, snapshotCounters } from './counters.js';
import type { FdbEntry } from './fdb.js';
import { readKernelDrops } from './kernel-drops.js';
import { DEFAULT_GRO_FLOWS, MAX_GRO_FLOWS } from './gro-coalescer.js';
import { VTEP_MAX_MTU, VTEP_MIN_MTU } from './packet-arena.js';
import {
  EADDRINUSE,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINVAL,
  POLLIN,
  SIZEOF_POLLFD,
  SOL_SOCKET,
  SOL_UDP,
  SO_NO_CHECK,
  TUN_F_CSUM,
  TUN_F_TSO4,
  UDP_GRO,
  addressOf,
  libc,
  setIntOpt,
  sysError,
} from './linux/libc.js';
import { LinuxTap, assertIfName, configureVnetHeader, detachTapQueue, openTap, setTapOffloads } from './linux/tap.js';
import { DEFAULT_SOCKET_BUFFER, enableUdpGro, openVxlanSocket, probeUdpGso, steerToNewestSocket } from './linux/udp.js';
import { type OffloadSetting, type OffloadSupport, type VtepFeatures, decideFeatures, parseOffloadSetting } from './offload-features.js';
import type { VtepRuntimeOptions } from './vtep-state.js';
import { VXLAN_DEFAULT_PORT, VXLAN_DEFAULT_VNI, assertPort, assertVni } from './vxlan-header.js';
import type { VtepWorkerData } from './vtep-worker.js';
import type { WatchedDatapath } from './vtep-watchdog.js';
import { newVtepWorker, takePrestartedWorker } from './worker-prestart.js';

export interface VtepOptions extends VtepRuntimeOptions {
  /** TAP device name, e.g. `weft.1`. */
  name: string;
  /** IP MTU of the TAP: underlay MTU - 50. */
  mtu: number;
  vni?: number; // default 1
  port?: number; // default 8472
  /** Local underlay address to bind (default: all). */
  localIp?: string;
  /** VTEP MAC; default: keep the device's (a new device gets a random one from the kernel). */
  mac?: string;
  /** Keep the TAP after the process exits, so a restart re-attaches to it with routes intact. */
  persist?: boolean;
  /** IFF_MULTI_QUEUE: each open attaches a queue, so two processes can run the device at once. */
  multiQueue?: boolean;
  /** With multiQueue: a device left single-queue (by an older weft) is deleted and made again. */
  replaceSingleQueue?: boolean;
  /** SO_REUSEPORT on the VXLAN port, datagrams steered to the newest socket (udp.ts steerToNewestSocket). */
  reusePort?: boolean;
  /**
   * Another process runs this device (multiQueue + reusePort): the TAP queue stays detached and the
   * port unsteered until this worker loops, so the running one keeps every packet meanwhile.
   */
  joinRunning?: boolean;
  /** Pinned FDB entries the worker starts with (e.g. from weftd's state file). */
  fdb?: readonly FdbSpec[];
  /**
   * Flow entropy (RFC 7348 §5): send from this many UDP sockets bound to distinct ephemeral source
   * ports, chosen per inner flow. 0 or 1: every datagram leaves from the VXLAN port. Default 8.
   */
  sourcePorts?: number;
  /**
   * Before ready, run ~12k frames through the hot path over private stand-in sockets so V8 has
   * optimized it (jit-warmup.ts; a cold VTEP's idle RTT is measurably higher: datapath README).
   * Default true.
   */
  jitWarmup?: boolean;
  /** Packets per batch (recvmmsg/sendmmsg and TAP reads per loop turn). Default 128 (measured against 64: see the datapath README). */
  batchSize?: number;
  /**
   * SO_SNDBUF/SO_RCVBUF of the VXLAN and source-port sockets, forced (default 4 MiB; 1 MiB and 16 MiB measured
   * against it: datapath README "Small packets and loss").
   */
  socketBuffer?: number;
  /** The TAP's txqueuelen: the ring the host fills and the worker drains (default 1000, as the kernel's). */
  tapQueueLength?: number;
  /**
   * Offload mode's receive coalescing: TCP flows one batch coalesces at once (default 64); 0: only
   * consecutive segments of one flow join (the coalescer before issue 12; kept for A/B benchmarks).
   */
  groFlows?: number;
  learnMax?: number;
  ageingMs?: number;
  /**
   * Offloads: virtio_net_hdr + TSO on the TAP, UDP GSO/GRO on the socket. 'auto' (default): whatever
   * the kernel supports, a warning for the rest; true/'on': all of them or fail; false/'off': the
   * per-packet loop.
   */
  offload?: OffloadSetting;
  /** Called with warnings: offloads the kernel lacks (at open), rejected commands (from the worker). */
  onWarning?: (message: string) => void;
}

/** What the control plane needs from a datapath; weftd takes this, tests give it a fake. */
export interface VtepControl {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly vni: number;
  readonly port: number;
  /** The offloads this datapath runs with (absent: unknown, e.g. a fake). */
  readonly features?: VtepFeatures;
  setFdb(mac: string, remote: string): void;
  deleteFdb(mac: string): void;
  replaceFdb(entries: readonly FdbSpec[]): void;
  setOptions(options: VtepRuntimeOptions): void;
  counters(): CounterSnapshot;
  fdbEntries(): Promise<FdbEntry[]>;
  close(): Promise<void>;
}

/**
 * What a node agent holds of its VTEP: the control interface, what the watchdog reads (vtep-watchdog.ts), the
 * hand-over's detach and the test hooks. Vtep is the real one; FakeVtep (@weft/datapath/testing) a recording one.
 */
export interface NodeVtep extends VtepControl, WatchedDatapath {
  detachQueue(): boolean;
  debugTerminateWorker(): Promise<void>;
  debugStall(ms: number): void;
}

export class Vtep implements NodeVtep {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
  private readonly counterArray = newCounterArray(true);
  private channel = new MessageChannel();
  private worker: Worker | undefined;
  private startOptions: VtepOptions | undefined;
  /** The pinned FDB and options as the control plane last set them: what a restarted worker gets. */
  private readonly pinned = new Map<string, string>();
  private runtimeOptions: VtepRuntimeOptions = {};
  private workerFailure: string | undefined;
  private joined = false;
  private readonly pollBuf = new Uint8Array(2 * SIZEOF_POLLFD);
  private dumpSeq = 0;
  private readonly dumps = new Map<number, (e: FdbEntry[]) => void>();
  private closed = false;
  private readonly wakeBuf = new BigUint64Array([1n]);

  private constructor(
    readonly name: string,
    readonly mac: string,
    readonly mtu: number,
    readonly vni: number,
    readonly port: number,
    readonly features: VtepFeatures,
    private readonly tapFd: number,
    private readonly udpFd: number,
    private readonly wakeFd: number,
    private readonly sourceFds: number[],
  ) {}

  static async open(o: VtepOptions): Promise<Vtep> {
    assertIfName(o.name);
    const vni = assertVni(o.vni ?? VXLAN_DEFAULT_VNI);
    const port = assertPort(o.port ?? VXLAN_DEFAULT_PORT);
    if (!Number.isInteger(o.mtu) || o.mtu < VTEP_MIN_MTU || o.mtu > VTEP_MAX_MTU) {
      throw new Error(`TAP MTU ${o.mtu} out of range (${VTEP_MIN_MTU}..${VTEP_MAX_MTU})`);
    }
    if (o.mac) parseMac(o.mac);
    assertInRange('GRO flows', o.groFlows ?? DEFAULT_GRO_FLOWS, 0, MAX_GRO_FLOWS);
    const localIp = o.localIp ? parseIpv4(o.localIp) : 0;
    const bufferBytes = assertInRange('socket buffer', o.socketBuffer ?? DEFAULT_SOCKET_BUFFER, MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER);
    const txqlen = assertInRange('TAP queue length', o.tapQueueLength ?? DEFAULT_TAP_QUEUE, MIN_TAP_QUEUE, MAX_TAP_QUEUE);
    for (const e of o.fdb ?? []) toWireEntry(e.mac, e.remote); // a bad entry fails open() before anything is made
    const setting = parseOffloadSetting(o.offload);

    const undo: Array<() => void> = [];
    try {
      const support: OffloadSupport = { vnetHdr: false, tso: false, udpGso: false, udpGro: false };
      const tapFd = await openTapReplacingSingleQueue(o, setting, support);
      undo.push(() => new LinuxTap(tapFd).close());
      if (o.joinRunning && !detachTapQueue(tapFd)) throw sysError(`TUNSETQUEUE IFF_DETACH_QUEUE ${o.name}`);
      // Setting a MAC, even the same one, makes the kernel flush every neighbour on the device
      // (permanent ones included): a re-attached persistent TAP would lose its programmed peers.
      // So the address is only written when it differs.
      const link = readLinkSysfs(o.name);
      const before = link?.mac ?? (await readLinkMac(o.name));
      const setMac = o.mac !== undefined && o.mac.toLowerCase() !== before.toLowerCase();
      // A re-attached persistent device usually has it all already: then no `ip` spawn (the restart gap).
      const settled = link !== undefined && !setMac && link.mtu === o.mtu && link.txqlen === txqlen && link.up;
      const linkArgs = [
        'link',
        'set',
        'dev',
        o.name,
        ...(setMac ? ['address', o.mac!] : []),
        'mtu',
        String(o.mtu),
        'txqueuelen',
        String(txqlen),
        'up',
      ];
      if (!settled) {
        await mustRunTool('ip', linkArgs);
      }
      const mac = setMac ? await readLinkMac(o.name) : before;
      const udpFd = openSocket(localIp, port, o.reusePort ?? false, bufferBytes);
      undo.push(() => libc().close(udpFd));
      if (o.reusePort && !o.joinRunning && !steerToNewestSocket(udpFd)) throw sysError('setsockopt SO_ATTACH_REUSEPORT_CBPF');
      if (setting !== 'off') probeSocketOffloads(udpFd, support);
      const { features, warnings } = decideFeatures(setting, support);
      applySocketFeatures(udpFd, features, support);
      for (const w of warnings) o.onWarning?.(w);
      const sourceFds = openSourceSockets(localIp, o.sourcePorts ?? DEFAULT_SOURCE_PORTS, bufferBytes, features, support, undo);
      const wakeFd = libc().eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (wakeFd < 0) throw sysError('eventfd');
      undo.push(() => libc().close(wakeFd));
      const vtep = new Vtep(o.name, mac, o.mtu, vni, port, features, tapFd, udpFd, wakeFd, sourceFds);
      vtep.startOptions = o;
      vtep.runtimeOptions = { peerCheck: o.peerCheck ?? true, learning: o.learning ?? false, flood: o.flood ?? false };
      for (const e of o.fdb ?? []) vtep.pinned.set(e.mac, e.remote);
      await vtep.start(o);
      return vtep;
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
  }

  private start(o: VtepOptions): Promise<void> {
    this.channel = new MessageChannel();
    // The worker drains its port before 'ready': it starts forwarding with the FDB copy in place.
    if (this.pinned.size > 0)
      this.channel.port1.postMessage({
        op: 'fdb-replace',
        entries: [...this.pinned].map(([mac, remote]) => toWireEntry(mac, remote)),
      } satisfies VtepCommand);
    const data: VtepWorkerData = {
      tapFd: this.tapFd,
      udpFd: this.udpFd,
      sourceFds: this.sourceFds,
      wakeFd: this.wakeFd,
      // a restarted worker forwards at once: the warm-up would lengthen the outage it is ending
      jitWarmup: (o.jitWarmup ?? true) && !this.joined,
      vni: this.vni,
      port: this.port,
      mtu: this.mtu,
      batch: o.batchSize ?? 128,
      groFlows: o.groFlows ?? DEFAULT_GRO_FLOWS,
      ownMac: this.mac,
      features: this.features,
      options: this.runtimeOptions,
      learnMax: o.learnMax ?? 4096,
      ageingMs: o.ageingMs ?? 300_000,
      counters: this.counterArray.buffer as SharedArrayBuffer,
      ctrl: this.ctrl.buffer,
      commands: this.channel.port2,
      // only the first worker joins; a restarted one finds its queue attached and the port steered
      joinRunning: (o.joinRunning ?? false) && !this.joined,
    };
    this.joined = true;
    const prestarted = takePrestartedWorker();
    const worker = prestarted ?? newVtepWorker(data, [this.channel.port2]);
    if (prestarted) prestarted.postMessage(data, [this.channel.port2]);
    this.worker = worker;
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('error', (e) => {
        if (!started) reject(e);
        else if (this.worker === worker) this.workerFailure ??= `datapath worker failed: ${e.message}`;
      });
      worker.on('message', (e: VtepEvent) => {
        if (e.op === 'ready') {
          started = true;
          resolve();
        } else if (e.op === 'fdb') this.dumps.get(e.id)?.(e.entries);
        else if (e.op === 'warn') o.onWarning?.(e.message);
      });
      worker.once('exit', (code) => {
        if (!started) reject(new Error(`datapath worker exited (${code}) during start`));
        else if (this.worker === worker && !this.closed) this.workerFailure ??= `datapath worker exited (code ${code})`;
      });
    });
  }

  /** Why the worker ended without being asked (error or exit), or undefined while it runs. */
  failure(): string | undefined {
    return this.workerFailure;
  }

  /** The worker's loop turns: moves every ≤ 200 ms while it lives, busy or idle. */
  heartbeat(): number {
    return this.counterArray[C_LOOP_HEARTBEAT];
  }

  /** Frames read from the TAP plus datagrams received: moves whenever the datapath moves packets. */
  progress(): number {
    return this.counterArray[C_TX_FRAMES] + this.counterArray[C_RX_DATAGRAMS];
  }

  /** Which of the TAP queue and the socket have packets waiting right now (poll, no wait): '', 'tap', 'udp', 'tap+udp'. */
  packetsWaiting(): string {
    const dv = new DataView(this.pollBuf.buffer);
    [this.tapFd, this.udpFd].forEach((fd, i) => {
      dv.setInt32(i * SIZEOF_POLLFD, fd, true);
      dv.setInt16(i * SIZEOF_POLLFD + 4, POLLIN, true);
      dv.setInt16(i * SIZEOF_POLLFD + 6, 0, true);
    });
    if (libc().poll(addressOf(this.pollBuf), 2, 0) <= 0) return '';
    const tap = (dv.getInt16(6, true) & POLLIN) !== 0;
    const udp = (dv.getInt16(SIZEOF_POLLFD + 6, true) & POLLIN) !== 0;
    return tap && udp ? 'tap+udp' : tap ? 'tap' : udp ? 'udp' : '';
  }

  /** Test hook: the worker spins `ms` without a heartbeat (what a wedged datapath looks like). */
  debugStall(ms: number): void {
    this.send({ op: 'debug-stall', ms });
  }

  /** Test hook: ends the worker thread as a crash would. */
  async debugTerminateWorker(): Promise<void> {
    await this.worker?.terminate();
  }

  /**
   * Ends the worker (asked, or terminated when it does not answer within `graceMs`) and starts a new
   * one on the same TAP and socket with the FDB copy and options: the watchdog's remedy.
   */
  async restartWorker(graceMs = 500): Promise<void> {
    if (this.closed) throw new Error(`VTEP ${this.name} is closed`);
    const old = this.worker;
    this.worker = undefined;
    if (old && old.threadId >= 0) {
      // still running (wedged): ask it to stop, terminate it if it does not within graceMs
      const exited = new Promise<void>((r) => old.once('exit', () => r()));
      this.channel.port1.postMessage({ op: 'stop' } satisfies VtepCommand);
      Atomics.store(this.ctrl, CTRL_PENDING, 1);
      libc().write(this.wakeFd, new Uint8Array(this.wakeBuf.buffer), 8);
      const t = setTimeout(() => void old.terminate(), graceMs);
      await exited;
      clearTimeout(t);
    }
    this.channel.port1.close();
    this.workerFailure = undefined;
    await this.start(this.startOptions!);
  }

  /**
   * Hand-over, old side: detaches this process's TAP queue (the kernel sends the device's frames to the
   * other queues from now on) while the worker still drains what it holds. False when not multi-queue.
   */
  detachQueue(): boolean {
    return detachTapQueue(this.tapFd);
  }

  private send(cmd: VtepCommand): void {
    if (this.closed) throw new Error(`VTEP ${this.name} is closed`);
    this.channel.port1.postMessage(cmd);
    Atomics.store(this.ctrl, CTRL_PENDING, 1);
    libc().write(this.wakeFd, new Uint8Array(this.wakeBuf.buffer), 8);
  }

  setFdb(mac: string, remote: string): void {
    const entry = toWireEntry(mac, remote);
    this.pinned.set(mac, remote);
    this.send({ op: 'fdb-set', entry });
  }

  deleteFdb(mac: string): void {
    const m = parseMac(mac);
    this.pinned.delete(mac);
    this.send({ op: 'fdb-del', hi: m.hi, lo: m.lo });
  }

  replaceFdb(entries: readonly FdbSpec[]): void {
    const wire = entries.map((e) => toWireEntry(e.mac, e.remote)); // all checked before anything changes
    this.pinned.clear();
    for (const e of entries) this.pinned.set(e.mac, e.remote);
    this.send({ op: 'fdb-replace', entries: wire });
  }

  setOptions(options: VtepRuntimeOptions): void {
    this.runtimeOptions = { ...this.runtimeOptions, ...options };
    this.send({ op: 'options', options });
  }

  /** weft's counters, and the kernel's drop counters of this TAP and VXLAN port (a few small file reads). */
  counters(): CounterSnapshot {
    return { ...snapshotCounters(this.counterArray), kernel: readKernelDrops(this.name, this.port) };
  }

  fdbEntries(): Promise<FdbEntry[]> {
    const id = ++this.dumpSeq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dumps.delete(id);
        reject(new Error('datapath worker did not answer the FDB dump within 5 s'));
      }, 5000);
      this.dumps.set(id, (entries) => {
        clearTimeout(timer);
        this.dumps.delete(id);
        resolve(entries);
      });
      this.send({ op: 'fdb-dump', id });
    });
  }

  /** Stops the worker and closes the TAP and socket (a persistent TAP stays, with its routes). */
  async close(): Promise<void> {
    if (this.closed) return;
    const worker = this.worker;
    if (worker) {
      const exited = new Promise<void>((r) => worker.once('exit', () => r()));
      this.send({ op: 'stop' });
      this.closed = true;
      const t = setTimeout(() => void worker.terminate(), 3000);
      await exited;
      clearTimeout(t);
    }
    this.closed = true;
    this.channel.port1.close();
    const c = libc();
    c.close(this.udpFd);
    for (const fd of this.sourceFds) c.close(fd);
    c.close(this.tapFd);
    c.close(this.wakeFd);
  }
}

/**
 * Opens the TAP; unless offloads are off, with IFF_VNET_HDR and TSO, recording in `support` what the
 * kernel accepted. With offloads off (or IFF_VNET_HDR refused under 'auto') the TAP is plain and its
 * offloads are cleared: a persistent device keeps the last process's TUNSETOFFLOAD, and a plain
 * reader must never be handed a 64 KB super-frame.
 */
function openTapWithOffloads(o: VtepOptions, setting: 'on' | 'off' | 'auto', support: OffloadSupport): number {
  const persist = { ...(o.persist === undefined ? {} : { persist: o.persist }), multiQueue: o.multiQueue ?? false };
  if (setting !== 'off') {
    try {
      const fd = openTap(o.name, { ...persist, vnetHdr: true });
      try {
        configureVnetHeader(fd);
      } catch (e) {
        libc().close(fd);
        throw e;
      }
      support.vnetHdr = true;
      support.tso = setTapOffloads(fd, TUN_F_CSUM | TUN_F_TSO4);
      return fd;
    } catch (e) {
      if (setting === 'on') throw e;
    }
  }
  const fd = openTap(o.name, persist);
  setTapOffloads(fd, 0);
  return fd;
}

/** A persistent device made single-queue by an older weft refuses IFF_MULTI_QUEUE (EINVAL): replace it. */
async function openTapReplacingSingleQueue(o: VtepOptions, setting: 'on' | 'off' | 'auto', support: OffloadSupport): Promise<number> {
  try {
    return openTapWithOffloads(o, setting, support);
  } catch (e) {
    if (!o.multiQueue || !o.replaceSingleQueue || (e as { errno?: number }).errno !== EINVAL) throw e;
    o.onWarning?.(`${o.name} exists without IFF_MULTI_QUEUE (made by an older weft): deleting and re-creating it`);
    await mustRunTool('ip', ['link', 'del', 'dev', o.name]);
    return openTapWithOffloads(o, setting, support);
  }
}

function openSocket(localIp: number, port: number, reusePort: boolean, bufferBytes: number): number {
  try {
    return openVxlanSocket(localIp, port, { reusePort, bufferBytes });
  } catch (e) {
    if ((e as { errno?: number }).errno === EADDRINUSE) {
      throw new Error(`UDP port ${port} is in use in this network namespace (a kernel vxlan device or another VTEP on it?)`);
    }
    throw e;
  }
}

const DEFAULT_SOURCE_PORTS = 8;
const MIN_SOCKET_BUFFER = 64 * 1024;
const MAX_SOCKET_BUFFER = 256 * 1024 * 1024;
const DEFAULT_TAP_QUEUE = 1000;
const MIN_TAP_QUEUE = 16;
const MAX_TAP_QUEUE = 65536;
const MAX_SOURCE_PORTS = 64;

function assertInRange(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${what} ${v} out of range (${min}..${max})`);
  return v;
}

/**
 * Flow entropy: `n` send sockets bound to ephemeral ports (the kernel picks them from
 * ip_local_port_range, as Linux vxlan draws its source ports from it), with the VXLAN socket's
 * options. Fewer than two: none (every datagram leaves from the VXLAN port).
 */
function openSourceSockets(
  localIp: number,
  n: number,
  bufferBytes: number,
  f: VtepFeatures,
  s: OffloadSupport,
  undo: Array<() => void>,
): number[] {
  assertInRange('source ports', n, 0, MAX_SOURCE_PORTS);
  const fds: number[] = [];
  for (let i = 0; n > 1 && i < n; i++) {
    const fd = openVxlanSocket(localIp, 0, { bufferBytes });
    undo.push(() => libc().close(fd));
    applySocketFeatures(fd, f, s);
    fds.push(fd);
  }
  return fds;
}

function probeSocketOffloads(fd: number, support: OffloadSupport): void {
  support.udpGso = probeUdpGso(fd);
  support.udpGro = enableUdpGro(fd);
}

/** UDP GSO needs the outer checksum on (Linux refuses GSO with SO_NO_CHECK); GRO off unless used. */
function applySocketFeatures(fd: number, f: VtepFeatures, s: OffloadSupport): void {
  if (f.udpGso && !setIntOpt(fd, SOL_SOCKET, SO_NO_CHECK, 0)) throw sysError('setsockopt SO_NO_CHECK 0 (for UDP GSO)');
  if (s.udpGro && !f.udpGro) setIntOpt(fd, SOL_UDP, UDP_GRO, 0);
}

/** MAC, MTU, queue length and admin-up flag from sysfs (no process spawn); undefined when unreadable. */
function readLinkSysfs(name: string): { mac: string; mtu: number; txqlen: number; up: boolean } | undefined {
  try {
    const at = (f: string): string => readFileSync(`/sys/class/net/${name}/${f}`, 'utf8').trim();
    return { mac: at('address'), mtu: Number(at('mtu')), txqlen: Number(at('tx_queue_len')), up: (Number(at('flags')) & 1) === 1 };
  } catch {
    return undefined;
  }
}

async function readLinkMac(name: string): Promise<string> {
  const mac = await readSysfsMac(name);
  if (!mac) throw new Error(`cannot read the MAC address of ${name}`);
  return mac;
}
