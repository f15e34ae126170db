/**
 * The datapath's worker thread: the Linux TAP, UDP sockets and poll() wired into the loop of vtep-loop.ts (which
 * the in-memory pipeline tests run over channel ports). One loop moves both directions for one TAP and one UDP socket:
 *
 *   loop:
 *     commands pending?  -> apply (FDB, options, dump, stop)
 *     encap batch (TAP -> UDP), decap batch (UDP -> TAP)
 *     both idle?         -> poll(TAP, UDP, eventfd, 200 ms)
 *     every turn         -> loop_heartbeat++ (the watchdog in vtep-watchdog.ts sees a live loop)
 *     once a second      -> age learned FDB entries
 *
 * No spinning before sleep: polling the TAP and socket for 50-1000 µs after the last packet (to skip
 * the wake-up for a ping reply) measured worse idle RTT on this 2-vCPU VM, quiet or loaded (datapath
 * README, "Latency"): the spinning thread takes the core the peer needs.
 *
 * Before it reports ready, the worker runs its hot path over private stand-ins (jit-warmup.ts) so the first
 * real packets meet optimized code; with WEFT_RTT_TRACE=<file> its ports stamp ICMP echoes (rtt-trace.ts).
 *
 * The routines depend on the mode chosen at open (offload-features.ts): per-packet (encap.ts,
 * decap.ts) or offload (encap-offload.ts, decap-offload.ts: 64 KB slots, virtio headers, GSO/GRO).
 *
 * One thread owns the FDB, the counters and both file descriptors, so the hot path needs no locks and
 * no cross-thread messages. On two cores a second worker would compete with the kernel's own work for
 * the same cores (multi-queue TAP measured no gain here); more cores would get one such loop per TAP
 * queue (IFF_MULTI_QUEUE) with a replicated FDB.
 */
import { MessageChannel, parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { CTRL_PENDING, type VtepCommand, type VtepEvent } from './commands.js';
import { DecapOffloadRoutine } from './decap-offload.js';
import { DecapRoutine } from './decap.js';
import { EncapOffloadRoutine, OFFLOAD_TX_IOVS, OFFLOAD_TX_MESSAGES, OFFLOAD_TX_SCRATCH } from './encap-offload.js';
import { EncapRoutine } from './encap.js';
import { POLLIN, SIZEOF_POLLFD, addressOf, libc } from './linux/libc.js';
import { LinuxTap, attachTapQueue } from './linux/tap.js';
import { LinuxUdp, steerToNewestSocket } from './linux/udp.js';
import { parseMac } from '@weft/netbase';
import type { VtepFeatures } from './offload-features.js';
import { PacketArena } from './packet-arena.js';
import type { OffloadTapPort, OffloadUdpPort } from './ports.js';
import { RttTracer, TracingTap, TracingUdp } from './rtt-trace.js';
import { openWarmupFds, runWarmup } from './jit-warmup.js';
import { type LoopIo, VtepLoop } from './vtep-loop.js';
import { VtepState, type VtepRuntimeOptions } from './vtep-state.js';

/** Idle sleep: short enough that the heartbeat moves several times within the watchdog's 1 s. */
const IDLE_POLL_MS = 200;

export interface VtepWorkerData {
  tapFd: number;
  udpFd: number;
  /** Flow entropy: send sockets bound to distinct source ports (empty: send from udpFd). */
  sourceFds: number[];
  wakeFd: number;
  /** Run the hot path over private stand-ins before ready (jit-warmup.ts). */
  jitWarmup: boolean;
  vni: number;
  port: number;
  mtu: number;
  batch: number;
  /** Receive coalescing's flow table size (0: consecutive-only). */
  groFlows: number;
  ownMac: string;
  features: VtepFeatures;
  options: VtepRuntimeOptions;
  learnMax: number;
  ageingMs: number;
  counters: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  commands: MessagePort;
  /**
   * Joining a device another process runs (a hand-over): the TAP queue was opened detached and the
   * socket not yet steered; the worker attaches and steers once it is about to loop, so no frame or
   * datagram waits in a queue nobody reads while the worker starts.
   */
  joinRunning?: boolean;
}

/**
 * The loop's I/O: commands from the main thread, events to it, and the idle wait (poll on the TAP, the
 * socket and the wake eventfd). One class for the real loop and the warm-up's (there with its stand-in
 * descriptors, a port nobody writes to and no wait), so V8's code for `turn` calls the same methods in both.
 */
class WorkerIo implements LoopIo {
  private readonly pollDv: DataView;
  private readonly pollAddr: number;
  private readonly wakeBuf = new Uint8Array(8);
  private readonly c = libc();

  constructor(
    private readonly fds: [tap: number, udp: number, wake: number],
    private readonly commands: MessagePort,
    readonly post: (e: VtepEvent) => void,
    private readonly waitMs: number,
    private readonly tracer: RttTracer | undefined,
  ) {
    const pollBuf = new ArrayBuffer(3 * SIZEOF_POLLFD);
    this.pollDv = new DataView(pollBuf);
    this.pollAddr = addressOf(pollBuf);
    fds.forEach((fd, i) => {
      this.pollDv.setInt32(i * SIZEOF_POLLFD, fd, true);
      this.pollDv.setInt16(i * SIZEOF_POLLFD + 4, POLLIN, true);
    });
  }

  nextCommand(): VtepCommand | undefined {
    return receiveMessageOnPort(this.commands)?.message as VtepCommand | undefined;
  }

  idle(): void {
    const { tracer } = this;
    if (tracer) tracer.flush();
    this.c.poll(this.pollAddr, 3, this.waitMs);
    if (tracer) tracer.woke();
    if ((this.pollDv.getInt16(2 * SIZEOF_POLLFD + 6, true) & POLLIN) !== 0) this.c.read(this.fds[2], this.wakeBuf, 8);
  }
}

/** The worker's state; the warm-up builds its scratch state here too, so both have the same shapes. */
function newState(d: VtepWorkerData, counters: SharedArrayBuffer, more: VtepRuntimeOptions = {}): VtepState {
  return new VtepState({
    vni: d.vni,
    counters: new Float64Array(counters),
    fdb: { learnMax: d.learnMax, ageingMs: d.ageingMs },
    ownMac: d.ownMac,
    ...d.options,
    ...more,
  });
}

function main(d: VtepWorkerData): void {
  const st = newState(d, d.counters);
  const ctrl = new Int32Array(d.ctrl);
  const tracer = process.env['WEFT_RTT_TRACE'] ? new RttTracer(process.env['WEFT_RTT_TRACE']) : undefined;
  // The real routines are built before the warm-up, so the warm-up's optimized code is compiled against the
  // object shapes they settled (built after it, they changed a field type and V8 dropped the loop's code).
  const { encap, decap } = routines(d, st, tracer);
  warmUp(d, tracer);

  const post = (e: VtepEvent): void => parentPort!.postMessage(e);
  const loop = new VtepLoop(st, { encap, decap }, ctrl, new WorkerIo([d.tapFd, d.udpFd, d.wakeFd], d.commands, post, IDLE_POLL_MS, tracer));

  // The FDB copy (and whatever else was sent before start) is in place before the first packet moves.
  loop.drainCommands();
  if (d.joinRunning) {
    if (!attachTapQueue(d.tapFd)) post({ op: 'warn', message: 'TUNSETQUEUE IFF_ATTACH_QUEUE refused' });
    if (!steerToNewestSocket(d.udpFd)) post({ op: 'warn', message: 'SO_ATTACH_REUSEPORT_CBPF refused' });
  }
  post({ op: 'ready' });
  loop.run();
  d.commands.close();
}

/**
 * Runs the hot path over private stand-ins first (jit-warmup.ts): the same classes, a scratch state built
 * as the real one is (newState: the same counter and FDB shapes), driven by a VtepLoop of its own, so V8 has
 * optimized the loop and the routines before the first real packet.
 *
 * The values must be of every kind real traffic brings, or V8's code, specialized to what the warm-up
 * showed it, is thrown away at the first real packet that differs (a deoptimization), and a VTEP that only
 * sees pings then runs in V8's slower tiers for minutes (measured with --trace-deopt; datapath README,
 * "Latency"). Numbers above 2^31 are not small integers to V8: MACs and IPv4 addresses of both kinds are
 * needed. So two FDB peers: one MAC's low 32 bits are small and the other's are not; the first is at
 * 127.0.0.1, the other at 255.255.255.255, an address above 2^31 the kernel refuses to send to from a
 * socket without SO_BROADCAST (EACCES: nothing leaves the host, the error path runs). Every third frame
 * is broadcast, as a TAP's first ARP and IPv6 neighbour discovery frames are.
 */
function warmUp(d: VtepWorkerData, tracer: RttTracer | undefined): void {
  if (!d.jitWarmup) return;
  const offload = d.features.mode === 'offload';
  const fds = openWarmupFds(d.sourceFds.length, !(offload && d.features.udpGso), offload && d.features.udpGro);
  if (!fds) return;
  const quiet = new MessageChannel(); // nobody sends the warm-up commands; its idle wait does not wait
  try {
    const st = newState(d, new SharedArrayBuffer(d.counters.byteLength), { peerCheck: true });
    for (const [m, remote] of WARMUP_PEERS) {
      const peer = parseMac(m);
      st.fdb.setPinned(peer.hi, peer.lo, remote);
    }
    // with WEFT_RTT_TRACE the real routines get tracing ports, so the warm-up's do too (it stamps only ICMP echoes)
    const r = routines({ ...d, tapFd: fds.tap, udpFd: fds.udp, sourceFds: fds.sources, port: fds.peerPort }, st, tracer);
    const ctrl = new Int32Array(new SharedArrayBuffer(d.ctrl.byteLength));
    // the host end stands in for the wake eventfd: what the idle wait reads from it the warm-up discards anyway
    const io = new WorkerIo([fds.tap, fds.udp, fds.host], quiet.port1, () => undefined, 0, tracer);
    const loop = new VtepLoop(st, r, ctrl, io, undefined, 0); // ageing every turn: the warm-up lasts < 1 s
    let turns = 0;
    // now and then "commands pending" (the quiet port has none), as the main thread raises it after ready
    const turn = (): boolean => {
      if (++turns % 16 === 0) Atomics.store(ctrl, CTRL_PENDING, 1);
      return loop.turn();
    };
    const mac = (s: string): Uint8Array => Uint8Array.from(s.split(':').map((x) => parseInt(x, 16)));
    runWarmup(
      fds,
      { turn },
      {
        dstMacs: [...WARMUP_PEERS.map(([m]) => m), 'ff:ff:ff:ff:ff:ff'].map(mac), // broadcast: what a TAP's ARP and IPv6 ND send
        srcMacs: ['02:77:00:00:00:02', '02:77:c0:a8:00:02'].map(mac),
        vnetHdr: offload,
        rounds: 6000,
        perRound: 2,
      },
    );
  } finally {
    quiet.port1.close(); // closes both ends
    fds.close();
  }
}

/** Warm-up FDB peers (MAC, underlay IPv4): see warmUp for why the values are what they are. */
const WARMUP_PEERS: [string, number][] = [
  ['02:77:00:00:00:01', 0x7f000001],
  ['02:77:c0:a8:00:01', 0xffffffff],
];

/** The TAP, the socket and the two routines for the chosen mode, on arenas attached to both. */
function routines(d: VtepWorkerData, st: VtepState, tracer?: RttTracer): { encap: { run(): number }; decap: { run(): number } } {
  const f = d.features;
  const offload = f.mode === 'offload';
  const slotSize = offload ? PacketArena.offloadSlotSize() : PacketArena.slotSizeFor(d.mtu);
  const txArena = new PacketArena(d.batch, slotSize, offload ? OFFLOAD_TX_SCRATCH : 0);
  const rxArena = new PacketArena(d.batch, slotSize, offload ? 64 : 0);
  const linuxTap = new LinuxTap(d.tapFd, { vnetHdr: offload, counters: st.c });
  const sourceFds = d.sourceFds;
  const linuxUdp = offload
    ? new LinuxUdp(d.udpFd, st.c, d.batch + 64, {
        gso: f.udpGso,
        gro: f.udpGro,
        batchMessages: OFFLOAD_TX_MESSAGES,
        batchIovs: OFFLOAD_TX_IOVS,
        sourceFds,
      })
    : new LinuxUdp(d.udpFd, st.c, d.batch + 64, { sourceFds });
  linuxTap.attach(txArena);
  linuxTap.attach(rxArena);
  linuxUdp.attachSend(txArena);
  linuxUdp.attachReceive(rxArena);
  linuxUdp.setDestinationPort(d.port);
  // WEFT_RTT_TRACE: the routines get tracing ports (rtt-trace.ts); otherwise the plain ones, untouched.
  const tap: OffloadTapPort = tracer ? new TracingTap(linuxTap, tracer) : linuxTap;
  const udp: OffloadUdpPort = tracer ? new TracingUdp(linuxUdp, tracer) : linuxUdp;
  if (!offload) return { encap: new EncapRoutine(st, tap, udp, txArena), decap: new DecapRoutine(st, tap, udp, rxArena) };
  const encap = new EncapOffloadRoutine(st, tap, udp, txArena, f.udpGso);
  encap.spreadFlows(linuxUdp.sourceCount);
  return { encap, decap: new DecapOffloadRoutine(st, tap, udp, rxArena, d.groFlows) };
}

// A worker started ahead of its VTEP (worker-prestart.ts) gets its data in its first message.
if (workerData) main(workerData as VtepWorkerData);
else {
  parentPort!.once('message', (d: VtepWorkerData) => main(d));
  parentPort!.postMessage({ op: 'booted' }); // worker-prestart.ts: the process may exit safely from now on
}
