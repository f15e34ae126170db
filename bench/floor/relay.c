/*
 * floor-relay: the userspace floor for weft's datapath, a bench fixture (not shipped).
 *
 * It does weft's job the fastest plain way and nothing else: one TAP (IFF_TAP | IFF_NO_PI, plus
 * IFF_VNET_HDR with offloads cleared when -V is given, as weft's offload mode opens it), one UDP socket
 * bound to the VXLAN port, one static peer from the command line, no FDB, no peer check, no counters
 * beyond totals. One thread, one loop:
 *
 *   read TAP until EAGAIN or BATCH frames -> prepend VXLAN header in headroom -> sendmmsg to the peer
 *   recvmmsg up to BATCH datagrams        -> check flags/VNI              -> write each inner frame
 *   both idle                             -> poll(TAP, UDP, -1)
 *
 * So the gap between this and kernel vxlan is the price of doing VXLAN in userspace with this design,
 * and the gap between weft and this is the price of weft's language and its extra work.
 *
 * -U does the TAP's I/O through io_uring instead (raw syscalls, no liburing), to weigh that option by
 * measurement: BATCH reads stay in flight on the TAP (each slot re-armed once its frame is sent), the
 * frames of one recvmmsg go to the TAP as BATCH writes, and one io_uring_enter per round submits them
 * all, reaps the completions and, when idle, waits (a one-shot poll on the UDP socket rides in the
 * same ring). The UDP side stays sendmmsg/recvmmsg in both modes: it is batched already.
 *
 * usage: floor-relay -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH] [-V] [-B SOCKBUF] [-U]
 * Prints "ready dev=DEV" when forwarding; on SIGTERM/SIGINT prints totals and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
#define SLOT 2048
#define HEAD 64 /* headroom: VXLAN header (8) written in front of the frame */
#define VNET_HDR 10

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }
static void on_signals(void) {
  /* no SA_RESTART: a blocked poll() or io_uring_enter() returns EINTR and the loop sees `stop` */
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int open_tap(const char *dev, int vnet) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, dev, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
  if (vnet) {
    int sz = VNET_HDR;
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) die("TUNSETVNETHDRSZ");
  }
  if (ioctl(fd, TUNSETOFFLOAD, 0) < 0) die("TUNSETOFFLOAD 0");
  return fd;
}

static int open_udp(int port, int bufsize) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1, pmtu = IP_PMTUDISC_DO;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one);
  setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof bufsize) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof bufsize) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  return fd;
}

static uint8_t txbuf[MAX_BATCH][SLOT], rxbuf[MAX_BATCH][SLOT];
static struct mmsghdr txm[MAX_BATCH], rxm[MAX_BATCH];
static struct iovec txv[MAX_BATCH], rxv[MAX_BATCH];
static struct sockaddr_in rxfrom[MAX_BATCH], to;
static int tap, udp, batch = 64, pre;
static uint32_t vxflags, vxvni;
static unsigned long long txn, rxn, rxbad, txdrop, rxdrop, enters;

/* The VXLAN header in front of the frame read into tx slot `s` (at HEAD - pre); its iovec as message n. */
static void encap(int n, uint8_t *s, ssize_t r) {
  uint32_t *vx = (uint32_t *)(s + HEAD - 8);
  vx[0] = vxflags;
  vx[1] = vxvni;
  txv[n].iov_base = s + HEAD - 8;
  txv[n].iov_len = (size_t)(r - pre) + 8;
}

static void send_batch(int n) {
  for (int off = 0; off < n;) {
    int r = sendmmsg(udp, txm + off, (unsigned)(n - off), 0);
    if (r > 0) { off += r; txn += (unsigned)r; continue; }
    if (errno == EINTR) continue;
    txdrop += (unsigned)(n - off);
    break;
  }
}

/* recvmmsg up to `batch` datagrams; returns how many, or <= 0. */
static int receive_batch(void) {
  for (int i = 0; i < batch; i++) rxm[i].msg_hdr.msg_namelen = sizeof rxfrom[i];
  return recvmmsg(udp, rxm, (unsigned)batch, MSG_DONTWAIT, NULL);
}

/* The inner frame of datagram i (vnet header zeroed in front of it when -V), or NULL if not ours. */
static uint8_t *decap(int i, unsigned *framelen) {
  uint8_t *d = rxbuf[i] + HEAD;
  unsigned len = rxm[i].msg_len;
  uint32_t *vx = (uint32_t *)d;
  if (len < 8 + 14 || (vx[0] & vxflags) == 0 || vx[1] != vxvni) { rxbad++; return NULL; }
  if (pre) memset(d + 8 - pre, 0, (size_t)pre);
  *framelen = len - 8 + (unsigned)pre;
  return d + 8 - pre;
}

static void relay_poll(void) {
  struct pollfd pfd[2] = {{.fd = tap, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
  while (!stop) {
    int n = 0;
    while (n < batch) {
      ssize_t r = read(tap, txbuf[n] + HEAD - pre, SLOT - HEAD + pre);
      if (r <= pre) break;
      encap(n, txbuf[n], r);
      n++;
    }
    send_batch(n);
    int m = receive_batch();
    for (int i = 0; i < m; i++) {
      unsigned flen;
      uint8_t *frame = decap(i, &flen);
      if (!frame) continue;
      if (write(tap, frame, flen) < 0) rxdrop++;
      else rxn++;
    }
    if (n == 0 && m <= 0) poll(pfd, 2, -1);
  }
}

/* ---- io_uring (-U): a ring mapped by hand, as io_uring(7) describes it ---- */
struct ring {
  int fd;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  unsigned tail, pending;
};
enum { OP_READ = 1, OP_WRITE = 2, OP_POLL = 3 };
#define TAG(op, i) (((uint64_t)(op) << 32) | (uint32_t)(i))

static void ring_open(struct ring *q, unsigned entries) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN; /* completions run only when we ask */
  q->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
  if (q->fd < 0) die("io_uring_setup");
  size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) sqlen = cqlen = sqlen > cqlen ? sqlen : cqlen;
  uint8_t *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd, IORING_OFF_SQ_RING);
  uint8_t *cq = (p.features & IORING_FEAT_SINGLE_MMAP)
                    ? sq
                    : mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd, IORING_OFF_CQ_RING);
  q->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd,
                 IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || q->sqes == MAP_FAILED) die("mmap io_uring");
  q->sq_head = (unsigned *)(sq + p.sq_off.head);
  q->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  q->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  q->sq_array = (unsigned *)(sq + p.sq_off.array);
  q->cq_head = (unsigned *)(cq + p.cq_off.head);
  q->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  q->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  q->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  q->tail = *q->sq_tail;
  q->pending = 0;
}

static struct io_uring_sqe *sqe_next(struct ring *q, int op, int fd, uint64_t tag) {
  unsigned idx = q->tail & *q->sq_mask;
  struct io_uring_sqe *e = &q->sqes[idx];
  memset(e, 0, sizeof *e);
  e->opcode = (uint8_t)op;
  e->fd = fd;
  e->user_data = tag;
  q->sq_array[idx] = idx;
  q->tail++;
  q->pending++;
  return e;
}

static void sqe_rw(struct ring *q, int op, int i, void *buf, unsigned len) {
  struct io_uring_sqe *e = sqe_next(q, op == OP_READ ? IORING_OP_READ : IORING_OP_WRITE, tap, TAG(op, i));
  e->addr = (uint64_t)(uintptr_t)buf;
  e->len = len;
  e->off = (uint64_t)-1; /* a character device: no file position */
}

/* Submits what is queued and, if `wait`, blocks until one completion: one syscall per round. */
static void ring_enter(struct ring *q, unsigned wait) {
  __atomic_store_n(q->sq_tail, q->tail, __ATOMIC_RELEASE);
  int r = (int)syscall(__NR_io_uring_enter, q->fd, q->pending, wait, IORING_ENTER_GETEVENTS, NULL, 0);
  enters++;
  if (r >= 0) q->pending -= (unsigned)r;
  else if (errno != EINTR && errno != EAGAIN && errno != EBUSY) die("io_uring_enter");
}

static void relay_uring(void) {
  struct ring q;
  ring_open(&q, 4 * MAX_BATCH);
  int fl = fcntl(tap, F_GETFL);
  fcntl(tap, F_SETFL, fl & ~O_NONBLOCK); /* a read in flight waits (io_uring polls it), not EAGAIN */
  for (int i = 0; i < batch; i++) sqe_rw(&q, OP_READ, i, txbuf[i] + HEAD - pre, SLOT - HEAD + pre);
  int udp_armed = 0, writes = 0, idle = 0, slot[MAX_BATCH];
  while (!stop) {
    ring_enter(&q, idle ? 1 : 0);
    int n = 0;
    unsigned head = *q.cq_head, tail = __atomic_load_n(q.cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++) {
      struct io_uring_cqe *c = &q.cqes[head & *q.cq_mask];
      int op = (int)(c->user_data >> 32), i = (int)(uint32_t)c->user_data;
      if (op == OP_READ && c->res > pre) { encap(n, txbuf[i], c->res); slot[n++] = i; }
      else if (op == OP_READ) sqe_rw(&q, OP_READ, i, txbuf[i] + HEAD - pre, SLOT - HEAD + pre); /* EAGAIN/EINTR: re-arm */
      else if (op == OP_WRITE) { writes--; if (c->res < 0) rxdrop++; else rxn++; }
      else udp_armed = 0;
    }
    __atomic_store_n(q.cq_head, head, __ATOMIC_RELEASE);
    send_batch(n);
    for (int k = 0; k < n; k++) sqe_rw(&q, OP_READ, slot[k], txbuf[slot[k]] + HEAD - pre, SLOT - HEAD + pre);
    int m = writes ? 0 : receive_batch(); /* rx slots are busy until their writes complete */
    for (int i = 0; i < m; i++) {
      unsigned flen;
      uint8_t *frame = decap(i, &flen);
      if (frame) { sqe_rw(&q, OP_WRITE, i, frame, flen); writes++; }
    }
    if (m <= 0 && !writes && !udp_armed) {
      struct io_uring_sqe *e = sqe_next(&q, IORING_OP_POLL_ADD, udp, TAG(OP_POLL, 0));
      e->poll32_events = POLLIN;
      udp_armed = 1;
    }
    idle = n == 0 && m <= 0;
  }
}

int main(int argc, char **argv) {
  const char *dev = NULL, *peer = NULL;
  int port = 8472, vni = 1, vnet = 0, uring = 0, bufsize = 4 << 20, opt;
  while ((opt = getopt(argc, argv, "d:p:P:n:b:VB:U")) != -1) {
    switch (opt) {
      case 'd': dev = optarg; break;
      case 'p': peer = optarg; break;
      case 'P': port = atoi(optarg); break;
      case 'n': vni = atoi(optarg); break;
      case 'b': batch = atoi(optarg); break;
      case 'V': vnet = 1; break;
      case 'B': bufsize = atoi(optarg); break;
      case 'U': uring = 1; break;
      default: fprintf(stderr, "usage: floor-relay -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH] [-V] [-B SOCKBUF] [-U]\n"); return 2;
    }
  }
  if (!dev || !peer || batch < 1 || batch > MAX_BATCH) {
    fprintf(stderr, "floor-relay: -d DEV and -p PEER_IP are required, batch 1..%d\n", MAX_BATCH);
    return 2;
  }
  to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, peer, &to.sin_addr) != 1) { fprintf(stderr, "bad peer %s\n", peer); return 2; }
  on_signals();
  tap = open_tap(dev, vnet);
  udp = open_udp(port, bufsize);
  pre = vnet ? VNET_HDR : 0;
  vxflags = htonl(0x08000000);
  vxvni = htonl((uint32_t)vni << 8);
  for (int i = 0; i < MAX_BATCH; i++) {
    txm[i].msg_hdr.msg_name = &to;
    txm[i].msg_hdr.msg_namelen = sizeof to;
    txm[i].msg_hdr.msg_iov = &txv[i];
    txm[i].msg_hdr.msg_iovlen = 1;
    rxv[i].iov_base = rxbuf[i] + HEAD;
    rxv[i].iov_len = SLOT - HEAD;
    rxm[i].msg_hdr.msg_iov = &rxv[i];
    rxm[i].msg_hdr.msg_iovlen = 1;
    rxm[i].msg_hdr.msg_name = &rxfrom[i];
  }
  printf("ready dev=%s%s\n", dev, uring ? " io_uring" : "");
  fflush(stdout);
  if (uring) relay_uring();
  else relay_poll();
  fprintf(stderr, "floor-relay: tx %llu rx %llu rx_bad %llu tx_drop %llu rx_drop %llu io_uring_enter %llu\n", txn, rxn, rxbad,
          txdrop, rxdrop, enters);
  return 0;
}
