// Heap allocation counter for the benchmarks (issue 19: "count the allocations per request"):
// LD_PRELOAD=liballoc_count.so ALLOC_COUNT_FILE=FILE tollgate ... counts every malloc, calloc,
// realloc and aligned allocation of the process (operator new included: libstdc++'s calls
// malloc) and rewrites FILE with the running total every 20 ms. bench/profile.sh --allocs reads
// it before and after a workload and prints allocations per request.
// operator new is counted as itself (jemalloc defines its own, which does not call malloc); a
// malloc made inside an operator new (libstdc++'s) is not counted again.
// Each call goes on to the allocator that would have served it without this library (the next
// definition: jemalloc in the tollgate binary, glibc's malloc elsewhere), found with
// dlsym(RTLD_NEXT); while dlsym itself allocates, a small static buffer serves it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong allocations;

// Set while an operator new runs on this thread: the malloc it may make is the same allocation.
static __thread int in_new;

static inline void count(void) {
  if (!in_new) atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

static void* (*next_malloc)(size_t);
static void* (*next_calloc)(size_t, size_t);
static void* (*next_realloc)(void*, size_t);
static void (*next_free)(void*);
static void* (*next_memalign)(size_t, size_t);
static int (*next_posix_memalign)(void**, size_t, size_t);
static void* (*next_aligned_alloc)(size_t, size_t);

// What dlsym allocates while the functions are looked up (never freed).
static _Alignas(16) char bootstrap[8192];
static size_t bootstrap_used;
static int resolving;

static int from_bootstrap(const void* p) {
  return (const char*)p >= bootstrap && (const char*)p < bootstrap + sizeof bootstrap;
}

static void* bootstrap_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (bootstrap_used + n > sizeof bootstrap) return NULL;
  void* p = bootstrap + bootstrap_used;
  bootstrap_used += n;
  return p;
}

static void resolve(void) {
  if (next_malloc || resolving) return;
  resolving = 1;
  next_calloc = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
  next_realloc = (void* (*)(void*, size_t))dlsym(RTLD_NEXT, "realloc");
  next_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  next_memalign = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
  next_posix_memalign = (int (*)(void**, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  next_aligned_alloc = (void* (*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
  next_malloc = (void* (*)(size_t))dlsym(RTLD_NEXT, "malloc");
  resolving = 0;
}

void* malloc(size_t n) {
  resolve();
  if (!next_malloc) return bootstrap_alloc(n);
  count();
  return next_malloc(n);
}

void* calloc(size_t n, size_t size) {
  resolve();
  if (!next_calloc || !next_malloc) {
    void* p = bootstrap_alloc(n * size);  // static memory: zeroed
    return p;
  }
  count();
  return next_calloc(n, size);
}

void* realloc(void* p, size_t n) {
  resolve();
  count();
  if (from_bootstrap(p)) {
    // The block's own size is not kept: copy what the buffer holds from it on, at most n.
    const size_t rest = (size_t)(bootstrap + sizeof bootstrap - (const char*)p);
    void* q = next_malloc ? next_malloc(n) : bootstrap_alloc(n);
    if (q) memcpy(q, p, n < rest ? n : rest);
    return q;
  }
  return next_realloc(p, n);
}

void free(void* p) {
  if (!p || from_bootstrap(p)) return;
  resolve();
  next_free(p);
}

void* memalign(size_t alignment, size_t n) {
  resolve();
  count();
  return next_memalign(alignment, n);
}

void* aligned_alloc(size_t alignment, size_t n) {
  resolve();
  count();
  return next_aligned_alloc(alignment, n);
}

int posix_memalign(void** out, size_t alignment, size_t n) {
  resolve();
  count();
  return next_posix_memalign(out, alignment, n);
}

// operator new and new[], plain, nothrow and aligned, each forwarded to the next definition.
#define COUNTED_NEW(name, params, args)                                   \
  void* name params {                                                     \
    static void* (*next) params;                                          \
    if (!next) next = (void* (*)params)dlsym(RTLD_NEXT, #name);           \
    count();                                                              \
    in_new = 1;                                                           \
    void* p = next args;                                                  \
    in_new = 0;                                                           \
    return p;                                                             \
  }
COUNTED_NEW(_Znwm, (size_t n), (n))
COUNTED_NEW(_Znam, (size_t n), (n))
COUNTED_NEW(_ZnwmRKSt9nothrow_t, (size_t n, const void* t), (n, t))
COUNTED_NEW(_ZnamRKSt9nothrow_t, (size_t n, const void* t), (n, t))
COUNTED_NEW(_ZnwmSt11align_val_t, (size_t n, size_t a), (n, a))
COUNTED_NEW(_ZnamSt11align_val_t, (size_t n, size_t a), (n, a))
COUNTED_NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, const void* t), (n, a, t))
COUNTED_NEW(_ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, const void* t), (n, a, t))

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
