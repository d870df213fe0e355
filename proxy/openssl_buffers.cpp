#include "proxy/openssl_buffers.hpp"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

namespace proxy {
namespace openssl_buffers {
namespace {

// Before each block: its size (what malloc was asked for, less the header), 16 bytes so that the
// block stays aligned as malloc's are.
struct alignas(16) Header {
  std::size_t size;
};
static_assert(sizeof(Header) == 16);

// OpenSSL 3's record buffers: 16,584 bytes (write) and 16,712 (read) with the default
// max_send_fragment; the class takes anything from 16 KiB to 17 KiB in one block size.
constexpr std::size_t k_class_min = 16 * 1024;
constexpr std::size_t k_class_size = 17 * 1024;
constexpr std::size_t k_keep = 16;  // per thread: 272 KiB at most

// Trivially destructible, so usable during the thread's exit; the Drain below gives the blocks
// back when the thread ends and from then on blocks freed on it go straight to free().
thread_local Header* t_kept[k_keep];
thread_local std::size_t t_count = 0;
thread_local bool t_ended = false;

struct Drain {
  ~Drain() {
    while (t_count) std::free(t_kept[--t_count]);
    t_ended = true;
  }
};
thread_local Drain t_drain;

bool in_class(std::size_t size) {
  return size > k_class_min && size <= k_class_size;
}

void* body(Header* h) {
  return h + 1;
}
Header* header(void* block) {
  return static_cast<Header*>(block) - 1;
}

}  // namespace

void* allocate(std::size_t size, const char*, int) {
  if (size == 0) return nullptr;  // as OpenSSL's own CRYPTO_malloc
  if (in_class(size)) {
    if (t_count) return body(t_kept[--t_count]);
    size = k_class_size;
  }
  auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + size));
  if (!h) return nullptr;
  h->size = size;
  return body(h);
}

void release(void* block, const char*, int) {
  if (!block) return;
  Header* h = header(block);
  if (h->size == k_class_size && !t_ended && t_count < k_keep) {
    (void)&t_drain;  // registers the thread's drain
    t_kept[t_count++] = h;
    return;
  }
  std::free(h);
}

void* reallocate(void* block, std::size_t size, const char* file, int line) {
  if (!block) return allocate(size, file, line);
  if (size == 0) {
    release(block, file, line);
    return nullptr;
  }
  Header* h = header(block);
  if (h->size == k_class_size || in_class(size)) {
    if (h->size == k_class_size && size <= k_class_size) return block;
    void* moved = allocate(size, file, line);
    if (!moved) return nullptr;
    std::memcpy(moved, block, h->size < size ? h->size : size);
    release(block, file, line);
    return moved;
  }
  auto* grown = static_cast<Header*>(std::realloc(h, sizeof(Header) + size));
  if (!grown) return nullptr;
  grown->size = size;
  return body(grown);
}

std::size_t kept() {
  return t_count;
}

}  // namespace openssl_buffers

bool install_openssl_buffer_cache() {
  return CRYPTO_set_mem_functions(openssl_buffers::allocate, openssl_buffers::reallocate,
                                  openssl_buffers::release) == 1;
}

}  // namespace proxy
