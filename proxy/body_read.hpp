#pragma once
// Reading a request body with a limit on the silence between two reads (clients.read_timeout)
// that leaves the connection usable for an answer: the stream's usual expiry closes the socket
// when it fires, which would leave a slow client without its 408, so the gap is a deadline that
// cancels the read instead (TcpStream::Expiry::cancel).

#include <chrono>
#include <cstddef>

#include "proxy/arena_parser.hpp"
#include "proxy/net.hpp"

namespace proxy {

// Takes the head of a RequestHead (its fields stay in that head's arena).
using BodyParser = net::http::parser<true, net::http::string_body, HeadAllocator>;

// Gives `parser` the bytes `buffer` holds, consuming those it parsed; need_more (the bytes end
// inside an element) is not an error. The bytes used: 0 with no error means more must be read.
// For any parser: the response relay uses it too (forward.cpp).
template <typename Parser>
std::size_t put_buffered(net::beast::flat_buffer& buffer, Parser& parser, net::error_code& ec) {
  const std::size_t used = parser.put(buffer.data(), ec);
  buffer.consume(used);
  if (ec == net::http::error::need_more) ec = {};
  return used;
}

// Parses what `buffer` holds already (the bytes that came with the head: often the whole body)
// without an operation. True when that settled the body: complete, or failed (`ec`); false when
// more must be read (read_body).
bool parse_buffered(net::beast::flat_buffer& buffer, BodyParser& parser, net::error_code& ec);

// Reads into `parser` until the message is complete; beast::error::timeout when `gap` passed
// without a byte (the socket is then still open), else the read's own error.
template <typename Stream>
net::asio::awaitable<net::error_code> read_body(Stream& stream, net::beast::flat_buffer& buffer,
                                                BodyParser& parser, std::chrono::milliseconds gap);

}  // namespace proxy
