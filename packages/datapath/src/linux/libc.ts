/**
 * The few libc calls the datapath needs, bound through koffi (FFI), and their Linux constants.
 *
 * Why koffi: Node has no ioctl, no recvmmsg/sendmmsg, no TAP. koffi calls libc directly with ~120 ns
 * over the syscall (measured on this machine class), ships prebuilt binaries in its npm package (no
 * compiler on the node) and lets TypeScript own the hot loop. Pointer arguments are passed as plain
 * Numbers (raw addresses = arena base + offset): no Buffer views and no BigInt per call.
 * Blocking calls (poll) only ever run in the datapath's worker thread.
 */
import koffi from 'koffi';

export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUNSETVNETLE = 0x400454dc;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_ATTACH_QUEUE = 0x0200;
export const IFF_DETACH_QUEUE = 0x0400;
export const TUNSETQUEUE = 0x400454d9;
export const IFNAMSIZ = 16;

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_ATTACH_REUSEPORT_CBPF = 51;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_NO_CHECK = 11;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const IPPROTO_IP = 0;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const IP_MTU_DISCOVER = 10;
export const IP_PMTUDISC_DO = 2;

export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;

export const EINTR = 4;
export const EAGAIN = 11;
export const EINVAL = 22;
export const EADDRINUSE = 98;
export const EMSGSIZE = 90;
export const EWOULDBLOCK = EAGAIN;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** x86_64 / aarch64 struct sizes. */
export const SIZEOF_IOVEC = 16;
export const SIZEOF_MMSGHDR = 64; // struct msghdr (56) + msg_len (4) + padding
export const SIZEOF_SOCKADDR_IN = 16;
export const SIZEOF_POLLFD = 8;
export const MSGHDR_NAME = 0;
export const MSGHDR_NAMELEN = 8;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MSGHDR_CONTROL = 32;
export const MSGHDR_CONTROLLEN = 40;
/** struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type (int); data at 16. */
export const CMSG_HDR = 16;
export const MSGHDR_FLAGS = 48;
export const MMSGHDR_LEN = 56;

export interface Libc {
  open(path: string, flags: number): number;
  close(fd: number): number;
  ioctl(fd: number, req: number, arg: unknown): number;
  read(fd: number, buf: number | Uint8Array, n: number): number;
  write(fd: number, buf: number | Uint8Array, n: number): number;
  writev(fd: number, iov: number, n: number): number;
  socket(domain: number, type: number, proto: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  recvmmsg(fd: number, msgs: number, n: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, msgs: number, n: number, flags: number): number;
  poll(fds: number, n: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  strerror(errnum: number): string;
  flock(fd: number, op: number): number;
}

let bound: Libc | undefined;

/** libc bound in this thread (koffi handles are per thread). */
export function libc(): Libc {
  if (bound) return bound;
  const lib = koffi.load('libc.so.6');
  bound = {
    open: lib.func('int open(const char *path, int flags)'),
    close: lib.func('int close(int fd)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
    read: lib.func('long read(int fd, void *buf, size_t n)'),
    write: lib.func('long write(int fd, void *buf, size_t n)'),
    writev: lib.func('long writev(int fd, void *iov, int n)'),
    socket: lib.func('int socket(int domain, int type, int proto)'),
    bind: lib.func('int bind(int fd, void *addr, uint32_t len)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)'),
    recvmmsg: lib.func('int recvmmsg(int fd, void *msgs, unsigned int n, int flags, void *timeout)'),
    sendmmsg: lib.func('int sendmmsg(int fd, void *msgs, unsigned int n, int flags)'),
    poll: lib.func('int poll(void *fds, unsigned long n, int timeout)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    strerror: lib.func('const char *strerror(int errnum)'),
    flock: lib.func('int flock(int fd, int op)'),
  };
  return bound;
}

export function errno(): number {
  return koffi.errno();
}

/** An Error for a failed call, with errno's name in the message ("open /dev/net/tun: Permission denied"). */
export function sysError(what: string, err = koffi.errno()): Error & { errno: number } {
  const e = new Error(`${what}: ${libc().strerror(err)} (errno ${err})`) as Error & { errno: number };
  e.errno = err;
  return e;
}

/** Raw address of a buffer's memory, as a Number (user-space addresses fit in 47 bits). */
export function addressOf(buf: ArrayBuffer | SharedArrayBuffer | Uint8Array): number {
  const view = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  return Number(koffi.address(view));
}

/** Writes a 64-bit pointer (little-endian) without BigInt. */
export function writePtr(dv: DataView, off: number, ptr: number): void {
  const lo = ptr % 0x1_0000_0000;
  dv.setUint32(off, lo, true);
  dv.setUint32(off + 4, (ptr - lo) / 0x1_0000_0000, true);
}

export function setIntOpt(fd: number, level: number, name: number, value: number): boolean {
  const v = new Uint8Array(4);
  new DataView(v.buffer).setInt32(0, value, true);
  return libc().setsockopt(fd, level, name, v, 4) === 0;
}
