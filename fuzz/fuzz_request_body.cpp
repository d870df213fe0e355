// A request body as serve_exchange reads it: the head parser of read_request_head, then a
// string_body parser taking over its head with the config's body limit, fed in the pieces the
// input's first byte chooses (Beast keeps chunk-size and chunk-extension state across reads).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/body_read.hpp"
#include "proxy/request_head.hpp"
#include "rules/config.hpp"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  proxy::RequestHead head;
  head.header_limit(proxy::k_header_limit);
  head.body_limit(boost::none);
  boost::beast::error_code ec;
  const auto used = head.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !head.is_header_done() || !proxy::framing_problem(head.get()).empty()) return 0;
  in.remove_prefix(used);

  // A small limit, so that body_limit is reached by inputs the fuzzer can grow to.
  rules::Config config;
  config.max_body_bytes = 4096;
  // As serve_exchange does: a Content-Length over the limit is answered 413 before any body
  // parser exists. (The body parser takes over a finished head, so its own limit is never
  // checked against the length; its string_body would reserve all of it.)
  if (const auto length = head.content_length(); length && *length > config.max_body_bytes)
    return 0;
  proxy::BodyParser body{head.parser()};
  body.body_limit(config.max_body_bytes);
  body.eager(true);  // as http::async_read sets it
  // As async_read does: offer what is buffered, keep what the parser did not take, add a piece
  // when it needs more (Beast's put takes an empty buffer without asking for more).
  std::size_t offered = std::min(piece, in.size());
  while (!body.is_done()) {
    const auto n = body.put(boost::asio::buffer(in.data(), offered), ec);
    in.remove_prefix(n);
    offered -= n;
    if (ec == http::error::need_more || (!ec && n == 0)) {
      if (offered == in.size()) {
        body.put_eof(ec);
        break;
      }
      offered = std::min(offered + piece, in.size());
      ec = {};
    } else if (ec) {
      break;
    }
  }
  if (!ec && body.is_done() && body.get().body().size() > config.max_body_bytes) __builtin_trap();
  return 0;
}
