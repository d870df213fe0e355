#include "proxy/client_session.hpp"

#include <openssl/ssl.h>

#include "pipeline/head_stage.hpp"
#include "proxy/exchange_request.hpp"
#include "proxy/proxy_target.hpp"
#include "proxy/replies.hpp"
#include "proxy/splice.hpp"
#include "proxy/tls_contexts.hpp"
#include "telemetry/access_log.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using namespace net;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto k_handshake_timeout = 10s;
constexpr std::string_view k_established = "HTTP/1.1 200 Connection Established\r\n\r\n";

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Exchanges on one connection until it closes; in plain mode a CONNECT head is handed back.
template <typename Stream>
asio::awaitable<std::unique_ptr<RequestHead>> exchange_loop(Stream& stream,
                                                            beast::flat_buffer& buffer,
                                                            ClientInfo& info, WorkerEnv& env) {
  while (true) {
    auto head = co_await read_request_head(stream, buffer, env);
    if (!head) co_return nullptr;
    if (head->get().method() == http::verb::connect) {
      if (!info.intercepted) co_return head;
      auto reply = make_reply(
          400, {}, error_json("tollgate: CONNECT inside CONNECT", "invalid_request_error"), false);
      co_await write_reply(stream, reply);
      co_return nullptr;
    }
    if (co_await serve_exchange(stream, buffer, std::move(head), info, env) == AfterExchange::close)
      co_return nullptr;
  }
}

// Parameters by value: GCC 12 mishandles temporaries bound to references across co_await.
asio::awaitable<void> refuse_connect(TcpStream& client, AccessRecord& log, int status,
                                     std::string message, rules::HeaderList headers = {}) {
  Metrics::instance().count_other_host(status == 502 ? RequestOutcome::error
                                                     : RequestOutcome::refused);
  auto reply = make_reply(
      status, headers,
      error_json("tollgate: " + message, status == 502 ? "upstream_error" : "forbidden"), false);
  co_await write_reply(client, reply);
  log.status = status;
  log.error = message;
  log_access(log);
}

asio::awaitable<void> intercept(TcpStream& client, beast::flat_buffer& buffer, ClientInfo& info,
                                WorkerEnv& env, AccessRecord& log) {
  const auto leaf = env.shared.certs.leaf_for(info.connect_host);
  TlsStream tls(std::move(client), env.shared.intercept_tls);
  SSL* ssl = tls.native_handle();
  SSL_use_certificate(ssl, leaf->cert.get());
  SSL_use_PrivateKey(ssl, leaf->key.get());
  expect_sni(ssl, &info.connect_host);
  lowest(tls).expires_after(k_handshake_timeout);
  auto [ec, used] =
      co_await tls.async_handshake(ssl::stream_base::server, buffer.data(), use_tuple);
  buffer.consume(used);
  if (ec) {
    if (!is_benign_close(ec)) {
      log.error = "client TLS handshake: " + ec.message();
      log_warning("client " + info.address + " CONNECT " + info.connect_host + ": " + log.error);
    }
    co_return;
  }
  info.intercepted = true;
  Metrics::instance().connection_opened(true);
  beast::flat_buffer tls_buffer;
  co_await exchange_loop(tls, tls_buffer, info, env);
  Metrics::instance().connection_closed(true);
  lowest(tls).expires_after(1s);
  co_await tls.async_shutdown(use_tuple);
}

asio::awaitable<void> tunnel(TcpStream& client, beast::flat_buffer& buffer, ClientInfo& info,
                             AccessRecord& log, const rules::Config& config) {
  const auto start = Clock::now();
  std::optional<NetworkPolicy> deny;
  std::string invalid;
  try {
    deny.emplace(config.tunnel.deny_networks);
  } catch (const std::exception& e) {
    invalid = e.what();  // App validated it at start; a reload may not have
  }
  if (!deny) co_return co_await refuse_connect(client, log, 403, std::move(invalid));
  auto dialed = co_await dial(config, info.connect_host, info.connect_port, &*deny);
  if (!dialed.stream) {
    std::string message = "upstream " + authority_string({info.connect_host, info.connect_port}) +
                          ": " + dialed.error;
    co_return co_await refuse_connect(client, log, dialed.denied ? 403 : 502, std::move(message));
  }
  auto& upstream = *dialed.stream;
  // Counted when it opens (a tunnel may stay open for hours).
  Metrics::instance().count_other_host(RequestOutcome::tunneled);
  lowest(client).expires_after(k_write_timeout);
  auto [ec, n] = co_await asio::async_write(client, asio::buffer(k_established), use_tuple);
  if (!ec && buffer.size() > 0) {
    // Bytes the client sent right behind its CONNECT (e.g. an early TLS hello).
    upstream.expires_after(k_write_timeout);
    std::tie(ec, n) = co_await asio::async_write(upstream, buffer.data(), use_tuple);
    log.bytes_in += n;
    buffer.consume(buffer.size());
  }
  if (ec) co_return;
  Metrics::instance().connection_opened(false);
  const auto bytes = co_await splice(client, upstream, true, config.upstream.read_timeout);
  Metrics::instance().connection_closed(false);
  Metrics::instance().add_tunnel_bytes(bytes.a_to_b, bytes.b_to_a);
  log.status = 200;
  log.bytes_in += bytes.a_to_b;
  log.bytes_out = bytes.b_to_a;
  log.ms = ms_since(start);
  log_access(log);
}

asio::awaitable<void> handle_connect(TcpStream& client, beast::flat_buffer& buffer,
                                     std::unique_ptr<RequestHead> head, ClientInfo& info,
                                     WorkerEnv& env) {
  const auto config = env.shared.config.get();
  const auto& req = head->get();
  AccessRecord log;
  log.client = info.address;
  log.mode = "tunnel";
  log.method = "CONNECT";
  log.target = std::string(req.target());
  std::string problem;
  const auto target = parse_connect_target(req.target(), &problem);
  if (!target) {
    std::string message = "malformed CONNECT target: " + problem;
    co_return co_await refuse_connect(client, log, 400, std::move(message));
  }
  log.host = target->host;
  const auto* provider = config->provider_for_host(target->host);
  auto verdict = check_head(*config, {HeadKind::connect, target->host, target->port, provider,
                                      req[http::field::proxy_authorization]});
  if (verdict.refusal)
    co_return co_await refuse_connect(client, log, verdict.refusal->status,
                                      std::move(verdict.refusal->message),
                                      std::move(verdict.refusal->headers));
  // The head is not needed past here: an intercepted or tunneled connection may stay open for
  // hours, and need not hold its CONNECT head's arena all that time.
  head.reset();
  info.user = verdict.user;
  log.user = verdict.user;
  info.connect_host = target->host;
  info.connect_port = target->port;
  if (provider) {
    lowest(client).expires_after(k_write_timeout);
    auto [ec, n] = co_await asio::async_write(client, asio::buffer(k_established), use_tuple);
    if (ec) co_return;
    co_return co_await intercept(client, buffer, info, env, log);
  }
  co_await tunnel(client, buffer, info, log, *config);
}

}  // namespace

asio::awaitable<void> serve_client(tcp::socket socket, WorkerEnv& env) {
  struct Count {
    WorkerEnv& env;
    explicit Count(WorkerEnv& e) : env(e) { ++env.connections; }
    ~Count() { --env.connections; }
  } count{env};
  ClientInfo info;
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) co_return;
  info.address = authority_string({remote.address().to_string(), remote.port()});
  socket.set_option(tcp::no_delay(true), ec);
  TcpStream client(std::move(socket));
  beast::flat_buffer buffer;
  auto connect = co_await exchange_loop(client, buffer, info, env);
  if (connect) co_await handle_connect(client, buffer, std::move(connect), info, env);
}

}  // namespace proxy
