#include "proxy/body_read.hpp"

#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace proxy {

using namespace net;

template <typename Stream>
asio::awaitable<error_code> read_body(Stream& stream, beast::flat_buffer& buffer,
                                      BodyParser& parser, std::chrono::milliseconds gap) {
  auto& socket_layer = lowest(stream);
  socket_layer.expires_never();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!parser.is_done()) {
    // Shared with the timer's handler, which may run after this read (and this frame) ended:
    // it touches the socket only while the read it guards is still pending.
    struct Guard {
      bool pending = true;
      bool fired = false;
    };
    auto guard = std::make_shared<Guard>();
    timer.expires_after(gap);
    timer.async_wait([guard, &socket_layer](error_code ec) {
      if (ec || !guard->pending) return;
      guard->fired = true;
      error_code ignored;
      socket_layer.socket().cancel(ignored);  // the read ends with operation_aborted
    });
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
    guard->pending = false;
    timer.cancel();
    if (guard->fired) co_return beast::error::timeout;
    if (ec) co_return ec;
  }
  co_return error_code{};
}

template asio::awaitable<error_code> read_body(beast::tcp_stream&, beast::flat_buffer&, BodyParser&,
                                               std::chrono::milliseconds);
template asio::awaitable<error_code> read_body(TlsStream&, beast::flat_buffer&, BodyParser&,
                                               std::chrono::milliseconds);

}  // namespace proxy
