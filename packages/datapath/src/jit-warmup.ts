/**
 * JIT warm-up: the datapath's hot path runs a few thousand frames through itself before the VTEP
 * says ready, on private file descriptors, so V8 has compiled it with its optimizing tier when the
 * first real packet comes.
 *
 * Why: bench:rtt measured a fresh VTEP's idle ping RTT well above the same VTEP's after a ping flood, same
 * run (numbers in the datapath README); a VTEP that only ever sees pings stays in V8's interpreter/baseline
 * tiers for a long time (each wake-up runs a few thousand bytecodes; tier-up needs many times that).
 * Lowering V8's tier-up budgets process-wide measured no gain; running the real code did.
 *
 * How: the same loop, routine and port classes (so V8's type feedback is what the real ones will see),
 * wired to stand-ins: an AF_UNIX datagram socketpair for the TAP (one read = one frame, as on a TAP)
 * and UDP sockets on 127.0.0.1 for the underlay (a "peer" socket that bounces every VXLAN datagram
 * back; without lo up there is no warm-up, nothing else changes). The values are of every kind real
 * traffic brings (vtep-worker.ts `warmUp`: MACs and addresses above 2^31, broadcast frames), because
 * code V8 specialized to narrower values is thrown away at the first real packet. Nothing leaves the
 * host (the one non-loopback destination, 255.255.255.255, is refused by the kernel); counters go to a
 * scratch array.
 */
import koffi from 'koffi';
import { O_CLOEXEC, O_NONBLOCK, SIZEOF_SOCKADDR_IN, SOCK_DGRAM, addressOf, libc } from './linux/libc.js';
import { enableUdpGro, openVxlanSocket, sockaddrIn } from './linux/udp.js';
import { VNET_HDR_LEN } from './virtio-net-hdr.js';

const AF_UNIX = 1;
const LOOPBACK = 0x7f000001;

export interface WarmupFds {
  /** VTEP side of the TAP stand-in, host side, VXLAN socket, its peer, send sockets (flow entropy). */
  tap: number;
  host: number;
  udp: number;
  peer: number;
  peerPort: number;
  /** The VXLAN socket's address, where the peer bounces datagrams to. */
  udpAddr: Uint8Array;
  sources: number[];
  close(): void;
}

interface ExtraCalls {
  socketpair(d: number, t: number, p: number, sv: Int32Array): number;
  getsockname(fd: number, a: Uint8Array, l: Uint32Array): number;
  sendto(fd: number, buf: number, n: number, flags: number, a: Uint8Array, l: number): number;
}
let extra: ExtraCalls | undefined;

function calls(): NonNullable<typeof extra> {
  if (extra) return extra;
  const lib = koffi.load('libc.so.6');
  extra = {
    socketpair: lib.func('int socketpair(int d, int t, int p, void *sv)'),
    getsockname: lib.func('int getsockname(int fd, void *addr, void *len)'),
    sendto: lib.func('long sendto(int fd, void *buf, size_t n, int flags, void *addr, uint32_t len)'),
  };
  return extra;
}

function portOf(fd: number): number {
  const sa = new Uint8Array(SIZEOF_SOCKADDR_IN);
  calls().getsockname(fd, sa, new Uint32Array([SIZEOF_SOCKADDR_IN]));
  return new DataView(sa.buffer).getUint16(2);
}

/** The stand-in descriptors (sockets set up as the real ones: checksum, GRO); undefined when they cannot be made. */
export function openWarmupFds(sources: number, zeroChecksum: boolean, gro: boolean): WarmupFds | undefined {
  const c = libc();
  const opened: number[] = [];
  try {
    const sv = new Int32Array(2);
    if (calls().socketpair(AF_UNIX, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0, sv) < 0) return undefined;
    opened.push(sv[0], sv[1]);
    const udp = openVxlanSocket(LOOPBACK, 0, { zeroChecksum });
    opened.push(udp);
    if (gro) enableUdpGro(udp);
    const peer = openVxlanSocket(LOOPBACK, 0);
    opened.push(peer);
    const src: number[] = [];
    for (let i = 0; sources > 1 && i < sources; i++) {
      const fd = openVxlanSocket(LOOPBACK, 0, { zeroChecksum });
      opened.push(fd);
      src.push(fd);
    }
    return {
      tap: sv[0],
      host: sv[1],
      udp,
      peer,
      peerPort: portOf(peer),
      udpAddr: sockaddrIn(LOOPBACK, portOf(udp)),
      sources: src,
      close: () => opened.forEach((fd) => c.close(fd)),
    };
  } catch {
    opened.forEach((fd) => c.close(fd));
    return undefined;
  }
}

/**
 * Drives `rounds` rounds: the host side writes `perRound` frames (UDP/IPv4 of a few flows, to and from
 * MACs taken in turn from the lists: those of FDB peers are sent, group addresses dropped or flooded);
 * one loop turn encapsulates them and sends them to the peer socket, the peer bounces each datagram
 * back, the next turn decapsulates them and writes the inner frames to the host side, which drains
 * them; a third turn finds nothing and takes the idle branch. The loop (vtep-loop.ts `turn`) and its I/O
 * (vtep-worker.ts `WorkerIo`) are the real ones, so they warm up too.
 */
export function runWarmup(
  fds: WarmupFds,
  loop: { turn(): boolean },
  o: { dstMacs: Uint8Array[]; srcMacs: Uint8Array[]; vnetHdr: boolean; rounds: number; perRound: number },
): void {
  const c = libc();
  const pre = o.vnetHdr ? VNET_HDR_LEN : 0;
  const frame = new Uint8Array(pre + 14 + 20 + 8 + 64);
  const dv = new DataView(frame.buffer);
  dv.setUint16(pre + 12, 0x0800);
  dv.setUint8(pre + 14, 0x45);
  dv.setUint16(pre + 16, 20 + 8 + 64);
  dv.setUint8(pre + 22, 64);
  dv.setUint8(pre + 23, 17);
  dv.setUint32(pre + 26, 0x0a000001);
  dv.setUint32(pre + 30, 0x0a000002);
  dv.setUint16(pre + 38, 8 + 64);
  const buf = new Uint8Array(65536);
  const bufAddr = addressOf(buf);
  const frameAddr = addressOf(frame);
  let k = 0;
  for (let round = 0; round < o.rounds; round++) {
    for (let i = 0; i < o.perRound; i++, k++) {
      frame.set(o.dstMacs[k % o.dstMacs.length], pre);
      frame.set(o.srcMacs[k % o.srcMacs.length], pre + 6);
      dv.setUint16(pre + 34, 40000 + (i & 7)); // a few inner flows
      c.write(fds.host, frameAddr, frame.length);
    }
    loop.turn();
    const bounce = calls().sendto; // eslint-disable-line @typescript-eslint/unbound-method -- a koffi function, no `this`
    for (let n = c.read(fds.peer, bufAddr, buf.length); n > 0; n = c.read(fds.peer, bufAddr, buf.length))
      bounce(fds.peer, bufAddr, n, 0, fds.udpAddr, SIZEOF_SOCKADDR_IN);
    loop.turn();
    // a third turn finds nothing to move and takes the idle branch (its wait returns at once here); every
    // other round the host end, which stands in for the wake eventfd, still holds frames, as the real
    // eventfd does when commands came in
    if (round % 2 === 0) while (c.read(fds.host, bufAddr, buf.length) > 0);
    loop.turn();
    while (c.read(fds.host, bufAddr, buf.length) > 0);
  }
}
