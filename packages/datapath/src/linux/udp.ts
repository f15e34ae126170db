/**
 * The VXLAN UDP socket, batched with recvmmsg/sendmmsg.
 *
 * One non-blocking IPv4 socket bound to the VXLAN port (8472 by default) both receives and sends, so
 * the outer source port is that port for every flow (see the README: a flow-hashed source port would
 * need one socket per port and would split every batch; the receive side, kernel vxlan included,
 * accepts any source port). Options, each for a reason:
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
import { C_TX_BYTES, C_TX_GSO_MESSAGES, C_TX_PACKETS, C_UDP_RECV_ERRORS, C_UDP_SEND_ERRORS, DROP_INDEX } from '../counters.js';
import type { GsoBatch } from '../gso-batch.js';
import { type PacketArena, type SendList, DGRAM_OFF } from '../packet-arena.js';
import type { OffloadUdpPort } from '../ports.js';
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

const SOCKET_BUFFER = 4 * 1024 * 1024;
const D_TOO_BIG = DROP_INDEX.tx_too_big;
const D_SEND = DROP_INDEX.tx_send_error;
const D_FULL = DROP_INDEX.tx_queue_full;
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
 * still runs; see steerToNewestSocket for who then receives.
 */
export function openVxlanSocket(localIp: number, port: number, opts: { zeroChecksum?: boolean; reusePort?: boolean } = {}): number {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket(AF_INET, SOCK_DGRAM)');
  setIntOpt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (opts.reusePort) setIntOpt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  if (opts.zeroChecksum ?? true) setIntOpt(fd, SOL_SOCKET, SO_NO_CHECK, 1);
  setIntOpt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
  if (!setIntOpt(fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER)) setIntOpt(fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER);
  if (!setIntOpt(fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER)) setIntOpt(fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER);
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
  /** errno of the last receive failure other than EAGAIN, 0 if none. */
  lastRecvErrno = 0;
  /** errno of the last send failure, 0 if none. */
  lastSendErrno = 0;

  constructor(
    readonly fd: number,
    private readonly counters: Float64Array,
    maxSend: number,
    offloads: UdpOffloads = {},
  ) {
    this.gro = offloads.gro ?? false;
    this.tx = offloads.gso || offloads.batchMessages
      ? new MessageVector(offloads.batchMessages ?? maxSend, offloads.batchIovs ?? maxSend, CONTROL_SPACE)
      : new MessageVector(maxSend);
    this.tx.dv.setInt32(this.tx.pollfd, fd, true);
    this.tx.dv.setInt16(this.tx.pollfd + 4, POLLOUT, true);
    if (this.tx.controlSpace > 0) this.initSegmentCmsgs();
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

  send(arena: PacketArena, list: SendList): void {
    const v = this.tx;
    const dv = v.dv;
    const count = list.count;
    for (let k = 0; k < count; k++) {
      const slot = list.slot[k]!;
      v.setIov(k, arena.base + arena.datagramOffset(slot), arena.len[slot]!);
      if (v.controlSpace > 0) {
        v.pointIov(k, k, 1);
        dv.setUint32(k * SIZEOF_MMSGHDR + MSGHDR_CONTROLLEN, 0, true);
      }
      dv.setUint32(v.names + k * SIZEOF_SOCKADDR_IN + 4, list.dst[k]!);
    }
    this.txArena = arena;
    this.txList = list;
    this.txBatch = undefined;
    this.transmit(count);
  }

  sendBatch(arena: PacketArena, batch: GsoBatch): void {
    const v = this.tx;
    const dv = v.dv;
    const iov = batch.iov;
    for (let i = 0; i < iov.count; i++) v.setIov(i, arena.base + iov.off[i]!, iov.len[i]!);
    for (let k = 0; k < batch.count; k++) {
      const m = k * SIZEOF_MMSGHDR;
      v.pointIov(k, batch.firstIov[k]!, batch.iovCount[k]!);
      dv.setUint32(v.names + k * SIZEOF_SOCKADDR_IN + 4, batch.dst[k]!);
      const segs = batch.segs[k]!;
      dv.setUint32(m + MSGHDR_CONTROLLEN, segs > 1 ? CONTROL_SPACE : 0, true);
      if (segs > 1) dv.setUint16(v.controls + k * CONTROL_SPACE + CMSG_HDR, batch.segSize[k]!, true);
    }
    this.txBatch = batch;
    this.transmit(batch.count);
  }

  /** Datagrams in message k of the current send (a GSO message of n segments is n datagrams). */
  private datagrams(k: number): number {
    return this.txBatch ? this.txBatch.segs[k]! : 1;
  }

  /** Inner frame bytes in message k of the current send. */
  private innerBytes(k: number): number {
    const b = this.txBatch;
    if (b) return b.bytes[k]! - b.segs[k]! * VXLAN_HEADER_LEN;
    return this.txArena!.len[this.txList!.slot[k]!]! - VXLAN_HEADER_LEN;
  }

  /** sendmmsg until every message went out or failed; counted per datagram. */
  private transmit(count: number): void {
    const c = this.counters;
    let off = 0;
    let waited = false;
    while (off < count) {
      const r = this.c.sendmmsg(this.fd, this.tx.base + off * SIZEOF_MMSGHDR, count - off, 0);
      if (r > 0) {
        for (let k = off; k < off + r; k++) {
          const d = this.datagrams(k);
          c[C_TX_BYTES] += this.innerBytes(k);
          c[C_TX_PACKETS] += d;
          if (d > 1) c[C_TX_GSO_MESSAGES]++;
        }
        off += r;
        continue;
      }
      const e = errno();
      if (e === EAGAIN && !waited) {
        waited = true; // the send buffer is full: give the NIC/peer 20 ms, then drop what is left
        this.c.poll(this.tx.base + this.tx.pollfd, 1, 20);
        continue;
      }
      if (e === EINTR) continue;
      this.lastSendErrno = e;
      c[C_UDP_SEND_ERRORS]++;
      if (e === EAGAIN) {
        for (let k = off; k < count; k++) c[D_FULL] += this.datagrams(k);
        return;
      }
      c[e === EMSGSIZE ? D_TOO_BIG : D_SEND] += this.datagrams(off);
      off++; // skip the message that failed, keep the rest of the batch
    }
  }

  close(): void {
    this.c.close(this.fd);
  }
}
