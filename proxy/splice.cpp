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
tcp::socket& io_of(TcpStream& s) {
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

using IoResult = std::tuple<error_code, std::size_t>;

// Asio reads a socket without the system call that finds nothing once a read took all there was
// (it then waits for the next readiness event); waiting here first would cost an epoll_ctl each.
template <typename S>
asio::awaitable<IoResult> read_some(S& s, asio::mutable_buffer b) {
  co_return co_await s.async_read_some(b, use_tuple);
}

// Writes all of `b` to a socket in non-blocking mode, waiting only while its send buffer is full:
// the usual write completes without a pass through the event loop.
asio::awaitable<IoResult> write_all(tcp::socket& s, asio::const_buffer b) {
  std::size_t done = 0;
  while (done < b.size()) {
    error_code ec;
    done += s.write_some(b + done, ec);
    if (ec == asio::error::would_block) {
      auto [wec] = co_await s.async_wait(tcp::socket::wait_write, use_tuple);
      if (wec) co_return IoResult{wec, done};
    } else if (ec) {
      co_return IoResult{ec, done};
    }
  }
  co_return IoResult{error_code{}, done};
}
asio::awaitable<IoResult> write_all(TlsStream& s, asio::const_buffer b) {
  co_return co_await asio::async_write(s, b, use_tuple);
}

template <typename From, typename To, typename Other>
asio::awaitable<void> pump(From& from, To& to, Other& other_close, bool half_close,
                           Clock::time_point& last_activity, std::uint64_t& total) {
  std::array<char, k_chunk> buf;
  while (true) {
    auto [rec, n] = co_await read_some(from, asio::buffer(buf));
    if (n > 0) {
      last_activity = Clock::now();
      auto [wec, w] = co_await write_all(to, asio::buffer(buf.data(), n));
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
  // Non-blocking for the writes above (a TLS stream's socket already is).
  error_code ignored;
  socket_of(a).non_blocking(true, ignored);
  socket_of(b).non_blocking(true, ignored);
  auto& a_io = io_of(a);
  auto& b_io = io_of(b);
  co_await ((pump(a_io, b_io, b_io, half_close, last_activity, bytes.a_to_b) &&
             pump(b_io, a_io, a_io, half_close, last_activity, bytes.b_to_a)) ||
            watchdog(last_activity, idle));
  close(a);
  close(b);
  co_return bytes;
}

template asio::awaitable<SpliceBytes> splice(TcpStream&, TcpStream&, bool,
                                             std::chrono::milliseconds);
template asio::awaitable<SpliceBytes> splice(TlsStream&, TlsStream&, bool,
                                             std::chrono::milliseconds);
template asio::awaitable<SpliceBytes> splice(TcpStream&, TlsStream&, bool,
                                             std::chrono::milliseconds);

}  // namespace proxy
