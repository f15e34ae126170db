/**
 * The TAP device: an L2 interface whose frames weft reads and writes through /dev/net/tun.
 *
 * Opened with IFF_TAP | IFF_NO_PI (raw Ethernet frames, no packet-info prefix) and O_NONBLOCK: the
 * worker's loop drains it until EAGAIN and sleeps in poll(), never in read(). Reads land at HEADROOM
 * in an arena slot (see packet-arena.ts); writes go straight from the slot: no copies in userspace.
 * A later IFF_VNET_HDR mode reads 12 bytes earlier into the same headroom.
 */
import { type PacketArena, HEADROOM } from '../packet-arena.js';
import type { TapPort } from '../ports.js';
import {
  EAGAIN,
  IFF_NO_PI,
  IFF_TAP,
  IFNAMSIZ,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  TUNSETIFF,
  TUNSETPERSIST,
  addressOf,
  errno,
  libc,
  sysError,
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
 * of the agent; the next open attaches to it again).
 */
export function openTap(name: string, opts: { persist?: boolean } = {}): number {
  assertIfName(name);
  const c = libc();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw sysError('open /dev/net/tun');
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(name).subarray(0, IFNAMSIZ - 1));
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI, true);
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = sysError(`TUNSETIFF ${name}`);
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

export class LinuxTap implements TapPort {
  private readonly c = libc();
  /** errno of the last failed read other than EAGAIN (for logs), 0 if none. */
  lastReadErrno = 0;

  constructor(readonly fd: number) {}

  /** Prepares an arena for this port (records its raw address). */
  attach(arena: PacketArena): void {
    if (arena.base === 0) arena.base = addressOf(arena.buffer);
  }

  readFrames(arena: PacketArena, max: number): number {
    const read = this.c.read;
    const fd = this.fd;
    const size = arena.slotSize;
    const room = size - HEADROOM;
    let addr = arena.base + HEADROOM;
    let n = 0;
    while (n < max) {
      const r = read(fd, addr, room);
      if (r < 0) {
        const e = errno();
        if (e !== EAGAIN) this.lastReadErrno = e;
        break;
      }
      arena.len[n++] = r;
      addr += size;
    }
    return n;
  }

  writeFrame(arena: PacketArena, off: number, len: number): boolean {
    return this.c.write(this.fd, arena.base + off, len) === len;
  }

  close(): void {
    this.c.close(this.fd);
  }
}
