// The upstream dial's walk over the addresses a name resolved to (proxy::connect_any): the next
// address after a refusal, none after the deadline, over real loopback sockets.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <chrono>
#include <utility>
#include <vector>

#include "proxy/upstream_pool.hpp"

using namespace std::chrono_literals;
using namespace proxy::net;

namespace {

// An address nothing listens on: a port bound, then given back.
tcp::endpoint refusing(asio::io_context& io) {
  tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto endpoint = closed.local_endpoint();
  closed.close();
  return endpoint;
}

// True when `acceptor` has a connection waiting (without blocking).
bool has_connection(tcp::acceptor& acceptor) {
  acceptor.non_blocking(true);
  error_code ec;
  tcp::socket s(acceptor.get_executor());
  acceptor.accept(s, ec);
  return !ec;
}

struct Walk {
  asio::io_context io;
  TcpStream stream{io.get_executor()};
  std::pair<error_code, tcp::endpoint> result;

  void run(const std::vector<tcp::endpoint>& endpoints,
           std::chrono::steady_clock::duration timeout) {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          stream.expires_after(timeout);
          result = co_await proxy::connect_any(stream, endpoints);
          done = true;
        },
        asio::detached);
    io.run_for(10s);
    REQUIRE(done);
  }
};

}  // namespace

TEST_CASE("connect_any: a refused address is passed over for the next") {
  Walk walk;
  tcp::acceptor listening(walk.io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto refused = refusing(walk.io);
  walk.run({refused, listening.local_endpoint()}, 5s);
  CHECK_FALSE(walk.result.first);
  CHECK(walk.result.second == listening.local_endpoint());
  CHECK(walk.stream.socket().remote_endpoint() == listening.local_endpoint());
  CHECK(has_connection(listening));
}

TEST_CASE("connect_any: the first address that accepts is the one used") {
  Walk walk;
  tcp::acceptor first(walk.io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::acceptor second(walk.io, {asio::ip::make_address("127.0.0.1"), 0});
  walk.run({first.local_endpoint(), second.local_endpoint()}, 5s);
  CHECK_FALSE(walk.result.first);
  CHECK(walk.result.second == first.local_endpoint());
  CHECK(has_connection(first));
  CHECK_FALSE(has_connection(second));
}

TEST_CASE("connect_any: every address refused answers with the refusal") {
  Walk walk;
  walk.run({refusing(walk.io), refusing(walk.io)}, 5s);
  CHECK(walk.result.first == asio::error::connection_refused);
}

TEST_CASE("connect_any: past the deadline no further address is tried") {
  Walk walk;
  tcp::acceptor first(walk.io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::acceptor second(walk.io, {asio::ip::make_address("127.0.0.1"), 0});
  // A deadline already passed when the walk starts: the first attempt ends with a timeout, and
  // the walk stops there instead of trying the second address.
  walk.run({first.local_endpoint(), second.local_endpoint()}, -1s);
  CHECK(walk.result.first == beast::error::timeout);
  CHECK_FALSE(has_connection(first));
  CHECK_FALSE(has_connection(second));
}

TEST_CASE("connect_any: no address at all is host_not_found") {
  Walk walk;
  walk.run({}, 5s);
  CHECK(walk.result.first == asio::error::host_not_found);
}
