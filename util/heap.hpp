#pragma once
// util::heap — which allocator serves the process, and giving its free memory back.
//
// The tollgate binary links jemalloc (README, "Dependencies"): its threads free what other
// threads allocated (a Redis reply's callback frees the command a worker made, the SQLite writer
// frees the records), and glibc's malloc serialises such frees on the allocating thread's arena
// lock. Test and fuzz binaries keep glibc's malloc (the sanitizers replace it). Code that tunes
// the heap asks here which one it has, at run time: mallctl is jemalloc's, referenced weakly.

#include <malloc.h>

#include <cstddef>

extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

namespace util {

inline bool jemalloc_heap() {
  return mallctl != nullptr;
}

// Returns the free pages of the heap to the system now: jemalloc purges every arena's unused
// dirty pages; glibc's malloc_trim releases every whole free page of every arena.
inline void release_free_memory() {
  if (jemalloc_heap()) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" (MALLCTL_ARENAS_ALL is 4096).
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
}

}  // namespace util
