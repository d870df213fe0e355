// TcpStream (proxy/tcp_stream.hpp): deadlines on reads and writes over a real loopback
// connection, with the connection's one timer armed only when a deadline needs it.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "proxy/net.hpp"

using namespace std::chrono_literals;
using namespace proxy::net;
using Clock = std::chrono::steady_clock;

namespace {

// A connected pair: `ours` (the TcpStream under test) and the peer's plain socket.
struct Pair {
  asio::io_context io;
  std::optional<TcpStream> ours;
  std::optional<tcp::socket> peer;
  Pair() {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    peer.emplace(acceptor.accept());
    ours.emplace(std::move(client));
  }
  // Runs `body` to its end (or until 10 s have passed: a hang fails the test).
  template <typename Body>
  void run(Body body) {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    io.run_for(10s);
    io.restart();
    REQUIRE(done);
  }
  asio::awaitable<void> sleep(Clock::duration d) {
    asio::steady_timer t(io, d);
    co_await t.async_wait(use_tuple);
  }
  // Sends `data` from the peer after `delay`.
  void peer_sends_after(Clock::duration delay, std::string data) {
    asio::co_spawn(
        io,
        [this, delay, data = std::move(data)]() -> asio::awaitable<void> {
          co_await sleep(delay);
          co_await asio::async_write(*peer, asio::buffer(data), use_tuple);
        },
        asio::detached);
  }
};

}  // namespace

TEST_CASE("a read still pending at its deadline ends with timeout and the socket is closed") {
  Pair p;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(100ms);
    const auto started = Clock::now();
    char byte;
    auto [ec, n] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
    const auto took = Clock::now() - started;
    CHECK(ec == beast::error::timeout);
    CHECK(took >= 90ms);
    CHECK(took < 2s);
    CHECK_FALSE(p.ours->socket().is_open());
  });
}

TEST_CASE("a busy connection arms its timer once, not once per operation") {
  Pair p;
  p.run([&]() -> asio::awaitable<void> {
    std::string echo(64, '\0');
    for (int i = 0; i < 200; ++i) {
      p.ours->expires_after(30s);
      auto [wec, w] = co_await asio::async_write(*p.ours, asio::buffer("ping", 4), use_tuple);
      REQUIRE_FALSE(wec);
      auto [pec, got] = co_await p.peer->async_read_some(asio::buffer(echo), use_tuple);
      REQUIRE_FALSE(pec);
      co_await asio::async_write(*p.peer, asio::buffer(echo.data(), got), use_tuple);
      p.ours->expires_after(30s);
      char back[4];
      auto [rec, r] = co_await asio::async_read(*p.ours, asio::buffer(back), use_tuple);
      REQUIRE_FALSE(rec);
      CHECK(std::string(back, 4) == "ping");
    }
    // Every deadline lay after the first one armed: the first wait is still the only one.
    CHECK(p.ours->timer_waits() == 1);
  });
}

TEST_CASE("a deadline pushed back while the timer waits holds: the timer fires early, then again") {
  Pair p;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(100ms);
    p.peer_sends_after(20ms, "a");
    char byte;
    auto [ec1, n1] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
    REQUIRE_FALSE(ec1);
    // Armed for 100 ms from the start; this read may take until 400 ms and gets its byte at 250.
    p.ours->expires_after(400ms);
    p.peer_sends_after(250ms, "b");
    auto [ec2, n2] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
    CHECK_FALSE(ec2);
    CHECK(byte == 'b');
    CHECK(p.ours->timer_waits() == 2);
    CHECK(p.ours->socket().is_open());
  });
}

TEST_CASE("an operation started after its deadline passed ends with timeout at once") {
  Pair p;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(10ms);
    co_await p.sleep(50ms);
    const auto started = Clock::now();
    auto [ec, n] = co_await p.ours->async_write_some(asio::buffer("x", 1), use_tuple);
    CHECK(ec == beast::error::timeout);
    CHECK(n == 0);
    CHECK(Clock::now() - started < 50ms);
    CHECK_FALSE(p.ours->socket().is_open());
  });
}

TEST_CASE("a pending read keeps its deadline while a write sets another") {
  Pair p;
  bool read_done = false;
  beast::error_code read_ec;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(150ms);
    asio::co_spawn(
        p.io,
        [&]() -> asio::awaitable<void> {
          char byte;
          auto [ec, n] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
          read_ec = ec;
          read_done = true;
        },
        asio::detached);
    co_await p.sleep(20ms);
    p.ours->expires_after(30s);  // the write's; the read keeps its 150 ms
    auto [wec, w] = co_await p.ours->async_write_some(asio::buffer("x", 1), use_tuple);
    CHECK_FALSE(wec);
    co_await p.sleep(500ms);
    CHECK(read_done);
    CHECK(read_ec == beast::error::timeout);
  });
}

TEST_CASE("Expiry::cancel ends the read with timeout and leaves the connection usable") {
  Pair p;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(100ms, TcpStream::Expiry::cancel);
    char byte;
    auto [ec, n] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
    CHECK(ec == beast::error::timeout);
    REQUIRE(p.ours->socket().is_open());
    // The answer still goes out, and reads work again once a new deadline is set.
    p.ours->expires_after(5s);
    auto [wec, w] = co_await asio::async_write(*p.ours, asio::buffer("408", 3), use_tuple);
    CHECK_FALSE(wec);
    char got[3];
    auto [pec, pn] = co_await asio::async_read(*p.peer, asio::buffer(got), use_tuple);
    CHECK_FALSE(pec);
    CHECK(std::string(got, 3) == "408");
    p.peer_sends_after(10ms, "z");
    auto [rec, rn] = co_await p.ours->async_read_some(asio::buffer(&byte, 1), use_tuple);
    CHECK_FALSE(rec);
    CHECK(byte == 'z');
  });
}

TEST_CASE("a stream destroyed with a read pending ends the read with operation_aborted") {
  Pair p;
  bool read_done = false;
  beast::error_code read_ec;
  p.run([&]() -> asio::awaitable<void> {
    p.ours->expires_after(5s);
    asio::co_spawn(
        p.io,
        [&]() -> asio::awaitable<void> {
          char byte;
          // The stream object goes while this waits: the operation holds what it needs.
          auto& stream = *p.ours;
          auto [ec, n] = co_await stream.async_read_some(asio::buffer(&byte, 1), use_tuple);
          read_ec = ec;
          read_done = true;
        },
        asio::detached);
    co_await p.sleep(20ms);
    p.ours.reset();
    co_await p.sleep(20ms);
    CHECK(read_done);
    CHECK(read_ec == asio::error::operation_aborted);
  });
}

TEST_CASE("connect honours the deadline") {
  asio::io_context io;
  // A listener that never accepts, its backlog filled: further connects hang in SYN_SENT.
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  acceptor.listen(0);
  std::vector<tcp::socket> fillers;
  for (int i = 0; i < 8; ++i) {
    fillers.emplace_back(io);
    fillers.back().open(tcp::v4());
    fillers.back().non_blocking(true);
    const auto to = acceptor.local_endpoint();
    // Not asio's connect: it would wait for the handshake, which a full backlog never finishes.
    (void)::connect(fillers.back().native_handle(), to.data(), static_cast<socklen_t>(to.size()));
  }
  TcpStream stream(io.get_executor());
  beast::error_code result;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        stream.expires_after(200ms);
        auto [ec] = co_await stream.async_connect(acceptor.local_endpoint(), use_tuple);
        result = ec;
        done = true;
      },
      asio::detached);
  io.run_for(10s);
  REQUIRE(done);
  // Either the kernel refused it at once (a full backlog may answer with a reset) or the
  // deadline ended it: never a hang.
  if (result != asio::error::connection_refused) CHECK(result == beast::error::timeout);
}
