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

tcp::socket& socket_of(tcp::socket& s) {
  return s;
}
template <typename S>
tcp::socket& socket_of(S& s) {
  return lowest(s).socket();
}

// What the bytes are read from and written to: a plain TCP stream's socket itself (its timeouts
// are never set here, the watchdog below keeps the time, and Beast's wrapper of every operation
// costs a blind tunnel's small exchanges), a TLS stream as it is.
tcp::socket& io_of(beast::tcp_stream& s) {
  return s.socket();
}
TlsStream& io_of(TlsStream& s) {
  return s;
}

template <typename S>
void shutdown_send(S& s) {
  error_code ignored;
  socket_of(s).shutdown(tcp::socket::shutdown_send, ignored);
}

template <typename S>
void close(S& s) {
  error_code ignored;
  socket_of(s).close(ignored);
}

template <typename From, typename To, typename Other>
asio::awaitable<void> pump(From& from, To& to, Other& other_close, bool half_close,
                           Clock::time_point& last_activity, std::uint64_t& total) {
  std::array<char, k_chunk> buf;
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
  lowest(a).expires_never();
  lowest(b).expires_never();
  auto& a_io = io_of(a);
  auto& b_io = io_of(b);
  co_await ((pump(a_io, b_io, b_io, half_close, last_activity, bytes.a_to_b) &&
             pump(b_io, a_io, a_io, half_close, last_activity, bytes.b_to_a)) ||
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
