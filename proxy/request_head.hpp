#pragma once
// Reading a request head from a client with the limits of DESIGN §11 (64 KiB, 100 fields) and
// the framing checks against request smuggling; bad heads are answered here (400/431).

#include <memory>

#include "proxy/arena_parser.hpp"
#include "proxy/net.hpp"
#include "proxy/session_env.hpp"

namespace proxy {

// A client's request head, its fields in an arena of its own (arena_parser.hpp).
using RequestHead = ArenaParser<true, net::http::empty_body>;

inline constexpr std::size_t k_header_limit = 64 * 1024;
inline constexpr std::size_t k_max_fields = 100;

// The framing problem of a parsed head ("" when fine): more than one Content-Length, both
// Content-Length and Transfer-Encoding, Transfer-Encoding in HTTP/1.0, a Transfer-Encoding that
// does not end in chunked.
template <typename Fields>
std::string framing_problem(const net::http::request_header<Fields>& head);

// The next request head, or nullptr when the connection is to be closed (peer gone, idle
// timeout, draining, or a bad head that was answered). While waiting for the first byte the
// connection is listed in env.idle, so that a drain can close it.
template <typename Stream>
net::asio::awaitable<std::unique_ptr<RequestHead>> read_request_head(
    Stream& stream, net::beast::flat_buffer& buffer, WorkerEnv& env);

}  // namespace proxy
