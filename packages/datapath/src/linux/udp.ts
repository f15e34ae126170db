/**
 * The VXLAN UDP socket, batched with recvmmsg/sendmmsg.
 *
 * One non-blocking IPv4 socket bound to the VXLAN port (8472 by default) receives. It also sends,
 * unless flow entropy is on (`sourceFds`, RFC 7348 §5): then a few more sockets bound to ephemeral
 * ports send, each message from the one its inner flow hashes to (flow-hash.ts). The send vector is
 * laid out grouped by socket (a stable counting sort), so a batch costs one sendmmsg per socket used,
 * not one per run of equal sockets. Receivers, kernel vxlan included, accept any source port.
 * Options, each for a reason:
 * - SO_NO_CHECK: outer UDP checksum zero over IPv4, as RFC 7348 recommends and Linux vxlan sends.
 *   Not with UDP GSO: Linux refuses GSO on such a socket (EINVAL), so in offload mode the outer
 *   checksum is computed (by the NIC, or by the kernel while it segments) — correct, hence accepted
 *   by every receiver, kernel vxlan included.
 * - IP_MTU_DISCOVER=DO: DF set; VTEPs must not fragment (RFC 7348 §4.3); a datagram too large for the
 *   path fails with EMSGSIZE and is counted (`tx_too_big`) instead of being fragmented.
 * - 4 MiB send/receive buffers (forced as root): bursts of a TCP window fit while the worker is busy.
 * - offload mode: UDP_GRO (receive several datagrams of one flow as one, with their size in a cmsg)
 *   and UDP_SEGMENT per message (cmsg; the kernel or NIC splits one send into equal datagrams).
 *
 * The msghdr/iovec/sockaddr/cmsg arrays live in one control buffer, built once; per message the send
 * path writes iovecs, the destination and (GSO) the segment size, the receive path reads length,
 * flags, source address and (GRO) the segment size. Pointers are Numbers (see libc.ts).
 */
import { C_UDP_RECV_ERRORS } from '../counters.js';
import type { GsoBatch } from '../gso-batch.js';
import { type PacketArena, type SendList, DGRAM_OFF } from '../packet-arena.js';
import { SendTally, type OffloadUdpPort } from '../ports.js';
import { flowSource } from '../flow-hash.js';
import { VXLAN_HEADER_LEN } from '../vxlan-header.js';
import {
  AF_INET,
  CMSG_HDR,
  EAGAIN,
  EINTR,
  EMSGSIZE,
  IPPROTO_IP,
  IP_MTU_DISCOVER,
  IP_PMTUDISC_DO,
  MMSGHDR_LEN,
  MSGHDR_CONTROL,
  MSGHDR_CONTROLLEN,
  MSGHDR_FLAGS,
  MSGHDR_IOV,
  MSGHDR_IOVLEN,
  MSGHDR_NAME,
  MSGHDR_NAMELEN,
  MSG_DONTWAIT,
  MSG_TRUNC,
  O_CLOEXEC,
  O_NONBLOCK,
  POLLOUT,
  SIZEOF_IOVEC,
  SIZEOF_MMSGHDR,
  SIZEOF_POLLFD,
  SIZEOF_SOCKADDR_IN,
  SOCK_DGRAM,
  SOL_SOCKET,
  SOL_UDP,
  SO_NO_CHECK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_ATTACH_REUSEPORT_CBPF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  UDP_GRO,
  UDP_SEGMENT,
  addressOf,
  errno,
  libc,
  setIntOpt,
  sysError,
  writePtr,
} from './libc.js';

/** Send and receive buffer of every VXLAN socket unless the VTEP is told otherwise (measured: datapath README). */
export const DEFAULT_SOCKET_BUFFER = 4 * 1024 * 1024;
/** Control space per message: one cmsg with an int (UDP_GRO) or a u16 (UDP_SEGMENT): CMSG_SPACE(4) = 24. */
const CONTROL_SPACE = 24;
const CMSG_LEN_U16 = CMSG_HDR + 2;

export function sockaddrIn(ip: number, port: number): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_IN);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port);
  dv.setUint32(4, ip);
  return b;
}

/**
 * Opens and binds the VXLAN socket. `localIp` 0 binds every address (as the kernel vxlan socket does).
 * `zeroChecksum` (default true) sets SO_NO_CHECK; leave it off when UDP GSO will be used.
 * `reusePort`: SO_REUSEPORT, so a second weftd (an upgrade) can bind the same port while the first
 * still runs; see steerToNewestSocket for who then receives. `bufferBytes`: SO_SNDBUF and SO_RCVBUF, forced past
 * the sysctl maxima when we may (SO_*BUFFORCE needs CAP_NET_ADMIN).
 */
export function openVxlanSocket(
  localIp: number,
  port: number,
  opts: { zeroChecksum?: boolean; reusePort?: boolean; bufferBytes?: number } = {},
): number {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket(AF_INET, SOCK_DGRAM)');
  setIntOpt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (opts.reusePort) setIntOpt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (opts.zeroChecksum ?? true) setIntOpt(fd, SOL_SOCKET, SO_NO_CHECK, 1);
  setIntOpt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
  const buffer = opts.bufferBytes ?? DEFAULT_SOCKET_BUFFER;
  if (!setIntOpt(fd, SOL_SOCKET, SO_SNDBUFFORCE, buffer)) setIntOpt(fd, SOL_SOCKET, SO_SNDBUF, buffer);
  if (!setIntOpt(fd, SOL_SOCKET, SO_RCVBUFFORCE, buffer)) setIntOpt(fd, SOL_SOCKET, SO_RCVBUF, buffer);
  const sa = sockaddrIn(localIp, port);
  if (c.bind(fd, sa, SIZEOF_SOCKADDR_IN) < 0) {
    const e = sysError(`bind UDP ${port}`);
    c.close(fd);
    throw e;
  }
  return fd;
}

/**
 * Steers every datagram of the port's SO_REUSEPORT group to its second socket: a classic BPF program
 * (SO_ATTACH_REUSEPORT_CBPF, one instruction: return 1) whose result is the socket's index in the
 * group. The kernel indexes sockets in the order they joined and moves the last one into a closed
 * one's slot; an index past the end falls back to the flow hash. So with one socket it receives
 * everything; when a newer weftd binds the second, that one receives everything at once; when either
 * closes (the old one after a hand-over, or the new one crashing half-way) the survivor gets it all.
 * Called on every socket after bind (the program belongs to the group; the newest attach wins).
 */
export function steerToNewestSocket(fd: number): boolean {
  const filter = new Uint8Array(8);
  const fdv = new DataView(filter.buffer);
  fdv.setUint16(0, 0x06, true); // BPF_RET | BPF_K
  fdv.setUint32(4, 1, true); // k = 1: the second socket of the group
  const prog = new Uint8Array(16); // struct sock_fprog { u16 len; struct sock_filter *filter; }
  const pdv = new DataView(prog.buffer);
  pdv.setUint16(0, 1, true);
  writePtr(pdv, 8, addressOf(filter));
  return libc().setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog, 16) === 0;
}

/** Probes UDP_SEGMENT (GSO) support: setting the socket default to 0 is harmless and proves it. */
export function probeUdpGso(fd: number): boolean {
  return setIntOpt(fd, SOL_UDP, UDP_SEGMENT, 0);
}

/** Turns UDP_GRO on; false when the kernel does not know it. */
export function enableUdpGro(fd: number): boolean {
  return setIntOpt(fd, SOL_UDP, UDP_GRO, 1);
}

/** msghdr array + iovecs + sockaddrs (+ cmsg space) for `n` messages, in one control buffer. */
class MessageVector {
  readonly buf: ArrayBuffer;
  readonly dv: DataView;
  readonly base: number;
  readonly msgs = 0;
  readonly iovs: number;
  readonly names: number;
  readonly controls: number;

  /** Message k starts with iovec k (one each) unless the sender points it elsewhere. */
  constructor(
    readonly n: number,
    readonly iovCapacity = n,
    readonly controlSpace = 0,
  ) {
    this.iovs = n * SIZEOF_MMSGHDR;
    this.names = this.iovs + iovCapacity * SIZEOF_IOVEC;
    this.controls = this.names + n * SIZEOF_SOCKADDR_IN;
    this.buf = new ArrayBuffer(this.controls + n * controlSpace + SIZEOF_POLLFD);
    this.dv = new DataView(this.buf);
    this.base = addressOf(this.buf);
    for (let k = 0; k < n; k++) {
      const m = k * SIZEOF_MMSGHDR;
      writePtr(this.dv, m + MSGHDR_NAME, this.base + this.names + k * SIZEOF_SOCKADDR_IN);
      this.dv.setUint32(m + MSGHDR_NAMELEN, SIZEOF_SOCKADDR_IN, true);
      this.pointIov(k, Math.min(k, iovCapacity - 1), 1);
      if (controlSpace > 0) writePtr(this.dv, m + MSGHDR_CONTROL, this.base + this.controls + k * controlSpace);
    }
  }

  pointIov(k: number, firstIov: number, count: number): void {
    writePtr(this.dv, k * SIZEOF_MMSGHDR + MSGHDR_IOV, this.base + this.iovs + firstIov * SIZEOF_IOVEC);
    this.dv.setUint32(k * SIZEOF_MMSGHDR + MSGHDR_IOVLEN, count, true);
  }

  setIov(i: number, addr: number, len: number): void {
    const at = this.iovs + i * SIZEOF_IOVEC;
    writePtr(this.dv, at, addr);
    this.dv.setUint32(at + 8, len, true);
  }

  /** Offset of a pollfd for the socket (used while waiting for send-buffer room). */
  get pollfd(): number {
    return this.buf.byteLength - SIZEOF_POLLFD;
  }
}

export interface UdpOffloads {
  /** Send with UDP_SEGMENT (GsoBatch messages of several segments). */
  gso?: boolean;
  /** UDP_GRO is on: read each message's segment size from its cmsg. */
  gro?: boolean;
  /** sendBatch vector size (messages, iovecs). */
  batchMessages?: number;
  batchIovs?: number;
  /**
   * Flow entropy: send from these sockets (bound to distinct source ports) instead of the VXLAN
   * socket, one chosen per message by its inner flow (flow-hash.ts). Fewer than two: off.
   */
  sourceFds?: readonly number[];
}

export class LinuxUdp implements OffloadUdpPort {
  private readonly c = libc();
  private rx: MessageVector | undefined;
  private rxArena: PacketArena | undefined;
  private readonly tx: MessageVector;
  private readonly gro: boolean;
  /** What the current send carries (per-packet list, or offload batch). */
  private txArena: PacketArena | undefined;
  private txList: SendList | undefined;
  private txBatch: GsoBatch | undefined;
  /** Flow entropy: the send sockets, messages per socket in the current send, and the message at each
   *  vector position (the vector is laid out grouped by socket: one sendmmsg per socket). */
  private readonly sources: Int32Array;
  private readonly perSource: Int32Array;
  private readonly nextAt: Int32Array;
  private readonly order: Int32Array;
  private readonly srcOf: Int32Array;
  /** errno of the last receive failure other than EAGAIN, 0 if none. */
  lastRecvErrno = 0;
  /** errno of the last send failure, 0 if none. */
  lastSendErrno = 0;
  /** What the last send did: the routine counts it (ports.ts countSent). */
  readonly tally = new SendTally();

  constructor(
    readonly fd: number,
    private readonly counters: Float64Array,
    maxSend: number,
    offloads: UdpOffloads = {},
  ) {
    this.gro = offloads.gro ?? false;
    this.tx =
      offloads.gso || offloads.batchMessages
        ? new MessageVector(offloads.batchMessages ?? maxSend, offloads.batchIovs ?? maxSend, CONTROL_SPACE)
        : new MessageVector(maxSend);
    this.tx.dv.setInt32(this.tx.pollfd, fd, true);
    this.tx.dv.setInt16(this.tx.pollfd + 4, POLLOUT, true);
    if (this.tx.controlSpace > 0) this.initSegmentCmsgs();
    const fds = offloads.sourceFds && offloads.sourceFds.length > 1 ? offloads.sourceFds : [fd];
    this.sources = Int32Array.from(fds);
    this.perSource = new Int32Array(fds.length);
    this.nextAt = new Int32Array(fds.length);
    this.order = new Int32Array(this.tx.n);
    this.srcOf = new Int32Array(this.tx.n);
  }

  /** Number of send sockets (1: flow entropy off). */
  get sourceCount(): number {
    return this.sources.length;
  }

  /**
   * Vector positions grouped by source socket (a stable counting sort, so one flow keeps its order):
   * fills `order` (position -> message); `srcOf[k]` must hold message k's source.
   */
  private layOut(count: number): void {
    const per = this.perSource;
    const next = this.nextAt;
    per.fill(0);
    for (let k = 0; k < count; k++) per[this.srcOf[k]]++;
    let at = 0;
    for (let s = 0; s < per.length; s++) {
      next[s] = at;
      at += per[s];
    }
    for (let k = 0; k < count; k++) this.order[next[this.srcOf[k]]++] = k;
  }

  private initSegmentCmsgs(): void {
    const v = this.tx;
    for (let k = 0; k < v.n; k++) {
      const cm = v.controls + k * CONTROL_SPACE;
      v.dv.setUint32(cm, CMSG_LEN_U16, true);
      v.dv.setInt32(cm + 8, SOL_UDP, true);
      v.dv.setInt32(cm + 12, UDP_SEGMENT, true);
    }
  }

  /** Destination UDP port for sends (the peers' VXLAN port). */
  setDestinationPort(port: number): void {
    for (let k = 0; k < this.tx.n; k++) {
      const sa = this.tx.names + k * SIZEOF_SOCKADDR_IN;
      this.tx.dv.setUint16(sa, AF_INET, true);
      this.tx.dv.setUint16(sa + 2, port);
    }
  }

  /** Binds the receive vector to an arena: iovec i -> slot i at DGRAM_OFF (+ GRO cmsg space). */
  attachReceive(arena: PacketArena): void {
    if (arena.base === 0) arena.base = addressOf(arena.buffer);
    const v = new MessageVector(arena.slots, arena.slots, this.gro ? CONTROL_SPACE : 0);
    for (let i = 0; i < arena.slots; i++) {
      v.setIov(i, arena.base + arena.datagramOffset(i), arena.slotSize - DGRAM_OFF);
      if (this.gro) v.dv.setUint32(i * SIZEOF_MMSGHDR + MSGHDR_CONTROLLEN, CONTROL_SPACE, true);
    }
    this.rx = v;
    this.rxArena = arena;
  }

  attachSend(arena: PacketArena): void {
    if (arena.base === 0) arena.base = addressOf(arena.buffer);
  }

  receive(arena: PacketArena, max: number): number {
    const v = this.rx!;
    if (arena !== this.rxArena) throw new Error('receive arena was not attached');
    const n = this.c.recvmmsg(this.fd, v.base + v.msgs, max, MSG_DONTWAIT, null);
    if (n <= 0) {
      if (n < 0) {
        const e = errno();
        if (e !== EAGAIN && e !== EINTR) {
          this.lastRecvErrno = e;
          this.counters[C_UDP_RECV_ERRORS]++;
        }
      }
      return 0;
    }
    const dv = v.dv;
    for (let i = 0; i < n; i++) {
      const m = i * SIZEOF_MMSGHDR;
      const flags = dv.getInt32(m + MSGHDR_FLAGS, true);
      arena.len[i] = (flags & MSG_TRUNC) !== 0 ? -1 : dv.getUint32(m + MMSGHDR_LEN, true);
      arena.addr[i] = dv.getUint32(v.names + i * SIZEOF_SOCKADDR_IN + 4);
      dv.setUint32(m + MSGHDR_NAMELEN, SIZEOF_SOCKADDR_IN, true);
      arena.seg[i] = this.gro ? this.groSegment(v, i) : 0;
    }
    return n;
  }

  /** The UDP_GRO segment size of received message i (0 if none), and its control space re-armed. */
  private groSegment(v: MessageVector, i: number): number {
    const dv = v.dv;
    const m = i * SIZEOF_MMSGHDR;
    const used = dv.getUint32(m + MSGHDR_CONTROLLEN, true);
    dv.setUint32(m + MSGHDR_CONTROLLEN, CONTROL_SPACE, true);
    if (used < CMSG_HDR + 4) return 0;
    const cm = v.controls + i * CONTROL_SPACE;
    if (dv.getInt32(cm + 8, true) !== SOL_UDP || dv.getInt32(cm + 12, true) !== UDP_GRO) return 0;
    return dv.getInt32(cm + CMSG_HDR, true);
  }

  send(arena: PacketArena, list: SendList): SendTally {
    const v = this.tx;
    const dv = v.dv;
    const count = list.count;
    const spread = this.sources.length > 1;
    if (spread) {
      const n = this.sources.length;
      for (let k = 0; k < count; k++) {
        const slot = list.slot[k];
        const len = arena.len[slot] - VXLAN_HEADER_LEN;
        this.srcOf[k] = flowSource(arena.dv, arena.datagramOffset(slot) + VXLAN_HEADER_LEN, len, n);
      }
      this.layOut(count);
    }
    for (let p = 0; p < count; p++) {
      const k = spread ? this.order[p] : p;
      const slot = list.slot[k];
      v.setIov(p, arena.base + arena.datagramOffset(slot), arena.len[slot]);
      if (v.controlSpace > 0) {
        v.pointIov(p, p, 1);
        dv.setUint32(p * SIZEOF_MMSGHDR + MSGHDR_CONTROLLEN, 0, true);
      }
      dv.setUint32(v.names + p * SIZEOF_SOCKADDR_IN + 4, list.dst[k]);
    }
    this.txArena = arena;
    this.txList = list;
    this.txBatch = undefined;
    this.tally.reset();
    this.transmit(count);
    return this.tally;
  }

  sendBatch(arena: PacketArena, batch: GsoBatch): SendTally {
    const v = this.tx;
    const dv = v.dv;
    const iov = batch.iov;
    const spread = this.sources.length > 1;
    if (spread) {
      this.srcOf.set(batch.src.subarray(0, batch.count));
      this.layOut(batch.count);
    }
    for (let i = 0; i < iov.count; i++) v.setIov(i, arena.base + iov.off[i], iov.len[i]);
    for (let p = 0; p < batch.count; p++) {
      const k = spread ? this.order[p] : p;
      const m = p * SIZEOF_MMSGHDR;
      v.pointIov(p, batch.firstIov[k], batch.iovCount[k]);
      dv.setUint32(v.names + p * SIZEOF_SOCKADDR_IN + 4, batch.dst[k]);
      const segs = batch.segs[k];
      dv.setUint32(m + MSGHDR_CONTROLLEN, segs > 1 ? CONTROL_SPACE : 0, true);
      if (segs > 1) dv.setUint16(v.controls + p * CONTROL_SPACE + CMSG_HDR, batch.segSize[k], true);
    }
    this.txBatch = batch;
    this.tally.reset();
    this.transmit(batch.count);
    return this.tally;
  }

  /** Datagrams in the message at vector position p of the current send (a GSO message of n segments is n datagrams). */
  private datagrams(p: number): number {
    return this.txBatch ? this.txBatch.segs[this.sources.length > 1 ? this.order[p] : p] : 1;
  }

  /** Inner frame bytes in the message at vector position p of the current send. */
  private innerBytes(p: number): number {
    const k = this.sources.length > 1 ? this.order[p] : p;
    const b = this.txBatch;
    if (b) return b.bytes[k] - b.segs[k] * VXLAN_HEADER_LEN;
    return this.txArena!.len[this.txList!.slot[k]] - VXLAN_HEADER_LEN;
  }

  /** Sends the vector: one sendmmsg run per source socket (its group of positions), or one in all. */
  private transmit(count: number): void {
    if (this.sources.length === 1) {
      this.transmitRange(this.fd, 0, count);
      return;
    }
    let at = 0;
    for (let s = 0; s < this.sources.length; s++) {
      const n = this.perSource[s];
      if (n > 0) this.transmitRange(this.sources[s], at, at + n);
      at += n;
    }
  }

  /** sendmmsg of positions [from, count) on `fd` until every message went out or failed; tallied per datagram. */
  private transmitRange(fd: number, from: number, count: number): void {
    const t = this.tally;
    let off = from;
    let waited = false;
    while (off < count) {
      const r = this.c.sendmmsg(fd, this.tx.base + off * SIZEOF_MMSGHDR, count - off, 0);
      if (r > 0) {
        for (let k = off; k < off + r; k++) {
          const d = this.datagrams(k);
          t.innerBytes += this.innerBytes(k);
          t.datagrams += d;
          if (d > 1) t.gsoMessages++;
        }
        off += r;
        continue;
      }
      const e = errno();
      if (e === EAGAIN && !waited) {
        waited = true; // the send buffer is full: give the NIC/peer 20 ms, then drop what is left
        this.tx.dv.setInt32(this.tx.pollfd, fd, true);
        this.c.poll(this.tx.base + this.tx.pollfd, 1, 20);
        continue;
      }
      if (e === EINTR) continue;
      t.lastErrno = this.lastSendErrno = e;
      t.errors++;
      if (e === EAGAIN) {
        for (let k = off; k < count; k++) t.queueFull += this.datagrams(k);
        return;
      }
      if (e === EMSGSIZE) t.tooBig += this.datagrams(off);
      else t.failed += this.datagrams(off);
      off++; // skip the message that failed, keep the rest of the batch
    }
  }

  close(): void {
    this.c.close(this.fd);
  }
}
