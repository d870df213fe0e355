#include "proxy/body_read.hpp"

namespace proxy {

using namespace net;

bool parse_buffered(beast::flat_buffer& buffer, BodyParser& parser, error_code& ec) {
  ec = {};
  while (!parser.is_done()) {
    if (buffer.size() == 0) return false;
    const std::size_t used = put_buffered(buffer, parser, ec);
    if (ec) return true;
    if (used == 0) return false;
  }
  return true;
}

template <typename Stream>
asio::awaitable<error_code> read_body(Stream& stream, beast::flat_buffer& buffer,
                                      BodyParser& parser, std::chrono::milliseconds gap) {
  auto& socket_layer = lowest(stream);
  error_code result;
  while (!parser.is_done()) {
    // At the deadline the read is cancelled and ends with timeout; the socket stays open.
    socket_layer.expires_after(gap, TcpStream::Expiry::cancel);
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
    if (ec) {
      result = ec;
      break;
    }
  }
  // What comes next (the answer, the forwarding) sets its own deadline; none is left behind.
  socket_layer.expires_never();
  co_return result;
}

template asio::awaitable<error_code> read_body(TcpStream&, beast::flat_buffer&, BodyParser&,
                                               std::chrono::milliseconds);
template asio::awaitable<error_code> read_body(TlsStream&, beast::flat_buffer&, BodyParser&,
                                               std::chrono::milliseconds);

}  // namespace proxy
