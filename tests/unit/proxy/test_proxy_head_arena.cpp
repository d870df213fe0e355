// The arena a parsed head keeps its fields in (proxy/head_arena.hpp): a head's fields cost no
// heap allocation once a thread has a chunk to reuse, a large head still parses whole, a parser
// that has read nothing holds nothing, and a thread's kept chunks go back when it ends.
#include <doctest/doctest.h>
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy/body_read.hpp"
#include "proxy/request_head.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using proxy::HeadArena;

namespace {

// A head as an SDK sends it: a dozen fields, one of them a long key.
std::string sdk_head(std::size_t extra_bytes = 0) {
  std::string wire =
      "POST /v1/chat/completions HTTP/1.1\r\n"
      "Host: api.openai.com\r\n"
      "Authorization: Bearer sk-proj-0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ\r\n"
      "Content-Type: application/json\r\n"
      "User-Agent: OpenAI/JS 6.9.1\r\n"
      "X-Stainless-Lang: js\r\n"
      "X-Stainless-Package-Version: 6.9.1\r\n"
      "X-Stainless-OS: Linux\r\n"
      "X-Stainless-Arch: x64\r\n"
      "X-Stainless-Runtime: node\r\n"
      "X-Stainless-Runtime-Version: v20.19.2\r\n"
      "X-Stainless-Retry-Count: 0\r\n"
      "Accept: application/json\r\n";
  for (std::size_t i = 0; extra_bytes > 0; ++i) {
    const std::string value(std::min<std::size_t>(extra_bytes, 1000), 'v');
    wire += "X-Extra-" + std::to_string(i) + ": " + value + "\r\n";
    extra_bytes -= value.size();
  }
  return wire + "Content-Length: 2\r\n\r\n{}";
}

// Parses the head of `wire` into `head`; what follows the head is left in `rest`.
void parse(proxy::RequestHead& head, const std::string& wire, std::string* rest = nullptr) {
  head.header_limit(proxy::k_header_limit);
  beast::error_code ec;
  const auto used = head.put(asio::buffer(wire), ec);
  REQUIRE(!ec);
  REQUIRE(head.is_header_done());
  if (rest) *rest = wire.substr(used);
}

// Heap allocations made by `f` on this thread (glibc's counters, not exact across threads: the
// tests run `f` alone).
template <typename F>
std::size_t heap_in_use_change(F&& f) {
  const auto before = ::mallinfo2().uordblks;
  f();
  return ::mallinfo2().uordblks - before;
}

}  // namespace

TEST_CASE("a head's fields are in its parser's arena, and its chunk is the next head's") {
  std::thread([] {
    auto first = std::make_unique<proxy::RequestHead>();
    CHECK(first->head_arena().held() == 0);  // nothing read yet: an idle connection holds nothing
    parse(*first, sdk_head());
    CHECK(first->head_arena().held() == HeadArena::k_chunk);
    const auto& req = first->get();
    CHECK(req.target() == "/v1/chat/completions");
    CHECK(req[http::field::user_agent] == "OpenAI/JS 6.9.1");
    CHECK(req["X-Stainless-Runtime-Version"] == "v20.19.2");
    CHECK(HeadArena::kept() == 0);
    first.reset();
    CHECK(HeadArena::kept() == 1);

    // The next head on this thread takes the kept chunk: its fields allocate nothing.
    proxy::RequestHead second;
    std::size_t grown = heap_in_use_change([&] { parse(second, sdk_head()); });
    CHECK(HeadArena::kept() == 0);
    CHECK(second.head_arena().held() == HeadArena::k_chunk);
    CHECK(grown < 256);  // the chunk is reused; nothing near the fields' size is allocated
    CHECK(second.get()[http::field::authorization].starts_with("Bearer sk-proj-"));
  }).join();
}

TEST_CASE("a head larger than a chunk parses whole, and only ordinary chunks are kept") {
  std::thread([] {
    {
      proxy::RequestHead head;
      parse(head, sdk_head(40 * 1024));
      CHECK(head.head_arena().held() > 40 * 1024);
      CHECK(head.get()["X-Extra-0"].size() == 1000);
      CHECK(head.get()["X-Extra-40"].size() == 960);
      CHECK(std::distance(head.get().begin(), head.get().end()) == 54);
    }
    // Its fields took many ordinary chunks, kept for the heads that follow.
    CHECK(HeadArena::kept() > 5);
  }).join();
  std::thread([] {
    {
      // One field larger than a chunk: a block of its own, freed with the arena.
      proxy::RequestHead head;
      const std::string value(20 * 1024, 'k');
      parse(head, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + value + "\r\n\r\n");
      CHECK(head.get()["X-Big"] == value);
      CHECK(head.head_arena().held() > 20 * 1024);
    }
    CHECK(HeadArena::kept() == 1);
  }).join();
}

TEST_CASE("at most k_keep chunks are kept per thread") {
  std::thread([] {
    std::vector<std::unique_ptr<proxy::RequestHead>> heads;
    for (std::size_t i = 0; i < HeadArena::k_keep + 10; ++i) {
      heads.push_back(std::make_unique<proxy::RequestHead>());
      parse(*heads.back(), sdk_head());
    }
    heads.clear();
    CHECK(HeadArena::kept() == HeadArena::k_keep);
  }).join();
}

TEST_CASE("memory from the arena is aligned as asked") {
  proxy::HeadArena arena;
  for (std::size_t align : {1, 2, 8, 16, 64}) {
    void* p = arena.allocate(3, align);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
  }
  // A block larger than a chunk comes whole.
  auto* big = static_cast<char*>(arena.allocate(3 * HeadArena::k_chunk, 16));
  big[0] = 'a';
  big[3 * HeadArena::k_chunk - 1] = 'z';
  CHECK(arena.held() >= 4 * HeadArena::k_chunk);
}

TEST_CASE("the body parser that takes a head keeps reading its fields from the head's arena") {
  std::thread([] {
    proxy::RequestHead head;
    std::string rest;
    parse(head, sdk_head(), &rest);
    proxy::BodyParser body{head.parser()};
    beast::error_code ec;
    body.put(asio::buffer(rest), ec);
    CHECK(!ec);
    CHECK(body.is_done());
    CHECK(body.get().body() == "{}");
    CHECK(body.get()[http::field::host] == "api.openai.com");
    CHECK(body.get().target() == "/v1/chat/completions");
  }).join();
}

TEST_CASE("a thread's kept chunks go back to the heap when the thread ends") {
  const auto in_use = [] { return ::mallinfo2().uordblks; };
  const std::size_t before = in_use();
  std::size_t kept = 0;
  std::thread([&] {
    std::vector<std::unique_ptr<proxy::RequestHead>> heads;
    for (std::size_t i = 0; i < HeadArena::k_keep; ++i) {
      heads.push_back(std::make_unique<proxy::RequestHead>());
      parse(*heads.back(), sdk_head());
    }
    heads.clear();
    kept = HeadArena::kept();
  }).join();
  CHECK(kept == HeadArena::k_keep);
  // 64 chunks of 4 KiB (256 KiB) would still be in use had the thread's drain not freed them.
  CHECK(in_use() < before + 64 * 1024);
}

// parse_buffered (proxy/body_read.hpp): the bytes read with the head settle the body when they
// hold all of it, leave the rest of the stream in the buffer, and say when more must be read.
TEST_CASE("a body that came with its head is parsed from the buffer without a read") {
  std::thread([] {
    const auto with_body = [](const std::string& tail, proxy::RequestHead& head,
                              beast::flat_buffer& buffer) {
      std::string rest;
      parse(head, sdk_head(), &rest);  // Content-Length: 2, its body "{}" in `rest`
      rest += tail;
      buffer.commit(asio::buffer_copy(buffer.prepare(rest.size()), asio::buffer(rest)));
    };
    {
      proxy::RequestHead head;
      beast::flat_buffer buffer;
      with_body("GET / HTTP/1.1\r\n", head, buffer);  // a pipelined request behind it
      proxy::BodyParser body{head.parser()};
      beast::error_code ec;
      CHECK(proxy::parse_buffered(buffer, body, ec));
      CHECK(!ec);
      CHECK(body.is_done());
      CHECK(body.get().body() == "{}");
      CHECK(beast::buffers_to_string(buffer.data()) == "GET / HTTP/1.1\r\n");
    }
    {
      // Half the body: more must be read, and what came is kept.
      proxy::RequestHead head;
      std::string rest;
      parse(head, sdk_head(), &rest);
      beast::flat_buffer buffer;
      buffer.commit(asio::buffer_copy(buffer.prepare(1), asio::buffer(rest, 1)));
      proxy::BodyParser body{head.parser()};
      beast::error_code ec;
      CHECK_FALSE(proxy::parse_buffered(buffer, body, ec));
      CHECK(!ec);
      CHECK_FALSE(body.is_done());
      CHECK(buffer.size() == 0);
      buffer.commit(asio::buffer_copy(buffer.prepare(1), asio::buffer(rest.data() + 1, 1)));
      CHECK(proxy::parse_buffered(buffer, body, ec));
      CHECK(body.get().body() == "{}");
    }
    {
      // Bytes that end inside a chunk's size line: not an error, kept for the rest to come.
      proxy::RequestHead head;
      std::string rest;
      parse(head,
            "POST /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r",
            &rest);
      beast::flat_buffer buffer;
      buffer.commit(asio::buffer_copy(buffer.prepare(rest.size()), asio::buffer(rest)));
      proxy::BodyParser body{head.parser()};
      beast::error_code ec;
      CHECK_FALSE(proxy::parse_buffered(buffer, body, ec));
      CHECK(!ec);
      CHECK(beast::buffers_to_string(buffer.data()) == "5\r");
      const std::string more = "\nhello\r\n0\r\n\r\n";
      buffer.commit(asio::buffer_copy(buffer.prepare(more.size()), asio::buffer(more)));
      CHECK(proxy::parse_buffered(buffer, body, ec));
      CHECK(!ec);
      CHECK(body.get().body() == "hello");
    }
    {
      // A chunked body over the limit: settled, with the parser's error.
      proxy::RequestHead head;
      std::string rest;
      parse(head,
            "POST /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &rest);
      beast::flat_buffer buffer;
      buffer.commit(asio::buffer_copy(buffer.prepare(rest.size()), asio::buffer(rest)));
      proxy::BodyParser body{head.parser()};
      body.body_limit(3);
      beast::error_code ec;
      CHECK(proxy::parse_buffered(buffer, body, ec));
      CHECK(ec == http::error::body_limit);
    }
  }).join();
}
