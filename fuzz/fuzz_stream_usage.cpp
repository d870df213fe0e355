// The request rewrite that asks OpenAI for stream usage and the filter that hides the extra
// chunk from the client. Byte 0 picks the piece size; the rest is both a request body and a
// response stream. Checks the contracts: a body rewritten once needs no second rewrite, and a
// stream with no chunk dropped passes through byte for byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/catalog_support.hpp"
#include "rules/stream_usage.hpp"

namespace {

const rules::Endpoint& inject_endpoint() {
  static const rules::Endpoint* found = [] {
    for (const auto& route : fuzz::routes())
      if (route.endpoint && route.endpoint->stream.inject_include_usage) return route.endpoint;
    std::abort();  // the catalog's OpenAI chat endpoint injects
  }();
  return *found;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  if (const auto body = rules::inject_include_usage(inject_endpoint(), in))
    if (rules::inject_include_usage(inject_endpoint(), *body)) __builtin_trap();

  rules::UsageChunkStripper stripper;
  std::string out;
  for (std::string_view rest = in; !rest.empty();) {
    const auto n = std::min(piece, rest.size());
    out += stripper.feed(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  out += stripper.finish();
  if (stripper.dropped() == 0 && out != in) __builtin_trap();
  return 0;
}
