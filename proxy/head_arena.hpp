#pragma once
// proxy::HeadArena — where a parsed HTTP head keeps its fields: the request head a client sent
// and the response head an upstream answered (issue 19: heap allocations per request).
//
// Beast's basic_fields allocates every field (name and value in one block) and the start line
// one by one: about 20 heap allocations per intercepted POST, each freed when its parser goes.
// A head's fields live exactly as long as its parser, so they are bump-allocated in the parser's
// own arena and released together when the parser is destroyed. The arena's first 4 KiB chunk
// (room for the fields of an ordinary head, SDK headers included) comes from a short list kept
// per thread, so a head costs no allocation at all in the steady state; a larger head takes
// further chunks from the heap, freed with the arena. A parser that waits for a head that has not
// come (an idle keep-alive connection) holds no chunk.
//
// Memory freed inside the arena is not reused before the arena ends (a field erased and another
// inserted take new room): a head is rewritten a few times at most, and its size is bounded by
// the header limits (64 KiB from a client, the upstream limit from a provider).

#include <cstddef>
#include <memory_resource>

namespace proxy {

class HeadArena final : public std::pmr::memory_resource {
 public:
  // The chunk size that is kept per thread for reuse, and how many are kept at most (256 KiB).
  static constexpr std::size_t k_chunk = 4096;
  static constexpr std::size_t k_keep = 64;

  HeadArena() = default;
  ~HeadArena() override;
  HeadArena(const HeadArena&) = delete;
  HeadArena& operator=(const HeadArena&) = delete;

  // Chunks this thread keeps for reuse now (tests).
  static std::size_t kept();
  // Bytes of the heap this arena holds (its chunks, headers included).
  std::size_t held() const;

 private:
  struct alignas(std::max_align_t) Chunk {
    Chunk* next;
    std::size_t size;  // the whole block, this header included
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
  void grow(std::size_t need);

  Chunk* chunks_ = nullptr;  // the newest first
  char* cursor_ = nullptr;
  char* end_ = nullptr;
};

}  // namespace proxy
