/*
 * wakeup: what one wake-up of a sleeping thread costs on this machine — the unit every userspace
 * VTEP pays several times per round trip (bench:rtt's trace counts three) and kernel vxlan never pays.
 *
 * A sleeper thread blocks in poll() on an eventfd, exactly as the relays sleep when idle. Every
 * <interval> the waker thread reads CLOCK_MONOTONIC and writes the eventfd; the sleeper reads the clock
 * as soon as poll() returns. The difference is the wake-up latency: the waker's write, the scheduler,
 * the idle vCPU leaving its idle state (in a VM: the halt exit and the host putting the vCPU back on a
 * core) and the thread being switched in. Run with both threads pinned to one CPU ("same": no IPI, the
 * waker's CPU switches to the sleeper when the waker itself sleeps) and to two CPUs ("cross": an IPI to
 * an idle vCPU — where a relay's wake-up usually lands when the sender holds the other core).
 *
 * usage: wakeup <interval-us> <count> <sleeper-cpu> <waker-cpu>
 * prints one line: p50 p90 p99 in microseconds, then how many wake-ups were measured (a wake-up so late
 * that the next write met it is not: it would measure the later write).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int efd;
static int count;
static int sleeper_cpu;
static double *latency_us;
static int samples; /* wake-ups measured: fewer than count when a wake-up came so late that two writes met */
static volatile uint64_t sent_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
    fprintf(stderr, "wakeup: cannot pin to cpu %d\n", cpu);
    exit(2);
  }
}

static void *sleeper(void *arg) {
  (void)arg;
  pin(sleeper_cpu);
  struct pollfd p = {.fd = efd, .events = POLLIN};
  uint64_t v;
  for (uint64_t seen = 0; seen < (uint64_t)count; seen += v) {
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    uint64_t woke = now_ns();
    if (read(efd, &v, sizeof v) != sizeof v) exit(3);
    if (v == 1) latency_us[samples++] = (double)(woke - sent_ns) / 1000.0;
  }
  return NULL;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: wakeup <interval-us> <count> <sleeper-cpu> <waker-cpu>\n");
    return 2;
  }
  long interval_us = atol(argv[1]);
  count = atoi(argv[2]);
  sleeper_cpu = atoi(argv[3]);
  int waker_cpu = atoi(argv[4]);
  if (interval_us <= 0 || count <= 0) return 2;
  latency_us = calloc((size_t)count, sizeof *latency_us);
  efd = eventfd(0, 0);
  if (efd < 0 || !latency_us) return 3;
  pin(waker_cpu);
  pthread_t t;
  pthread_create(&t, NULL, sleeper, NULL);
  struct timespec gap = {.tv_sec = interval_us / 1000000, .tv_nsec = (interval_us % 1000000) * 1000};
  uint64_t one = 1;
  for (int i = 0; i < count; i++) {
    nanosleep(&gap, NULL);
    sent_ns = now_ns();
    if (write(efd, &one, sizeof one) != sizeof one) return 3;
  }
  pthread_join(t, NULL);
  qsort(latency_us, (size_t)samples, sizeof *latency_us, by_value);
  int n = samples;
  if (n == 0) return 4;
  printf("%.1f %.1f %.1f %d\n", latency_us[n / 2], latency_us[(n * 90) / 100], latency_us[(n * 99) / 100], n);
  return 0;
}
