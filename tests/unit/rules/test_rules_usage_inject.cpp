#include <doctest/doctest.h>

#include <random>
#include <string>

#include "rules/stream_usage.hpp"
#include "rules_usage_support.hpp"

using rules::inject_include_usage;
using rules::UsageChunkStripper;

namespace {

rules::Endpoint chat(bool inject) {
  rules::Endpoint e;
  e.name = "chat";
  e.stream.format = "openai-sse";
  e.stream.inject_include_usage = inject;
  return e;
}

std::string strip(const std::string& in, unsigned seed, int* dropped = nullptr) {
  UsageChunkStripper s;
  std::string out;
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = seed == 0 ? 1 : std::min<std::size_t>(in.size() - i, 1 + rng() % 29);
    out += s.feed(std::string_view(in).substr(i, n));
    i += n;
  }
  out += s.finish();
  if (dropped) *dropped = s.dropped();
  return out;
}

std::string without_usage_chunk(const std::string& sse, const std::string& terminator) {
  const std::size_t at = sse.find("\"choices\":[],");
  REQUIRE(at != std::string::npos);
  const std::size_t begin = sse.rfind("data: ", at);
  const std::size_t end = sse.find(terminator, at) + terminator.size();
  return sse.substr(0, begin) + sse.substr(end);
}

}  // namespace

TEST_CASE("inject_include_usage, cases") {
  const rules::Endpoint e = chat(true);
  SUBCASE("added when absent, numbers and order kept") {
    CHECK(
        inject_include_usage(e,
                             R"({"model":"gpt-4o-mini","temperature":0.70,"stream":true,"n":1})") ==
        R"({"model":"gpt-4o-mini","temperature":0.70,"stream":true,"n":1,"stream_options":{"include_usage":true}})");
  }
  SUBCASE("whitespace is compacted") {
    CHECK(
        inject_include_usage(e,
                             "{ \"stream\" : true,\n \"messages\": [ {\"role\": \"user\"} ] }") ==
        R"({"stream":true,"messages":[{"role":"user"}],"stream_options":{"include_usage":true}})");
  }
  SUBCASE("already set: untouched") {
    CHECK_FALSE(
        inject_include_usage(e, R"({"stream":true,"stream_options":{"include_usage":true}})"));
  }
  SUBCASE("set to false: turned on") {
    CHECK(inject_include_usage(e, R"({"stream":true,"stream_options":{"include_usage":false}})") ==
          R"({"stream":true,"stream_options":{"include_usage":true}})");
  }
  SUBCASE("other stream_options kept") {
    CHECK(inject_include_usage(
              e, R"({"stream_options":{"include_obfuscation":false},"stream":true})") ==
          R"({"stream_options":{"include_obfuscation":false,"include_usage":true},"stream":true})");
  }
  SUBCASE("stream_options null becomes the object") {
    CHECK(inject_include_usage(e, R"({"stream":true,"stream_options":null})") ==
          R"({"stream":true,"stream_options":{"include_usage":true}})");
  }
  SUBCASE("include_usage null becomes true") {
    CHECK(inject_include_usage(e, R"({"stream":true,"stream_options":{"include_usage":null}})") ==
          R"({"stream":true,"stream_options":{"include_usage":true}})");
  }
  SUBCASE("nested include_usage keys elsewhere are left alone") {
    CHECK(
        inject_include_usage(e, R"({"metadata":{"stream_options":{"x":1}},"stream":true})") ==
        R"({"metadata":{"stream_options":{"x":1}},"stream":true,"stream_options":{"include_usage":true}})");
  }
  SUBCASE("not streaming") {
    CHECK_FALSE(inject_include_usage(e, R"({"stream":false})"));
    CHECK_FALSE(inject_include_usage(e, R"({"model":"gpt-4o-mini"})"));
    CHECK_FALSE(inject_include_usage(e, R"({"stream":"true"})"));
  }
  SUBCASE("invalid or odd JSON") {
    CHECK_FALSE(inject_include_usage(e, R"({"stream":true,)"));
    CHECK_FALSE(inject_include_usage(e, R"([{"stream":true}])"));
    CHECK_FALSE(inject_include_usage(e, R"({"stream":true,"stream_options":"yes"})"));
    CHECK_FALSE(inject_include_usage(e, ""));
  }
  SUBCASE("endpoint without include_usage: inject") {
    CHECK_FALSE(inject_include_usage(chat(false), R"({"stream":true})"));
  }
}

TEST_CASE("UsageChunkStripper::feed, drops only the usage chunk") {
  const std::string sse = usage_test::fixture("openai_chat_stream.sse");
  SUBCASE("LF framing, whole, byte by byte, random splits") {
    const std::string expected = without_usage_chunk(sse, "\n\n");
    for (unsigned seed : {0u, 1u, 9u, 314u}) {
      int dropped = 0;
      CHECK(strip(sse, seed, &dropped) == expected);
      CHECK(dropped == 1);
    }
    UsageChunkStripper whole;
    CHECK(whole.feed(sse) + whole.finish() == expected);
  }
  SUBCASE("CRLF framing, the dropped event's LF split off") {
    std::string crlf;
    for (char c : sse) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    const std::string expected = without_usage_chunk(crlf, "\r\n\r\n");
    for (unsigned seed : {0u, 2u, 77u}) CHECK(strip(crlf, seed) == expected);
  }
  SUBCASE("usage with choices is not usage-only") {
    const std::string event =
        "data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":{\"prompt_tokens\":1}}\n\n";
    CHECK(strip(event, 0) == event);
  }
  SUBCASE("usage null is kept") {
    const std::string event = "data: {\"choices\":[],\"usage\":null}\n\n";
    CHECK(strip(event, 0) == event);
  }
  SUBCASE("an event ending on CR, then a line before the next feed's LF") {
    // "\r\r" ends the first event and "\r" a blank second one; the LF that arrives next ends
    // the line "Z", so it must stay after it (found by fuzz/fuzz_stream_usage).
    UsageChunkStripper s;
    std::string out = s.feed("event: m\r\r\rZ");
    out += s.feed("\n\n");
    CHECK(out + s.finish() == "event: m\r\r\rZ\n\n");
  }
  SUBCASE("comments and [DONE] pass") {
    const std::string text = ": ping\n\ndata: [DONE]\n\n";
    CHECK(strip(text, 0) == text);
  }
}

TEST_CASE("UsageChunkStripper::feed, emits each event as soon as it ends") {
  UsageChunkStripper s;
  CHECK(s.feed("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n") == "");
  CHECK(s.feed("\n") == "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n");
  CHECK(s.feed("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3}}\n\ndata: [DONE]\n\n") ==
        "data: [DONE]\n\n");
  CHECK(s.feed("data: partial") == "");
  CHECK(s.finish() == "data: partial");
}
