#include "proxy/head_arena.hpp"

#include <algorithm>
#include <cstdint>
#include <new>

namespace proxy {
namespace {

// Trivially destructible, so usable while the thread exits; the Drain below frees the kept
// chunks when the thread ends, and from then on chunks released on it go straight to the heap.
thread_local void* t_kept[HeadArena::k_keep];
thread_local std::size_t t_count = 0;
thread_local bool t_ended = false;

struct Drain {
  ~Drain() {
    while (t_count) ::operator delete(t_kept[--t_count]);
    t_ended = true;
  }
};
thread_local Drain t_drain;

char* align_up(char* p, std::size_t alignment) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  return p + ((alignment - at % alignment) % alignment);
}

}  // namespace

HeadArena::~HeadArena() {
  while (chunks_) {
    Chunk* c = chunks_;
    chunks_ = c->next;
    if (c->size == k_chunk && !t_ended && t_count < k_keep) {
      (void)&t_drain;  // registers the thread's drain
      t_kept[t_count++] = c;
    } else {
      ::operator delete(c);
    }
  }
}

std::size_t HeadArena::kept() {
  return t_count;
}

std::size_t HeadArena::held() const {
  std::size_t bytes = 0;
  for (const Chunk* c = chunks_; c; c = c->next) bytes += c->size;
  return bytes;
}

void* HeadArena::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes > (std::size_t{1} << 40)) throw std::bad_alloc();  // no head comes near
  char* p = cursor_ ? align_up(cursor_, alignment) : nullptr;
  if (!p || p > end_ || static_cast<std::size_t>(end_ - p) < bytes) {
    grow(bytes + alignment);
    p = align_up(cursor_, alignment);
  }
  cursor_ = p + bytes;
  return p;
}

void HeadArena::grow(std::size_t need) {
  const std::size_t size = std::max(k_chunk, need + sizeof(Chunk));
  void* block;
  if (size == k_chunk && t_count)
    block = t_kept[--t_count];
  else
    block = ::operator new(size);  // throws bad_alloc, as an allocator must
  auto* c = static_cast<Chunk*>(block);
  c->next = chunks_;
  c->size = size;
  chunks_ = c;
  cursor_ = reinterpret_cast<char*>(c + 1);
  end_ = static_cast<char*>(block) + size;
}

}  // namespace proxy
