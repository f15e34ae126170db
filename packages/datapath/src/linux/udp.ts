/**
 * The VXLAN UDP socket, batched with recvmmsg/sendmmsg.
 *
 * One non-blocking IPv4 socket bound to the VXLAN port (8472 by default) both receives and sends, so
 * the outer source port is that port for every flow (see the README: a flow-hashed source port would
 * need one socket per port and would split every batch; the receive side, kernel vxlan included,
 * accepts any source port). Options, each for a reason:
 * - SO_NO_CHECK: outer UDP checksum zero over IPv4, as RFC 7348 recommends and Linux vxlan sends.
 * - IP_MTU_DISCOVER=DO: DF set; VTEPs must not fragment (RFC 7348 §4.3); a datagram too large for the
 *   path fails with EMSGSIZE and is counted (`tx_too_big`) instead of being fragmented.
 * - 4 MiB send/receive buffers (forced as root): bursts of a TCP window fit while the worker is busy.
 *
 * The msghdr/iovec/sockaddr arrays live in one control buffer, built once; per message the send path
 * writes the iovec base/length and the destination address, the receive path reads length, flags and
 * source address. Pointers are Numbers (see libc.ts).
 */
import { C_TX_BYTES, C_TX_PACKETS, DROP_INDEX } from '../counters.js';
import { type PacketArena, type SendList, DGRAM_OFF } from '../packet-arena.js';
import type { UdpPort } from '../ports.js';
import { VXLAN_HEADER_LEN } from '../vxlan-header.js';
import {
  AF_INET,
  EAGAIN,
  EINTR,
  EMSGSIZE,
  IPPROTO_IP,
  IP_MTU_DISCOVER,
  IP_PMTUDISC_DO,
  MMSGHDR_LEN,
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
  SO_NO_CHECK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_REUSEADDR,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
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

export function sockaddrIn(ip: number, port: number): Uint8Array {
  const b = new Uint8Array(SIZEOF_SOCKADDR_IN);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_INET, true);
  dv.setUint16(2, port);
  dv.setUint32(4, ip);
  return b;
}

/** Opens and binds the VXLAN socket. `localIp` 0 binds every address (as the kernel vxlan socket does). */
export function openVxlanSocket(localIp: number, port: number): number {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw sysError('socket(AF_INET, SOCK_DGRAM)');
  setIntOpt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  setIntOpt(fd, SOL_SOCKET, SO_NO_CHECK, 1);
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

/** msghdr array + iovecs + sockaddrs for `n` messages, in one control buffer. */
class MessageVector {
  readonly buf: ArrayBuffer;
  readonly dv: DataView;
  readonly base: number;
  readonly msgs: number;
  readonly iovs: number;
  readonly names: number;

  constructor(readonly n: number) {
    this.buf = new ArrayBuffer(n * (SIZEOF_MMSGHDR + SIZEOF_IOVEC + SIZEOF_SOCKADDR_IN) + SIZEOF_POLLFD);
    this.dv = new DataView(this.buf);
    this.base = addressOf(this.buf);
    this.msgs = 0;
    this.iovs = n * SIZEOF_MMSGHDR;
    this.names = this.iovs + n * SIZEOF_IOVEC;
    for (let k = 0; k < n; k++) {
      const m = this.msgs + k * SIZEOF_MMSGHDR;
      writePtr(this.dv, m + MSGHDR_NAME, this.base + this.names + k * SIZEOF_SOCKADDR_IN);
      this.dv.setUint32(m + MSGHDR_NAMELEN, SIZEOF_SOCKADDR_IN, true);
      writePtr(this.dv, m + MSGHDR_IOV, this.base + this.iovs + k * SIZEOF_IOVEC);
      this.dv.setUint32(m + MSGHDR_IOVLEN, 1, true);
    }
  }

  /** Offset of a pollfd for the socket (used while waiting for send-buffer room). */
  get pollfd(): number {
    return this.buf.byteLength - SIZEOF_POLLFD;
  }
}

export class LinuxUdp implements UdpPort {
  private readonly c = libc();
  private rx: MessageVector | undefined;
  private rxArena: PacketArena | undefined;
  private readonly tx: MessageVector;
  private port = 0;
  /** errno of the last receive failure other than EAGAIN, 0 if none. */
  lastRecvErrno = 0;

  constructor(
    readonly fd: number,
    private readonly counters: Float64Array,
    maxSend: number,
  ) {
    this.tx = new MessageVector(maxSend);
    this.tx.dv.setInt32(this.tx.pollfd, fd, true);
    this.tx.dv.setInt16(this.tx.pollfd + 4, POLLOUT, true);
  }

  /** Destination UDP port for sends (the peers' VXLAN port). */
  setDestinationPort(port: number): void {
    this.port = port;
    for (let k = 0; k < this.tx.n; k++) {
      const sa = this.tx.names + k * SIZEOF_SOCKADDR_IN;
      this.tx.dv.setUint16(sa, AF_INET, true);
      this.tx.dv.setUint16(sa + 2, port);
    }
  }

  /** Binds the receive vector to an arena: iovec i -> slot i at DGRAM_OFF. */
  attachReceive(arena: PacketArena): void {
    if (arena.base === 0) arena.base = addressOf(arena.buffer);
    const v = new MessageVector(arena.slots);
    for (let i = 0; i < arena.slots; i++) {
      const iov = v.iovs + i * SIZEOF_IOVEC;
      writePtr(v.dv, iov, arena.base + arena.datagramOffset(i));
      v.dv.setUint32(iov + 8, arena.slotSize - DGRAM_OFF, true);
      v.dv.setUint32(iov + 12, 0, true);
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
        if (e !== EAGAIN && e !== EINTR) this.lastRecvErrno = e;
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
    }
    return n;
  }

  send(arena: PacketArena, list: SendList): void {
    const v = this.tx;
    const dv = v.dv;
    const count = list.count;
    for (let k = 0; k < count; k++) {
      const slot = list.slot[k]!;
      const iov = v.iovs + k * SIZEOF_IOVEC;
      writePtr(dv, iov, arena.base + arena.datagramOffset(slot));
      dv.setUint32(iov + 8, arena.len[slot]!, true);
      dv.setUint32(v.names + k * SIZEOF_SOCKADDR_IN + 4, list.dst[k]!);
    }
    this.transmit(arena, list, count);
  }

  /** sendmmsg until every message went out or failed; failures are counted per message. */
  private transmit(arena: PacketArena, list: SendList, count: number): void {
    const c = this.counters;
    let off = 0;
    let waited = false;
    while (off < count) {
      const r = this.c.sendmmsg(this.fd, this.tx.base + off * SIZEOF_MMSGHDR, count - off, 0);
      if (r > 0) {
        for (let k = off; k < off + r; k++) c[C_TX_BYTES] += arena.len[list.slot[k]!]! - VXLAN_HEADER_LEN;
        c[C_TX_PACKETS] += r;
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
      if (e === EAGAIN) {
        c[D_FULL] += count - off;
        return;
      }
      c[e === EMSGSIZE ? D_TOO_BIG : D_SEND]++;
      off++; // skip the message that failed, keep the rest of the batch
    }
  }

  close(): void {
    this.c.close(this.fd);
  }
}
