/**
 * The TAP device: an L2 interface whose frames weft reads and writes through /dev/net/tun.
 *
 * Opened with IFF_TAP | IFF_NO_PI (raw Ethernet frames, no packet-info prefix) and O_NONBLOCK: the
 * worker's loop drains it until EAGAIN and sleeps in poll(), never in read(). Reads land at HEADROOM
 * in an arena slot (see packet-arena.ts); writes go straight from the slot: no copies in userspace.
 *
 * Offload mode adds IFF_VNET_HDR: every read and write carries a 10-byte virtio_net_hdr in front of
 * the frame (virtio-net-hdr.ts). Reads land 10 bytes before HEADROOM so the frame stays at HEADROOM;
 * single frames are written behind a shared all-zero header (writev of two iovecs), coalesced
 * super-frames as the coalescer's iovec list (header, head frame, payloads). TUNSETOFFLOAD then lets
 * the kernel hand us TSO super-frames and partial checksums (TUN_F_CSUM | TUN_F_TSO4).
 */
import { C_TAP_READ_ERRORS, C_TAP_WRITE_ERRORS, COUNTER_SLOTS } from '../counters.js';
import type { IoVecList } from '../iovec-list.js';
import { type PacketArena, HEADROOM } from '../packet-arena.js';
import type { OffloadTapPort } from '../ports.js';
import { VNET_HDR_LEN } from '../virtio-net-hdr.js';
import { MAX_GRO_SEGMENTS } from '../gro-coalescer.js';
import {
  EAGAIN,
  IFF_ATTACH_QUEUE,
  IFF_DETACH_QUEUE,
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_VNET_HDR,
  IFNAMSIZ,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SIZEOF_IOVEC,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETPERSIST,
  TUNSETQUEUE,
  TUNSETVNETHDRSZ,
  TUNSETVNETLE,
  addressOf,
  errno,
  libc,
  sysError,
  writePtr,
} from './libc.js';

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

export function assertIfName(name: string): string {
  if (!IFNAME_RE.test(name)) {
    throw new Error(`invalid interface name ${JSON.stringify(name)}: 1-15 characters of [A-Za-z0-9_.-]`);
  }
  return name;
}

/**
 * Creates (or attaches to) the TAP device `name` in the calling process's network namespace.
 * With `persist`, the device outlives the process (its MAC, addresses and routes survive a restart
 * of the agent; the next open attaches to it again). With `multiQueue`, every open attaches one more
 * queue (IFF_MULTI_QUEUE): a second process can read and write the same device while the first still
 * runs, which is how a weftd upgrade hands the device over (see the control README).
 */
export function openTap(name: string, opts: { persist?: boolean; vnetHdr?: boolean; multiQueue?: boolean } = {}): number {
  assertIfName(name);
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw sysError('open /dev/net/tun');
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(name).subarray(0, IFNAMSIZ - 1));
  new DataView(ifr.buffer).setUint16(
    IFNAMSIZ,
    IFF_TAP | IFF_NO_PI | (opts.vnetHdr ? IFF_VNET_HDR : 0) | (opts.multiQueue ? IFF_MULTI_QUEUE : 0),
    true,
  );
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = sysError(`TUNSETIFF ${name}${opts.vnetHdr ? ' with IFF_VNET_HDR' : ''}`);
    c.close(fd);
    throw e;
  }
  if (opts.persist !== undefined && c.ioctl(fd, TUNSETPERSIST, opts.persist ? 1 : 0) < 0) {
    const e = sysError(`TUNSETPERSIST ${name}`);
    c.close(fd);
    throw e;
  }
  return fd;
}

/**
 * Detaches this descriptor's queue from a multi-queue TAP (TUNSETQUEUE IFF_DETACH_QUEUE): the kernel
 * sends the device's frames to the other queues from now on. Returns false when refused.
 */
export function detachTapQueue(fd: number): boolean {
  const ifr = new Uint8Array(40);
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_DETACH_QUEUE, true);
  return libc().ioctl(fd, TUNSETQUEUE, ifr) >= 0;
}

/** Re-attaches a queue detached with detachTapQueue (TUNSETQUEUE IFF_ATTACH_QUEUE). Returns false when refused. */
export function attachTapQueue(fd: number): boolean {
  const ifr = new Uint8Array(40);
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_ATTACH_QUEUE, true);
  return libc().ioctl(fd, TUNSETQUEUE, ifr) >= 0;
}

/** Sets the virtio_net_hdr size (10) and little-endian fields on a TAP opened with IFF_VNET_HDR. */
export function configureVnetHeader(fd: number): void {
  const c = libc();
  const v = new Uint8Array(4);
  new DataView(v.buffer).setInt32(0, VNET_HDR_LEN, true);
  if (c.ioctl(fd, TUNSETVNETHDRSZ, v) < 0) throw sysError('TUNSETVNETHDRSZ 10');
  new DataView(v.buffer).setInt32(0, 1, true);
  // Little-endian is also the legacy default on little-endian hosts; kernels without the ioctl are fine there.
  if (c.ioctl(fd, TUNSETVNETLE, v) < 0 && new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw sysError('TUNSETVNETLE (big-endian host)');
  }
}

/** TUNSETOFFLOAD: which offloads the kernel may leave to us (0 = none). Returns false when refused. */
export function setTapOffloads(fd: number, flags: number): boolean {
  return libc().ioctl(fd, TUNSETOFFLOAD, flags) >= 0;
}

export class LinuxTap implements OffloadTapPort {
  private readonly c = libc();
  private readonly pre: number;
  /** writev vectors: [0, 16) an all-zero virtio header; [16, 48) the two iovecs of a single frame
   *  (that header, the frame); from 48 the iovecs of a coalesced frame (2 + MAX_GRO_SEGMENTS). */
  private readonly vec = new ArrayBuffer(48 + (2 + MAX_GRO_SEGMENTS) * SIZEOF_IOVEC);
  private readonly vecDv = new DataView(this.vec);
  private readonly vecBase = addressOf(this.vec);
  /** errno of the last failed read other than EAGAIN (for logs), 0 if none; each one is counted. */
  lastReadErrno = 0;
  /** errno of the last failed write, 0 if none. */
  lastWriteErrno = 0;

  /** Counter array (counters.ts) for tap_read_errors / tap_write_errors; a private one when not given. */
  private readonly counters: Float64Array;

  constructor(
    readonly fd: number,
    opts: { vnetHdr?: boolean; counters?: Float64Array } = {},
  ) {
    this.pre = opts.vnetHdr ? VNET_HDR_LEN : 0;
    this.counters = opts.counters ?? new Float64Array(COUNTER_SLOTS);
    writePtr(this.vecDv, 16, this.vecBase); // iovec 0 -> the zero header at offset 0
    this.vecDv.setUint32(16 + 8, VNET_HDR_LEN, true);
  }

  /** Prepares an arena for this port (records its raw address). */
  attach(arena: PacketArena): void {
    if (arena.base === 0) arena.base = addressOf(arena.buffer);
  }

  readFrames(arena: PacketArena, max: number): number {
    const read = this.c.read; // eslint-disable-line @typescript-eslint/unbound-method -- a koffi function, no `this`
    const { fd, pre } = this;
    const size = arena.slotSize;
    const room = size - HEADROOM + pre;
    let addr = arena.base + HEADROOM - pre;
    let n = 0;
    while (n < max) {
      const r = read(fd, addr, room);
      if (r < 0) {
        const e = errno();
        if (e !== EAGAIN) {
          this.lastReadErrno = e;
          this.counters[C_TAP_READ_ERRORS]++;
        }
        break;
      }
      arena.len[n++] = r > pre ? r - pre : 0;
      addr += size;
    }
    return n;
  }

  writeFrame(arena: PacketArena, off: number, len: number, spareHead = false): boolean {
    if (this.pre === 0) return this.done(this.c.write(this.fd, arena.base + off, len), len);
    if (spareHead) {
      const h = off - VNET_HDR_LEN;
      arena.dv.setUint32(h, 0);
      arena.dv.setUint32(h + 4, 0);
      arena.dv.setUint16(h + 8, 0);
      return this.done(this.c.write(this.fd, arena.base + h, VNET_HDR_LEN + len), VNET_HDR_LEN + len);
    }
    writePtr(this.vecDv, 32, arena.base + off);
    this.vecDv.setUint32(32 + 8, len, true);
    return this.done(this.c.writev(this.fd, this.vecBase + 16, 2), VNET_HDR_LEN + len);
  }

  writeVectored(arena: PacketArena, iov: IoVecList): boolean {
    const dv = this.vecDv;
    let total = 0;
    for (let i = 0; i < iov.count; i++) {
      const at = 48 + i * SIZEOF_IOVEC;
      writePtr(dv, at, arena.base + iov.off[i]);
      dv.setUint32(at + 8, iov.len[i], true);
      total += iov.len[i];
    }
    return this.done(this.c.writev(this.fd, this.vecBase + 48, iov.count), total);
  }

  private done(r: number, want: number): boolean {
    if (r === want) return true;
    if (r < 0) {
      this.lastWriteErrno = errno();
      this.counters[C_TAP_WRITE_ERRORS]++;
    }
    return false;
  }

  close(): void {
    this.c.close(this.fd);
  }
}
