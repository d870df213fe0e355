#pragma once
// Asio/Beast vocabulary shared by the networking translation units of proxy/. Only .cpp files
// that touch sockets include this: it pulls in heavy templates.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "proxy/tcp_stream.hpp"

namespace proxy::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Completion token: errors as values, `auto [ec, n] = co_await op(..., use_tuple)`.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// The ways a peer ends a connection that are not worth a log line: EOF, a TLS peer that closed
// without close_notify (stream_truncated, common with HTTP clients), resets, our own cancels
// and timeouts.
bool is_benign_close(const error_code& ec);

template <typename Stream>
TcpStream& lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

}  // namespace proxy::net

#include "proxy/tls_stream.hpp"
