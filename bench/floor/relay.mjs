#!/usr/bin/env node
// floor-relay.mjs: relay.c's loop, line for line, in JavaScript through koffi (a bench fixture).
// Same TAP flags, same syscalls (non-blocking read until EAGAIN, sendmmsg, recvmmsg, write per frame,
// poll when idle), one static peer, no FDB, no counters, no worker thread. Set beside relay.c and weft
// in bench:rtt and bench:datapath it splits the gap: relay.c -> relay.mjs is the price of the language
// (V8 + FFI calls), relay.mjs -> weft the price of weft's own work (FDB, checks, counters, worker).
// usage: node relay.mjs -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Worker, isMainThread } from 'node:worker_threads';

const require = createRequire(new URL('../../packages/datapath/package.json', import.meta.url));
const koffi = require('koffi');
if (isMainThread && process.argv.includes('-w')) {
  // -w: the same loop in a worker thread, as weft runs it (the main thread only waits)
  new Worker(new URL(import.meta.url), { argv: process.argv.slice(2).filter((a) => a !== '-w'), stdout: false });
  process.on('SIGTERM', () => process.exit(0));
} else {
  const { values: o } = parseArgs({
    options: {
      w: { type: 'boolean' },
      d: { type: 'string' },
      p: { type: 'string' },
      P: { type: 'string', default: '8472' },
      n: { type: 'string', default: '1' },
      b: { type: 'string', default: '64' },
    },
  });
  if (!o.d || !o.p) throw new Error('usage: relay.mjs -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH]');
  const lib = koffi.load('libc.so.6');
  const c = {
    open: lib.func('int open(const char *path, int flags)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, void *arg)'),
    read: lib.func('long read(int fd, void *buf, size_t n)'),
    write: lib.func('long write(int fd, void *buf, size_t n)'),
    socket: lib.func('int socket(int d, int t, int p)'),
    bind: lib.func('int bind(int fd, void *a, uint32_t l)'),
    setsockopt: lib.func('int setsockopt(int fd, int l, int n, void *v, uint32_t len)'),
    recvmmsg: lib.func('int recvmmsg(int fd, void *m, unsigned int n, int f, void *t)'),
    sendmmsg: lib.func('int sendmmsg(int fd, void *m, unsigned int n, int f)'),
    poll: lib.func('int poll(void *fds, unsigned long n, int t)'),
  };
  const BATCH = Number(o.b),
    SLOT = 2048,
    HEAD = 64,
    MM = 64;
  const tap = c.open('/dev/net/tun', 2 | 0o4000 | 0o2000000);
  const ifr = new Uint8Array(40);
  ifr.set(new TextEncoder().encode(o.d));
  new DataView(ifr.buffer).setUint16(16, 0x0002 | 0x1000, true);
  if (tap < 0 || c.ioctl(tap, 0x400454ca, ifr) < 0) throw new Error('TAP open failed');
  c.ioctl(tap, 0x400454d0, 0);
  const udp = c.socket(2, 2 | 0o4000 | 0o2000000, 0);
  const int = (v) => new Int32Array([v]);
  c.setsockopt(udp, 1, 2, int(1), 4); // SO_REUSEADDR
  c.setsockopt(udp, 1, 11, int(1), 4); // SO_NO_CHECK
  c.setsockopt(udp, 0, 10, int(2), 4); // IP_MTU_DISCOVER DO
  c.setsockopt(udp, 1, 32, int(4 << 20), 4);
  c.setsockopt(udp, 1, 33, int(4 << 20), 4);
  const sa = (ip, port) => {
    const b = new Uint8Array(16),
      dv = new DataView(b.buffer);
    dv.setUint16(0, 2, true);
    dv.setUint16(2, port);
    dv.setUint32(4, ip);
    return b;
  };
  const port = Number(o.P),
    vni = Number(o.n);
  if (c.bind(udp, sa(0, port), 16) < 0) throw new Error('bind failed');
  const peer = o.p.split('.').reduce((a, x) => a * 256 + Number(x), 0);

  // one arena: tx slots, rx slots, then mmsghdrs, iovecs, sockaddrs, pollfds
  const tx = new ArrayBuffer(BATCH * SLOT),
    rx = new ArrayBuffer(BATCH * SLOT);
  const txdv = new DataView(tx),
    rxdv = new DataView(rx);
  const ctl = new ArrayBuffer(2 * BATCH * (MM + 16 + 16) + 16);
  const cdv = new DataView(ctl);
  const addr = (b) => Number(koffi.address(new Uint8Array(b)));
  const txBase = addr(tx),
    rxBase = addr(rx),
    cBase = addr(ctl);
  const TXM = 0,
    RXM = BATCH * MM,
    IOV = 2 * BATCH * MM,
    NAME = IOV + 2 * BATCH * 16,
    PFD = NAME + 2 * BATCH * 16;
  const ptr = (off, p) => {
    cdv.setUint32(off, p % 2 ** 32, true);
    cdv.setUint32(off + 4, Math.floor(p / 2 ** 32), true);
  };
  const to = sa(peer, port);
  for (let i = 0; i < BATCH; i++) {
    for (const [m, v, name] of [
      [TXM + i * MM, IOV + i * 16, NAME + i * 16],
      [RXM + i * MM, IOV + (BATCH + i) * 16, NAME + (BATCH + i) * 16],
    ]) {
      ptr(m, cBase + name);
      cdv.setUint32(m + 8, 16, true);
      ptr(m + 16, cBase + v);
      cdv.setUint32(m + 24, 1, true);
    }
    new Uint8Array(ctl, NAME + i * 16, 16).set(to);
    ptr(IOV + (BATCH + i) * 16, rxBase + i * SLOT + HEAD);
    cdv.setUint32(IOV + (BATCH + i) * 16 + 8, SLOT - HEAD, true);
  }
  cdv.setInt32(PFD, tap, true);
  cdv.setInt16(PFD + 4, 1, true);
  cdv.setInt32(PFD + 8, udp, true);
  cdv.setInt16(PFD + 12, 1, true);
  process.stdout.write(`ready dev=${o.d}\n`);
  process.on('SIGTERM', () => process.exit(0));

  const { read, write, sendmmsg, recvmmsg, poll } = c;
  for (;;) {
    let n = 0;
    while (n < BATCH) {
      const s = n * SLOT;
      const r = read(tap, txBase + s + HEAD, SLOT - HEAD);
      if (r <= 0) break;
      txdv.setUint32(s + HEAD - 8, 0x08000000);
      txdv.setUint32(s + HEAD - 4, vni << 8);
      ptr(IOV + n * 16, txBase + s + HEAD - 8);
      cdv.setUint32(IOV + n * 16 + 8, r + 8, true);
      n++;
    }
    if (n > 0) sendmmsg(udp, cBase + TXM, n, 0);
    for (let i = 0; i < BATCH; i++) cdv.setUint32(RXM + i * MM + 8, 16, true);
    const m = recvmmsg(udp, cBase + RXM, BATCH, 0x40, null);
    for (let i = 0; i < m; i++) {
      const len = cdv.getUint32(RXM + i * MM + 56, true);
      const d = i * SLOT + HEAD;
      if (len < 22 || (rxdv.getUint8(d) & 0x08) === 0 || rxdv.getUint32(d + 4) !== (vni << 8) >>> 0) continue;
      write(tap, rxBase + d + 8, len - 8);
    }
    if (n === 0 && m <= 0) poll(cBase + PFD, 2, -1);
  }
}
