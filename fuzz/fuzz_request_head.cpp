// A request head as a client sends it to the proxy: Beast's parser set up as read_request_head
// sets it up, then the checks that decide 400/431 and the CONNECT and absolute-form targets.
#include <cstddef>
#include <cstdint>
#include <iterator>

#include "proxy/proxy_target.hpp"
#include "proxy/request_head.hpp"

namespace http = boost::beast::http;

namespace {

// A parsed authority written back must parse to itself: the proxy dials what it logs.
void check_round_trip(const rules::HostPort& hp) {
  const auto again = proxy::parse_connect_target(proxy::authority_string(hp));
  if (!again || again->host != hp.host || again->port != hp.port) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  proxy::RequestHead head;
  head.header_limit(proxy::k_header_limit);
  head.body_limit(boost::none);
  boost::beast::error_code ec;
  head.put(boost::asio::buffer(data, size), ec);
  if (ec || !head.is_header_done()) return 0;
  const auto& req = head.get();
  if (std::distance(req.begin(), req.end()) > static_cast<long>(proxy::k_max_fields)) return 0;
  if (!proxy::framing_problem(req).empty()) return 0;
  if (req.method() == http::verb::connect) {
    if (const auto hp = proxy::parse_connect_target(req.target())) check_round_trip(*hp);
  } else if (const auto abs = proxy::parse_absolute_target(req.target())) {
    if (abs->origin_form.empty() || abs->origin_form.front() != '/') __builtin_trap();
    check_round_trip(abs->authority);
  }
  return 0;
}
