#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <tuple>

#include "proxy/proxy_target.hpp"
#include "proxy/tls_contexts.hpp"

namespace proxy {
namespace {

using namespace net;

// A pooled connection the peer closed (FIN, or a TLS alert before our request) is readable
// while idle; a live one is not.
bool looks_alive(UpstreamConn& conn) {
  if (conn.buffer.size() > 0) return false;
  auto& socket = lowest(*conn.stream).socket();
  if (!socket.is_open()) return false;
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

bool may_retry(const FailedAttempt& attempt) {
  if (!attempt.reused || attempt.response_bytes) return false;
  const auto& ec = attempt.error;
  const bool closed = ec == asio::error::eof || ec == http::error::end_of_stream ||
                      ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                      ec == ssl::error::stream_truncated;
  if (!closed) return false;
  if (attempt.request_bytes == 0) return true;
  const auto m = attempt.method;
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}

asio::awaitable<std::pair<error_code, tcp::endpoint>> connect_any(
    TcpStream& stream, const std::vector<tcp::endpoint>& endpoints) {
  error_code ec = asio::error::host_not_found;
  for (const auto& candidate : endpoints) {
    error_code ignored;
    stream.socket().close(ignored);
    std::tie(ec) = co_await stream.async_connect(candidate, use_tuple);
    if (!ec) co_return std::pair{ec, candidate};
    if (ec == beast::error::timeout) break;
  }
  co_return std::pair{ec, tcp::endpoint{}};
}

asio::awaitable<DialResult> dial(const rules::Config& config, const std::string& host,
                                 std::uint16_t port, const NetworkPolicy* deny) {
  DialResult result;
  auto executor = co_await asio::this_coro::executor;
  std::string dial_host = host;
  std::uint16_t dial_port = port;
  if (auto it = config.upstream.resolve.find(host + ":" + std::to_string(port));
      it != config.upstream.resolve.end()) {
    dial_host = it->second.host;
    dial_port = it->second.port;
    deny = nullptr;  // the operator wrote this address
  }
  tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(dial_host, std::to_string(dial_port),
                                                        tcp::resolver::numeric_service, use_tuple);
  if (rec) {
    result.error = "resolve: " + rec.message();
    co_return result;
  }
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) {
    const auto address = entry.endpoint().address().to_string();
    if (deny && deny->denies(address)) {
      result.denied = true;
      result.address = address;
      result.error = "address " + address + " is in tunnel.deny_networks";
      co_return result;
    }
    endpoints.push_back(entry.endpoint());
  }
  // Connect to exactly the addresses checked above: no second resolution (DNS rebinding).
  TcpStream stream(executor);
  stream.expires_after(config.upstream.connect_timeout);
  auto [cec, endpoint] = co_await connect_any(stream, endpoints);
  if (cec) {
    result.error = "connect: " + (cec == beast::error::timeout ? "timed out" : cec.message());
    co_return result;
  }
  stream.socket().set_option(tcp::no_delay(true));
  result.address = endpoint.address().to_string();
  result.stream.emplace(std::move(stream));
  co_return result;
}

asio::awaitable<AcquireResult> UpstreamPool::acquire(const rules::Config& config,
                                                     const std::string& host, std::uint16_t port,
                                                     bool fresh) {
  AcquireResult result;
  evict_expired();
  if (!fresh) {
    // The pool's key in a per-thread buffer: a reused connection costs no allocation. (Read
    // before the first co_await: another exchange on this thread may write it after.)
    thread_local std::string lookup;
    lookup.clear();
    append_authority(lookup, host, port);
    if (auto it = idle_.find(std::string_view(lookup)); it != idle_.end()) {
      while (!it->second.empty()) {
        auto conn = std::move(it->second.back().conn);
        it->second.pop_back();
        if (looks_alive(*conn)) {
          conn->reused = true;
          result.conn = std::move(conn);
          co_return result;
        }
      }
    }
  }
  auto dialed = co_await dial(config, host, port, nullptr);
  if (!dialed.stream) {
    result.error = dialed.error;
    co_return result;
  }
  auto conn = std::make_unique<UpstreamConn>();
  conn->key = authority_string(host, port);
  conn->stream = std::make_unique<TlsStream>(std::move(*dialed.stream), tls_);
  if (!prepare_upstream_ssl(conn->stream->native_handle(), host)) {
    result.error = "tls: cannot set the server name " + host;
    co_return result;
  }
  lowest(*conn->stream).expires_after(config.upstream.connect_timeout);
  auto [hec] = co_await conn->stream->async_handshake(ssl::stream_base::client, use_tuple);
  if (hec) {
    std::string why = hec == beast::error::timeout ? "timed out" : hec.message();
    const long verify = SSL_get_verify_result(conn->stream->native_handle());
    if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    result.error = "tls: " + why;
    co_return result;
  }
  result.conn = std::move(conn);
  co_return result;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConn> conn,
                           std::chrono::milliseconds idle_timeout) {
  if (!conn || idle_timeout.count() <= 0) return;
  conn->idle_since = std::chrono::steady_clock::now();
  lowest(*conn->stream).expires_never();
  auto& list = idle_[conn->key];
  list.push_back(Idle{std::move(conn), std::chrono::steady_clock::now() + idle_timeout});
  evict_expired();
}

void UpstreamPool::evict_expired() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const Idle& idle) { return idle.expires <= now; });
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace proxy
