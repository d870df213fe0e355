#pragma once
// Connections to upstreams: dialing (upstream.resolve overrides, deny_networks for tunnels,
// connect_timeout) and, for TLS upstreams, a per-worker pool of verified keep-alive connections
// keyed by host:port. One pool per worker thread: no locks.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/net.hpp"
#include "proxy/network_policy.hpp"
#include "rules/config.hpp"

namespace proxy {

struct DialResult {
  std::optional<net::TcpStream> stream;
  std::string error;    // "connect: Connection refused" when !stream
  bool denied = false;  // refused by deny_networks (403, not 502)
  std::string address;  // the address dialed (or refused)
};

// Connects `stream` to the first of `endpoints` that accepts, within the deadline the stream
// already has (one for all of them): after a refusal the next address is tried, after the
// deadline none. The error of the last attempt (host_not_found for no endpoints), or the
// endpoint connected to.
net::asio::awaitable<std::pair<net::error_code, net::tcp::endpoint>> connect_any(
    net::TcpStream& stream, const std::vector<net::tcp::endpoint>& endpoints);

// Resolves host:port (upstream.resolve first, then DNS) and connects within connect_timeout.
// With `deny`, every resolved address is checked and the connection goes to those checked
// addresses only; addresses from upstream.resolve are the operator's and not checked.
net::asio::awaitable<DialResult> dial(const rules::Config& config, const std::string& host,
                                      std::uint16_t port, const NetworkPolicy* deny);

struct UpstreamConn {
  std::unique_ptr<net::TlsStream> stream;
  net::beast::flat_buffer buffer;  // bytes read past the last response
  std::string key;                 // host:port
  bool reused = false;             // came from the pool (may have been closed by the peer)
  std::chrono::steady_clock::time_point idle_since;
};

struct AcquireResult {
  std::unique_ptr<UpstreamConn> conn;
  std::string error;  // "connect: ...", "tls: ..." when !conn
};

// One failed attempt to send a request and read its response head, as seen by the retry rule.
struct FailedAttempt {
  bool reused = false;              // the connection came from the pool
  std::string_view method;          // the request's method
  std::uint64_t request_bytes = 0;  // bytes of the request the connection accepted before the error
  bool response_bytes = false;      // any byte of a response (1xx included) arrived
  net::error_code error;            // what the write or read reported
};

// Whether the request may be sent once more on a fresh connection. Only a pooled connection the
// upstream closed (EOF, reset, TLS truncation; never a timeout) before any response byte, the
// race of a keep-alive close with our request, qualifies; then a request none of whose bytes
// were accepted may be retried whatever its method, otherwise only a safe method (GET, HEAD,
// OPTIONS, TRACE), since the upstream may have acted on a POST before it closed (RFC 9110
// §9.2.2: a proxy must not retry non-idempotent requests by itself).
bool may_retry(const FailedAttempt& attempt);

class UpstreamPool {
 public:
  UpstreamPool(net::asio::any_io_executor executor, net::ssl::context& tls)
      : executor_(std::move(executor)), tls_(tls) {}

  // A pooled live connection for host:port unless `fresh`, else a new verified TLS one.
  net::asio::awaitable<AcquireResult> acquire(const rules::Config& config, const std::string& host,
                                              std::uint16_t port, bool fresh);
  // Keeps `conn` for reuse until `idle_timeout` passes.
  void release(std::unique_ptr<UpstreamConn> conn, std::chrono::milliseconds idle_timeout);
  void clear() { idle_.clear(); }
  std::size_t idle_count() const;

 private:
  struct Idle {
    std::unique_ptr<UpstreamConn> conn;
    std::chrono::steady_clock::time_point expires;
  };
  void evict_expired();

  net::asio::any_io_executor executor_;
  net::ssl::context& tls_;
  std::map<std::string, std::vector<Idle>, std::less<>> idle_;  // by "host:port"
};

}  // namespace proxy
