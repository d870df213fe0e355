#include "proxy/splice.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

namespace proxy {
namespace {

using namespace net;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

constexpr std::size_t k_chunk = 16 * 1024;

template <typename S>
void shutdown_send(S& s) {
  error_code ignored;
  lowest(s).socket().shutdown(tcp::socket::shutdown_send, ignored);
}

template <typename S>
void close(S& s) {
  error_code ignored;
  lowest(s).socket().close(ignored);
}

template <typename From, typename To, typename Other>
asio::awaitable<void> pump(From& from, To& to, Other& other_close, bool half_close,
                           Clock::time_point& last_activity, std::uint64_t& total) {
  std::array<char, k_chunk> buf;
  lowest(from).expires_never();
  while (true) {
    auto [rec, n] = co_await from.async_read_some(asio::buffer(buf), use_tuple);
    if (n > 0) {
      last_activity = Clock::now();
      auto [wec, w] = co_await asio::async_write(to, asio::buffer(buf.data(), n), use_tuple);
      total += w;
      if (wec) break;
    }
    if (rec) {
      if (rec == asio::error::eof && half_close) {
        shutdown_send(to);
        co_return;
      }
      break;
    }
  }
  close(from);
  close(other_close);
}

asio::awaitable<void> watchdog(Clock::time_point& last_activity, std::chrono::milliseconds idle) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    const auto deadline = last_activity + idle;
    if (Clock::now() >= deadline) co_return;
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(use_tuple);
    if (ec) co_return;
  }
}

}  // namespace

template <typename A, typename B>
asio::awaitable<SpliceBytes> splice(A& a, B& b, bool half_close, std::chrono::milliseconds idle) {
  auto last_activity = Clock::now();
  SpliceBytes bytes;
  co_await ((pump(a, b, b, half_close, last_activity, bytes.a_to_b) &&
             pump(b, a, a, half_close, last_activity, bytes.b_to_a)) ||
            watchdog(last_activity, idle));
  close(a);
  close(b);
  co_return bytes;
}

template asio::awaitable<SpliceBytes> splice(beast::tcp_stream&, beast::tcp_stream&, bool,
                                             std::chrono::milliseconds);
template asio::awaitable<SpliceBytes> splice(TlsStream&, TlsStream&, bool,
                                             std::chrono::milliseconds);
template asio::awaitable<SpliceBytes> splice(beast::tcp_stream&, TlsStream&, bool,
                                             std::chrono::milliseconds);

}  // namespace proxy
