// Heap allocation counter for the benchmarks (issue 19: "count the allocations per request"):
// LD_PRELOAD=liballoc_count.so ALLOC_COUNT_FILE=FILE tollgate ... counts every malloc, calloc,
// realloc and aligned allocation of the process (operator new included: libstdc++'s calls
// malloc) and rewrites FILE with the running total every 20 ms. bench/profile.sh --allocs reads
// it before and after a workload and prints allocations per request.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static atomic_ulong allocations;

static inline void count(void) {
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}

void* calloc(size_t n, size_t size) {
  count();
  return __libc_calloc(n, size);
}

void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}

void* memalign(size_t alignment, size_t n) {
  count();
  return __libc_memalign(alignment, n);
}

void* aligned_alloc(size_t alignment, size_t n) {
  count();
  return __libc_memalign(alignment, n);
}

int posix_memalign(void** out, size_t alignment, size_t n) {
  count();
  void* p = __libc_memalign(alignment, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}

static void* writer(void* arg) {
  const int fd = (int)(long)arg;
  const struct timespec pause = {0, 20 * 1000 * 1000};
  for (;;) {
    char text[32];
    const int n = snprintf(text, sizeof text, "%20lu\n",
                           atomic_load_explicit(&allocations, memory_order_relaxed));
    if (pwrite(fd, text, (size_t)n, 0) < 0) return NULL;
    nanosleep(&pause, NULL);
  }
}

__attribute__((constructor)) static void start(void) {
  const char* path = getenv("ALLOC_COUNT_FILE");
  if (!path || !*path) return;
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  pthread_t thread;
  if (pthread_create(&thread, NULL, writer, (void*)(long)fd) == 0) pthread_detach(thread);
}
