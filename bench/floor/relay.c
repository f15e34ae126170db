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
 * usage: floor-relay -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH] [-V] [-B SOCKBUF]
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
#define SLOT 2048
#define HEAD 64 /* headroom: VXLAN header (8) written in front of the frame */
#define VNET_HDR 10

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

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
static struct sockaddr_in rxfrom[MAX_BATCH];

int main(int argc, char **argv) {
  const char *dev = NULL, *peer = NULL;
  int port = 8472, vni = 1, batch = 64, vnet = 0, bufsize = 4 << 20, opt;
  while ((opt = getopt(argc, argv, "d:p:P:n:b:VB:")) != -1) {
    switch (opt) {
      case 'd': dev = optarg; break;
      case 'p': peer = optarg; break;
      case 'P': port = atoi(optarg); break;
      case 'n': vni = atoi(optarg); break;
      case 'b': batch = atoi(optarg); break;
      case 'V': vnet = 1; break;
      case 'B': bufsize = atoi(optarg); break;
      default: fprintf(stderr, "usage: floor-relay -d DEV -p PEER_IP [-P PORT] [-n VNI] [-b BATCH] [-V] [-B SOCKBUF]\n"); return 2;
    }
  }
  if (!dev || !peer || batch < 1 || batch > MAX_BATCH) {
    fprintf(stderr, "floor-relay: -d DEV and -p PEER_IP are required, batch 1..%d\n", MAX_BATCH);
    return 2;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, peer, &to.sin_addr) != 1) { fprintf(stderr, "bad peer %s\n", peer); return 2; }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int tap = open_tap(dev, vnet), udp = open_udp(port, bufsize);
  const int pre = vnet ? VNET_HDR : 0;
  const uint32_t vxflags = htonl(0x08000000), vxvni = htonl((uint32_t)vni << 8);
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
  struct pollfd pfd[2] = {{.fd = tap, .events = POLLIN}, {.fd = udp, .events = POLLIN}};
  unsigned long long txn = 0, rxn = 0, rxbad = 0, txdrop = 0, rxdrop = 0;
  printf("ready dev=%s\n", dev);
  fflush(stdout);
  while (!stop) {
    int n = 0;
    /* encap: frames land at HEAD - pre, so the VXLAN header goes right in front of the frame. */
    while (n < batch) {
      uint8_t *s = txbuf[n];
      ssize_t r = read(tap, s + HEAD - pre, SLOT - HEAD + pre);
      if (r <= pre) break;
      uint32_t *vx = (uint32_t *)(s + HEAD - 8);
      vx[0] = vxflags;
      vx[1] = vxvni;
      txv[n].iov_base = s + HEAD - 8;
      txv[n].iov_len = (size_t)(r - pre) + 8;
      n++;
    }
    for (int off = 0; off < n;) {
      int r = sendmmsg(udp, txm + off, (unsigned)(n - off), 0);
      if (r > 0) { off += r; txn += (unsigned)r; continue; }
      if (errno == EINTR) continue;
      txdrop += (unsigned)(n - off);
      break;
    }
    /* decap: datagrams land at HEAD; the inner frame starts 8 bytes later (minus the vnet header). */
    for (int i = 0; i < batch; i++) rxm[i].msg_hdr.msg_namelen = sizeof rxfrom[i];
    int m = recvmmsg(udp, rxm, (unsigned)batch, MSG_DONTWAIT, NULL);
    for (int i = 0; i < m; i++) {
      uint8_t *d = rxbuf[i] + HEAD;
      unsigned len = rxm[i].msg_len;
      uint32_t *vx = (uint32_t *)d;
      if (len < 8 + 14 || (vx[0] & vxflags) == 0 || vx[1] != vxvni) { rxbad++; continue; }
      if (pre) memset(d + 8 - pre, 0, (size_t)pre);
      if (write(tap, d + 8 - pre, len - 8 + (unsigned)pre) < 0) rxdrop++;
      else rxn++;
    }
    if (n == 0 && m <= 0) poll(pfd, 2, -1);
  }
  fprintf(stderr, "floor-relay: tx %llu rx %llu rx_bad %llu tx_drop %llu rx_drop %llu\n", txn, rxn, rxbad, txdrop, rxdrop);
  return 0;
}
