#include <doctest/doctest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "rules/body_decoder.hpp"

using rules::BodyDecoder;

namespace {

// window_bits: 16+15 gzip, 15 zlib, -15 raw deflate.
std::string compress(const std::string& text, int window_bits) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, text.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A body large enough to need several output rounds, compressible but not trivial.
std::string sample_body() {
  std::string s = R"({"tokensConsumed":5,"tokensLeft":1195,"products":[)";
  for (int i = 0; i < 5000; ++i) s += R"({"asin":"B00)" + std::to_string(100000 + i * 7) + R"("},)";
  s += R"({}],"refillRate":20,"refillIn":3000})";
  return s;
}

std::string decode_in_splits(BodyDecoder& d, const std::string& data, unsigned seed, bool& ok) {
  std::mt19937 rng(seed);
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < data.size();) {
    const std::size_t n = std::min<std::size_t>(data.size() - i, 1 + rng() % 97);
    ok = d.feed(std::string_view(data).substr(i, n), out) && ok;
    i += n;
  }
  return out;
}

}  // namespace

TEST_CASE("BodyDecoder::feed, encodings") {
  const std::string body = sample_body();
  SUBCASE("identity passes bytes through") {
    BodyDecoder d("identity");
    std::string out;
    CHECK(d.supported());
    CHECK(d.feed("abc", out));
    CHECK(d.feed("def", out));
    CHECK(out == "abcdef");
  }
  SUBCASE("empty encoding is identity") {
    BodyDecoder d("");
    std::string out;
    CHECK(d.feed("x", out));
    CHECK(out == "x");
  }
  for (const auto& [name, bits] : {std::pair{"gzip", 16 + 15}, std::pair{"x-gzip", 16 + 15},
                                   std::pair{"deflate", 15}, std::pair{"deflate", -15}}) {
    const std::string packed = compress(body, bits);
    SUBCASE((std::string(name) + " " + std::to_string(bits) + " one byte at a time").c_str()) {
      BodyDecoder d(name);
      std::string out;
      bool ok = true;
      for (char c : packed) ok = d.feed(std::string_view(&c, 1), out) && ok;
      CHECK(ok);
      CHECK(d.finished());
      CHECK(out == body);
    }
    SUBCASE((std::string(name) + " " + std::to_string(bits) + " random splits").c_str()) {
      for (unsigned seed : {1u, 7u, 42u}) {
        BodyDecoder d(name);
        bool ok = false;
        CHECK(decode_in_splits(d, packed, seed, ok) == body);
        CHECK(ok);
      }
    }
    SUBCASE((std::string(name) + " " + std::to_string(bits) + " whole").c_str()) {
      BodyDecoder d(name);
      std::string out;
      CHECK(d.feed(packed, out));
      CHECK(out == body);
    }
  }
}

TEST_CASE("BodyDecoder::feed, concatenated gzip members") {
  BodyDecoder d("gzip");
  std::string out;
  CHECK(d.feed(compress("hello ", 31) + compress("world", 31), out));
  CHECK(out == "hello world");
}

TEST_CASE("BodyDecoder::feed, failures") {
  SUBCASE("corrupt gzip") {
    BodyDecoder d("gzip");
    std::string out;
    CHECK_FALSE(d.feed("this is not gzip at all", out));
    CHECK(d.failed());
    CHECK_FALSE(d.feed("more", out));
  }
  SUBCASE("corrupt data in the middle") {
    std::string packed = compress(sample_body(), 31);
    for (std::size_t i = 20; i < 60; ++i) packed[i] = static_cast<char>(packed[i] ^ 0x5a);
    BodyDecoder d("gzip");
    std::string out;
    CHECK_FALSE(d.feed(packed, out));
    CHECK(d.failed());
  }
  SUBCASE("unsupported encodings") {
    for (const char* enc : {"br", "zstd", "compress"}) {
      BodyDecoder d(enc);
      std::string out;
      CHECK_FALSE(d.supported());
      CHECK_FALSE(d.feed("x", out));
      CHECK(out.empty());
    }
  }
  SUBCASE("case and spaces in the header value") {
    BodyDecoder d(" GZip ");
    CHECK(d.supported());
  }
}
