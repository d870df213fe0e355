#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "rules/sse_parser.hpp"

using rules::SseEvent;
using rules::SseParser;

namespace {

struct Seen {
  std::string event, data;
  friend bool operator==(const Seen&, const Seen&) = default;
};

std::vector<Seen> parse(const std::string& text, unsigned seed, std::size_t max = 8u << 20) {
  SseParser parser(max);
  std::vector<Seen> seen;
  auto sink = [&](const SseEvent& e) {
    seen.push_back({std::string(e.event), std::string(e.data)});
  };
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = seed == 0 ? 1 : std::min<std::size_t>(text.size() - i, 1 + rng() % 13);
    parser.feed(std::string_view(text).substr(i, n), sink);
    i += n;
  }
  parser.finish(sink);
  return seen;
}

}  // namespace

TEST_CASE("SseParser::feed, framing") {
  SUBCASE("event names, multi-line data, comments, CRLF and lone CR") {
    const std::string text =
        ": keep-alive\r\n\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\n"
        "data: three\r\rdata: {\"x\": 1}\nid: 7\nretry: 10\n\n";
    const std::vector<Seen> expected{{"a", "one\ntwo"}, {"", "three"}, {"", "{\"x\": 1}"}};
    for (unsigned seed : {0u, 1u, 5u, 77u}) CHECK(parse(text, seed) == expected);
  }
  SUBCASE("an event without data is not dispatched") {
    CHECK(parse("event: ping\n\n", 0).empty());
  }
  SUBCASE("a last event without its blank line is dispatched at finish") {
    CHECK(parse("data: tail", 0) == std::vector<Seen>{{"", "tail"}});
  }
  SUBCASE("event name resets between events") {
    CHECK(parse("event: x\ndata: 1\n\ndata: 2\n\n", 3) == std::vector<Seen>{{"x", "1"}, {"", "2"}});
  }
  SUBCASE("only one space after the colon is removed") {
    CHECK(parse("data:  two spaces\n\n", 0) == std::vector<Seen>{{"", " two spaces"}});
  }
}

TEST_CASE("SseParser::feed, oversized events are dropped") {
  SseParser parser(16);
  std::vector<std::string> seen;
  auto sink = [&](const SseEvent& e) { seen.emplace_back(e.data); };
  for (unsigned step : {1u, 5u}) {
    seen.clear();
    const std::string text = "data: " + std::string(40, 'x') + "\n\ndata: ok\n\n";
    for (std::size_t i = 0; i < text.size(); i += step)
      parser.feed(std::string_view(text).substr(i, step), sink);
    CHECK(seen == std::vector<std::string>{"ok"});
  }
  CHECK(parser.dropped() == 2);
}
