// OpenSSL's allocation functions with the record-buffer cache (proxy/openssl_buffers.hpp): a
// record buffer freed is handed out again by the next allocation of its class on that thread,
// never more than a few are kept, everything else keeps its contents across reallocation, and a
// thread's kept buffers go back when it ends. (The binary under test installs them in main(); the
// test suite calls them directly, as OpenSSL allocated before any test ran.)
#include <doctest/doctest.h>
#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "proxy/openssl_buffers.hpp"

namespace ob = proxy::openssl_buffers;

namespace {
void* alloc(std::size_t n) {
  return ob::allocate(n, __FILE__, __LINE__);
}
void* grow(void* p, std::size_t n) {
  return ob::reallocate(p, n, __FILE__, __LINE__);
}
void release(void* p) {
  ob::release(p, __FILE__, __LINE__);
}
bool aligned(void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}
}  // namespace

TEST_CASE("a record buffer freed is the next one handed out on the thread, up to a few kept") {
  std::thread([] {
    // OpenSSL 3's read and write record buffers.
    void* read = alloc(16712);
    void* write = alloc(16584);
    REQUIRE(read);
    REQUIRE(write);
    CHECK(aligned(read));
    std::memset(read, 0xab, 16712);  // the whole size asked for is usable
    std::memset(write, 0xcd, 16584);
    CHECK(ob::kept() == 0);
    release(read);
    CHECK(ob::kept() == 1);
    CHECK(alloc(16584) == read);  // one class for both sizes
    CHECK(ob::kept() == 0);
    release(write);
    release(read);

    std::vector<void*> many;
    for (int i = 0; i < 40; ++i) many.push_back(alloc(16700));
    for (void* p : many) release(p);
    CHECK(ob::kept() == 16);  // the rest went back to malloc
  }).join();
}

TEST_CASE("other sizes are plain allocations; reallocation keeps the contents across classes") {
  CHECK(ob::allocate(0, __FILE__, __LINE__) == nullptr);
  release(nullptr);

  auto* small = static_cast<unsigned char*>(alloc(100));
  REQUIRE(small);
  CHECK(aligned(small));
  for (int i = 0; i < 100; ++i) small[i] = static_cast<unsigned char>(i);
  // Into the record class, out of it into a larger block, then down to a small one.
  auto* record = static_cast<unsigned char*>(grow(small, 16600));
  REQUIRE(record);
  for (int i = 0; i < 100; ++i) REQUIRE(record[i] == i);
  std::memset(record + 100, 7, 16500);
  CHECK(grow(record, 16000) == record);  // stays in its block
  auto* big = static_cast<unsigned char*>(grow(record, 100'000));
  REQUIRE(big);
  for (int i = 0; i < 100; ++i) REQUIRE(big[i] == i);
  CHECK(big[15999] == 7);
  auto* back = static_cast<unsigned char*>(grow(big, 50));
  REQUIRE(back);
  for (int i = 0; i < 50; ++i) REQUIRE(back[i] == i);
  CHECK(grow(back, 0) == nullptr);  // freed
  void* fresh = grow(nullptr, 64);
  REQUIRE(fresh);
  release(fresh);
}

TEST_CASE("a thread's kept record buffers go back to malloc when the thread ends") {
  const auto in_use = [] { return ::mallinfo2().uordblks; };
  const std::size_t before = in_use();
  std::size_t kept = 0;
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 16; ++i) blocks.push_back(alloc(16712));
    for (void* p : blocks) release(p);
    kept = ob::kept();
  }).join();
  CHECK(kept == 16);
  // 16 blocks of 17 KiB would still be in use (272 KiB) had the thread's drain not freed them.
  const std::size_t after = in_use();
  CHECK(after < before + 64 * 1024);
}
