// What a provider answers, read for usage: a route of the shipped catalog (every provider and
// endpoint, so every JSON and stream usage format), JSON or SSE, in pieces. Input: byte 0 picks
// the route, byte 1 the content type, streaming and piece size; up to the first '\n' is the value
// of every header the provider reads; the rest is the decoded body.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/catalog_support.hpp"
#include "rules/usage_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto& route = fuzz::routes()[data[0] % fuzz::routes().size()];
  const bool sse = data[1] & 1;
  const bool streaming = data[1] & 2;
  const std::size_t piece = 1 + (data[1] >> 2);
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto eol = in.find('\n');
  const std::string header_value(eol == std::string_view::npos ? std::string_view{}
                                                               : in.substr(0, eol));
  if (eol != std::string_view::npos) in.remove_prefix(eol + 1);

  const rules::Provider& p = *route.provider;
  rules::HeaderList headers{{"Content-Type", sse ? "text/event-stream" : "application/json"}};
  const auto& rl = p.rate_limit_headers;
  for (const auto& name :
       {rl.remaining_tokens, rl.remaining_requests, rl.reset_tokens, rl.reset_requests})
    if (!name.empty()) headers.emplace_back(name, header_value);
  if (p.balance && !p.balance->header.empty())
    headers.emplace_back(p.balance->header, header_value);
  headers.emplace_back("x-ratelimit-limit-requests", header_value);

  const std::string model = p.models.empty() ? "" : p.models.begin()->first;
  rules::UsageReader reader(p, route.endpoint, model, streaming);
  reader.on_headers(rules::ResponseHeadView{200, &headers});
  while (!in.empty()) {
    const auto n = std::min(piece, in.size());
    reader.on_body(in.substr(0, n));
    in.remove_prefix(n);
  }
  const auto result = reader.finish();
  if (result.actual_micros && *result.actual_micros < 0) __builtin_trap();
  return 0;
}
