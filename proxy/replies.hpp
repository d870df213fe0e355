#pragma once
// Responses tollgate writes itself (errors, refusals, CONNECT answers). Networking TUs only.

#include <string>
#include <string_view>

#include "proxy/net.hpp"
#include "rules/request_view.hpp"

namespace proxy {

inline constexpr std::chrono::seconds k_write_timeout{30};

// {"error":{"message":"tollgate: ...","type":"<type>"}}
std::string error_json(std::string_view message, std::string_view type);

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

}  // namespace proxy
