// TlsStream (issue 19): TLS over a TcpStream through OpenSSL with the stream's own BIO, between
// a real server and a real client over loopback: a server's handshake with the bytes it read
// before, large transfers in both directions at once, and how the peer's end reads.
#include <doctest/doctest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <filesystem>
#include <string>

#include "proxy/cert_store.hpp"
#include "proxy/net.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace proxy::net;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

struct Pki {
  fs::path dir;
  std::unique_ptr<proxy::CertStore> store;
  std::shared_ptr<const proxy::LeafCert> leaf;
  ssl::context server{ssl::context::tls_server};
  ssl::context client{ssl::context::tls_client};
  Pki() {
    char tmpl[] = "/tmp/tollgate-tls-XXXXXX";
    dir = ::mkdtemp(tmpl);
    store = std::make_unique<proxy::CertStore>((dir / "ca.pem").string(), (dir / "ca.key").string(),
                                               24h);
    leaf = store->leaf_for("localhost");
    SSL_CTX_use_certificate(server.native_handle(), leaf->cert.get());
    SSL_CTX_use_PrivateKey(server.native_handle(), leaf->key.get());
    SSL_CTX_set_mode(server.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    client.set_verify_mode(ssl::verify_peer);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client.native_handle()), store->ca_cert());
  }
  ~Pki() { fs::remove_all(dir); }
};

std::string pattern(char seed, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i % 251);
  return s;
}

asio::awaitable<error_code> send_all(TlsStream& s, const std::string& data) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(data), use_tuple);
  co_return ec;
}

asio::awaitable<std::string> receive(TlsStream& s, std::size_t size) {
  std::string got(size, '\0');
  auto [ec, n] = co_await asio::async_read(s, asio::buffer(got), use_tuple);
  got.resize(n);
  co_return got;
}

// A connected pair: the server has read the first `early` bytes of the client's hello before it
// knew the connection was TLS (as a CONNECT's session does), and handshakes with them.
struct Pair {
  Pki& pki;
  asio::io_context io;
  std::unique_ptr<TlsStream> server, client;
  std::size_t used = 0;
  error_code server_handshake, client_handshake;

  Pair(Pki& p, std::size_t early) : pki(p) {
    tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto [aec, socket] = co_await acceptor.async_accept(use_tuple);
          TcpStream tcp(std::move(socket));
          std::array<char, 16> first{};
          if (early > 0)
            co_await asio::async_read(tcp, asio::buffer(first.data(), early), use_tuple);
          server = std::make_unique<TlsStream>(std::move(tcp), pki.server);
          std::tie(server_handshake, used) = co_await server->async_handshake(
              ssl::stream_base::server, asio::buffer(first.data(), early), use_tuple);
        },
        asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          TcpStream tcp(io.get_executor());
          co_await tcp.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                     use_tuple);
          client = std::make_unique<TlsStream>(std::move(tcp), pki.client);
          SSL_set_tlsext_host_name(client->native_handle(), "localhost");
          SSL_set1_host(client->native_handle(), "localhost");
          std::tie(client_handshake) =
              co_await client->async_handshake(ssl::stream_base::client, use_tuple);
        },
        asio::detached);
    io.run();
    io.restart();
  }

  template <typename F>
  void run(F f) {
    asio::co_spawn(io, f(), asio::detached);
    io.run();
    io.restart();
  }
};

}  // namespace

TEST_CASE("TlsStream, a handshake with the bytes read before it; 256 KiB both ways at once") {
  Pki pki;
  Pair pair(pki, 3);
  REQUIRE_FALSE(pair.server_handshake);
  REQUIRE_FALSE(pair.client_handshake);
  CHECK(pair.used == 3);

  const std::string up = pattern('a', 256 * 1024 + 7), down = pattern('k', 256 * 1024 + 13);
  std::string got_up, got_down;
  pair.run([&]() -> asio::awaitable<void> {
    // Each side writes while it reads (full duplex): four operations in flight at once.
    std::tie(std::ignore, got_up, std::ignore, got_down) =
        co_await (send_all(*pair.client, up) && receive(*pair.server, up.size()) &&
                  send_all(*pair.server, down) && receive(*pair.client, down.size()));
  });
  CHECK(got_up == up);
  CHECK(got_down == down);

  SUBCASE("a peer that sends close_notify ends the stream (eof)") {
    error_code ec;
    pair.run([&]() -> asio::awaitable<void> {
      std::tie(std::ignore) = co_await pair.client->async_shutdown(use_tuple);
      char byte;
      std::tie(ec, std::ignore) =
          co_await pair.server->async_read_some(asio::buffer(&byte, 1), use_tuple);
    });
    CHECK(ec == asio::error::eof);
  }
  SUBCASE("a peer gone without close_notify truncated it (stream_truncated)") {
    error_code ec;
    pair.run([&]() -> asio::awaitable<void> {
      error_code ignored;
      lowest(*pair.client).socket().close(ignored);
      char byte;
      std::tie(ec, std::ignore) =
          co_await pair.server->async_read_some(asio::buffer(&byte, 1), use_tuple);
    });
    CHECK(ec == ssl::error::stream_truncated);
    CHECK(is_benign_close(ec));
  }
}

TEST_CASE("TlsStream, a client that does not trust the server fails its handshake") {
  Pki pki;
  Pki other;  // a CA the client trusts, which did not sign the server's leaf
  std::swap(pki.client, other.client);
  Pair pair(pki, 0);
  CHECK(pair.client_handshake);
  CHECK(pair.server_handshake);
}
