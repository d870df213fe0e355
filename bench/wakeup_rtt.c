// What one hop between processes costs on this machine, without any proxy: two processes pass
// one byte back and forth over a loopback TCP connection, each asleep in epoll_wait until its
// peer's byte arrives (as Asio's reactor, nginx and loadgen wait). Half a round trip is one hop:
// a send, the kernel's loopback delivery, and the wake-up of a sleeping process, which on a VM
// is an interrupt to the other vCPU. A proxy in the path adds two hops to every request (client
// to proxy, proxy to client), so twice this figure is a floor for its added latency that no
// work inside the proxy can remove.
//
// usage: wakeup_rtt [round_trips] [same|split]
//   same: both processes pinned to CPU 0 (a hop is a context switch on one CPU);
//   split: pinned to CPUs 0 and 1 (a hop wakes the other CPU); default: unpinned.
// Prints the median and p99 of a hop (half a round trip) in µs.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

// Waits in epoll_wait for the byte, then sends one back (or first, when `starts`).
static void bounce(int fd, long n, int starts, double* hops) {
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  char byte = 'x';
  for (long i = 0; i < n; ++i) {
    double t0 = now_us();
    if (starts && send(fd, &byte, 1, 0) != 1) exit(1);
    struct epoll_event out;
    while (epoll_wait(ep, &out, 1, -1) != 1) {
    }
    if (recv(fd, &byte, 1, 0) != 1) exit(1);
    if (!starts && send(fd, &byte, 1, 0) != 1) exit(1);
    if (starts) hops[i] = (now_us() - t0) / 2;
  }
  close(ep);
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  const char* mode = argc > 2 ? argv[2] : "free";
  int cpu_a = -1, cpu_b = -1;
  if (strcmp(mode, "same") == 0) cpu_a = cpu_b = 0;
  if (strcmp(mode, "split") == 0) cpu_a = 0, cpu_b = 1;

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, (struct sockaddr*)&addr, &len) != 0) {
    perror("listen");
    return 1;
  }
  pid_t child = fork();
  if (child == 0) {
    pin(cpu_b);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) return 1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bounce(fd, n + 1000, 0, NULL);
    return 0;
  }
  pin(cpu_a);
  int fd = accept(listener, NULL, NULL);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  double* hops = malloc(sizeof(double) * (size_t)(n + 1000));
  bounce(fd, 1000, 1, hops);  // warm-up
  bounce(fd, n, 1, hops);
  waitpid(child, NULL, 0);
  qsort(hops, (size_t)n, sizeof(double), cmp);
  printf("mode=%s round_trips=%ld hop_p50_us=%.1f hop_p99_us=%.1f\n", mode, n, hops[n / 2],
         hops[n * 99 / 100]);
  return 0;
}
