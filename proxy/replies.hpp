#pragma once
// Responses tollgate writes itself (errors, refusals, CONNECT answers). Networking TUs only.

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <type_traits>

#include "proxy/net.hpp"
#include "rules/config.hpp"
#include "rules/request_view.hpp"

namespace proxy {

inline constexpr std::chrono::seconds k_write_timeout{30};
// Bounds of discard_input (nginx's lingering_time and lingering_timeout are 30 s and 5 s): a
// client still sending a body keeps the idle timer from firing.
inline constexpr std::chrono::seconds k_linger_total{30};
inline constexpr std::chrono::seconds k_linger_idle{2};

// {"error":{"message":"tollgate: ...","type":"<type>"}}
std::string error_json(std::string_view message, std::string_view type);

// The 404 of an origin-form request whose first path segment `prefix` names no provider (base-URL
// mode, DESIGN §14): {"error":{"message":"...","type":"not_found","providers":[names, sorted]}}.
std::string unknown_prefix_json(const rules::Config& config, std::string_view prefix);

net::http::response<net::http::string_body> make_reply(int status, const rules::HeaderList& headers,
                                                       std::string body, bool keep_alive);

// Writes `reply` to the client; false when the write failed.
template <typename Stream>
net::asio::awaitable<bool> write_reply(Stream& stream,
                                       net::http::response<net::http::string_body>& reply) {
  net::lowest(stream).expires_after(k_write_timeout);
  auto [ec, n] = co_await net::http::async_write(stream, reply, net::use_tuple);
  co_return !ec;
}

// After a reply that ends the connection while the client may still be sending its request (a
// body refused with 413, a head cut at 64 KiB): reads and drops its bytes until it closes, or
// k_linger_idle passes without one, or k_linger_total passes. Closing with unread input makes
// the kernel send a reset, which can destroy the reply before the client has read it (the
// staged close of RFC 9112 §9.6): a client busy writing a body reads the answer only afterwards.
// Plain TCP is half-closed first, so that a client reading to the end sees it at once; under TLS
// the close_notify follows the lingering (the reply's Content-Length tells where it ends).
template <typename Stream>
net::asio::awaitable<void> discard_input(Stream& stream, net::beast::flat_buffer& buffer) {
  using Clock = std::chrono::steady_clock;
  buffer.consume(buffer.size());
  if constexpr (std::is_same_v<Stream, net::TcpStream>) {
    net::error_code ignored;
    stream.socket().shutdown(net::tcp::socket::shutdown_send, ignored);
  }
  const auto until = Clock::now() + k_linger_total;
  std::array<char, 16 * 1024> scratch;
  while (true) {
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) co_return;
    net::lowest(stream).expires_after(std::min<Clock::duration>(left, k_linger_idle));
    auto [ec, n] = co_await stream.async_read_some(net::asio::buffer(scratch), net::use_tuple);
    if (ec) co_return;
  }
}

}  // namespace proxy
