#include "proxy/exchange_request.hpp"

#include "pipeline/cors_policy.hpp"
#include "pipeline/header_filter.hpp"
#include "proxy/body_read.hpp"
#include "proxy/network_policy.hpp"
#include "proxy/proxy_target.hpp"
#include "proxy/replies.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using namespace net;
using namespace std::chrono_literals;

struct Refusal {
  int status;
  std::string message;
  std::string type;
  rules::HeaderList headers;
};

// Base-URL mode: `headers`, about to go to the client, made readable by the page that sent the
// request when base_url.cors_origins allows it (pipeline/cors_policy.hpp).
void mark_for_page(const Exchange& ex, rules::HeaderList& headers) {
  if (ex.mode == ExchangeMode::base_url)
    CorsPolicy(ex.config->base_url).mark(ex.cors_origin, headers);
}

// With `unread_body` (the request's body, or part of it, is still on the wire) the connection
// closes after the reply, lingering so that the client can read it. The body is error_json of
// the message and type unless `body` is given.
template <typename Stream>
asio::awaitable<AfterExchange> refuse(Stream& client, beast::flat_buffer& buffer, AccessRecord& log,
                                      Refusal r, bool keep_alive, bool unread_body,
                                      const Exchange& ex, std::string body = {}) {
  // Refused before any endpoint was matched (framing, size, proxy auth, tunnel policy).
  Metrics::instance().count_request(
      ex.provider ? std::string_view(ex.provider->name) : Metrics::k_no_label, Metrics::k_no_label,
      "refused");
  keep_alive = keep_alive && !unread_body;
  if (body.empty()) body = error_json("tollgate: " + r.message, r.type);
  mark_for_page(ex, r.headers);
  auto reply = make_reply(r.status, r.headers, std::move(body), keep_alive);
  const bool wrote = co_await write_reply(client, reply);
  log.status = r.status;
  log.error = r.message;
  log_access(log);
  if (wrote && unread_body) co_await discard_input(client, buffer);
  co_return wrote&& keep_alive ? AfterExchange::keep_alive : AfterExchange::close;
}

// A CORS preflight tollgate answers itself (never forwarded, not a provider request): 204 with
// the Access-Control-Allow-* fields.
template <typename Stream>
asio::awaitable<AfterExchange> answer_preflight(Stream& client, beast::flat_buffer& buffer,
                                                AccessRecord& log, rules::HeaderList headers,
                                                bool keep_alive, bool unread_body) {
  keep_alive = keep_alive && !unread_body;
  auto reply = make_reply(204, headers, {}, keep_alive);
  reply.erase(http::field::content_length);  // none on a 204 (RFC 9110 §8.6)
  const bool wrote = co_await write_reply(client, reply);
  log.status = 204;
  log_access(log);
  if (wrote && unread_body) co_await discard_input(client, buffer);
  co_return wrote&& keep_alive ? AfterExchange::keep_alive : AfterExchange::close;
}

}  // namespace

std::string host_field(const std::string& host, std::uint16_t port, bool tls) {
  const auto authority = authority_string({host, port});
  if (port == (tls ? 443 : 80)) return authority.substr(0, authority.rfind(':'));
  return authority;
}

template <typename ClientStream>
asio::awaitable<AfterExchange> serve_exchange(ClientStream& client, beast::flat_buffer& buffer,
                                              std::unique_ptr<RequestHead> head, ClientInfo& info,
                                              WorkerEnv& env) {
  Exchange ex;
  ex.started = std::chrono::steady_clock::now();
  ex.config = env.shared.config.get();
  ex.client_address = info.address;
  ex.mode = info.intercepted ? ExchangeMode::intercept : ExchangeMode::plain_http;
  const auto& config = *ex.config;
  const auto& req = head->get();
  const bool keep_alive = req.keep_alive();
  const auto content_length = head->content_length();
  const bool body_pending = head->chunked() || (content_length && *content_length > 0);

  AccessRecord log;
  log.client = info.address;
  log.mode = info.intercepted ? "intercept" : "http";
  ex.method = std::string(req.method_string());
  log.method = ex.method;
  log.target = std::string(req.target());

  if (info.intercepted) {
    ex.host = info.connect_host;
    ex.port = info.connect_port;
    ex.provider = config.provider_for_host(ex.host);
    ex.target = std::string(req.target());
    if (const auto abs = parse_absolute_target(ex.target)) ex.target = abs->origin_form;
    if (ex.target.empty() || ex.target.front() != '/') {
      Refusal refusal{400, "malformed request target", "invalid_request_error", {}};
      co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
    }
    ex.client_user = info.user;
  } else if (auto base = parse_base_url_target(req.target())) {
    // Base-URL mode (DESIGN §14): the provider named by the first segment, at its first host,
    // over verified TLS; from here on the exchange is the intercepted one.
    ex.mode = ExchangeMode::base_url;
    log.mode = "base_url";
    // Browser pages first: a preflight carries no credentials and may name any path, and a page
    // that may not call tollgate is refused before its request can cost anything.
    const auto cors =
        CorsPolicy(config.base_url)
            .decide({req.method_string(), req[http::field::host], req[http::field::origin],
                     req[http::field::access_control_request_method],
                     req[http::field::access_control_request_headers],
                     req["Access-Control-Request-Private-Network"]});
    if (cors.kind == CorsVerdict::Kind::refuse) {
      Refusal r{403, cors.message, "forbidden", {}};
      co_return co_await refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex);
    }
    if (cors.kind == CorsVerdict::Kind::preflight)
      co_return co_await answer_preflight(client, buffer, log, cors.headers,
                                          keep_alive && !env.shared.draining.load(), body_pending);
    ex.cors_origin = std::string(req[http::field::origin]);
    ex.provider = config.provider_for_base_path(base->prefix);
    if (!ex.provider) {
      Refusal r{404, "'/" + base->prefix + "' names no provider", "not_found", {}};
      auto body = unknown_prefix_json(config, base->prefix);
      co_return co_await refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex,
                                std::move(body));
    }
    ex.host = ex.provider->hosts.front();
    ex.port = 443;
    ex.target = std::move(base->origin_form);
    // Proxy-Authorization rides on a base URL only as an extra header the app sets; a base URL
    // with user:password in it becomes the provider's Authorization, not ours.
    const auto user = authorize_client(config.clients.users, config.clients.require_auth,
                                       req[http::field::proxy_authorization]);
    if (!user) {
      Refusal r{407, "proxy authentication required", "authentication_error", {}};
      r.headers.emplace_back("Proxy-Authenticate", "Basic realm=\"tollgate\"");
      co_return co_await refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex);
    }
    ex.client_user = *user;
  } else {
    std::string problem;
    const auto abs = parse_absolute_target(req.target(), &problem);
    if (!abs) {
      Refusal refusal{
          400,
          problem.empty()
              ? "a forward proxy needs absolute-form http:// targets (use CONNECT for https)"
              : "malformed request target: " + problem,
          "invalid_request_error",
          {}};
      co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
    }
    ex.host = abs->authority.host;
    ex.port = abs->authority.port;
    ex.target = abs->origin_form;
    const auto user = authorize_client(config.clients.users, config.clients.require_auth,
                                       req[http::field::proxy_authorization]);
    if (!user) {
      Refusal r{407, "proxy authentication required", "authentication_error", {}};
      r.headers.emplace_back("Proxy-Authenticate", "Basic realm=\"tollgate\"");
      co_return co_await refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex);
    }
    ex.client_user = *user;
    // The same port rule as a CONNECT: else GET http://host:6379/ reaches what CONNECT may not.
    if (auto message = port_problem(config.tunnel.allowed_ports, ex.port, true); !message.empty()) {
      Refusal r{403, std::move(message), "forbidden", {}};
      co_return co_await refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex);
    }
  }
  log.host = ex.host;
  log.target = ex.target;
  log.user = ex.client_user;
  ex.provider = config.provider_for_host(ex.host);
  if (!ex.provider && ex.mode == ExchangeMode::plain_http && !config.tunnel.allow_unknown_hosts) {
    Refusal refusal{
        403, "host " + ex.host + " is not allowed (tunnel.unknown_hosts: deny)", "forbidden", {}};
    co_return co_await refuse(client, buffer, log, std::move(refusal), keep_alive, body_pending,
                              ex);
  }

  const bool websocket = has_token(req[http::field::connection], "upgrade") &&
                         util::iequals(req[http::field::upgrade], "websocket");
  const bool expect_continue = util::iequals(req[http::field::expect], "100-continue");
  const bool head_request = req.method() == http::verb::head;
  const bool http10 = req.version() < 11;  // `req` is gone once the body parser takes the head
  for (const auto& field : req) ex.request_headers.emplace_back(field.name_string(), field.value());
  remove_hop_by_hop(ex.request_headers, websocket);
  std::erase_if(ex.request_headers, [](const auto& f) {
    return util::iequals(f.first, "host") || util::iequals(f.first, "expect");
  });
  ex.request_headers.insert(
      ex.request_headers.begin(),
      {"Host", host_field(ex.host, ex.port, ex.mode != ExchangeMode::plain_http)});
  ex.request_headers.emplace_back("Via", "1.1 tollgate");

  if (content_length && *content_length > config.max_body_bytes) {
    Refusal refusal{413,
                    "request body larger than " + std::to_string(config.max_body_bytes) + " bytes",
                    "invalid_request_error",
                    {}};
    co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
  }
  if (body_pending) {
    if (expect_continue) {
      static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
      lowest(client).expires_after(k_write_timeout);
      auto [ec, n] = co_await asio::async_write(client, asio::buffer(k_continue), use_tuple);
      if (ec) co_return AfterExchange::close;
    }
    BodyParser body_parser{std::move(*head)};
    body_parser.body_limit(config.max_body_bytes);
    const auto ec = co_await read_body(client, buffer, body_parser, config.clients.read_timeout);
    if (ec == beast::error::timeout) {
      // Answered, not just closed: a client (or the load balancer before it) then knows that
      // the request was not sent on, and need not guess whether it may send it again.
      Refusal refusal{408,
                      "request body not received within clients.read_timeout",
                      "invalid_request_error",
                      {}};
      co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
    }
    if (ec == http::error::body_limit) {
      Refusal refusal{
          413,
          "request body larger than " + std::to_string(config.max_body_bytes) + " bytes",
          "invalid_request_error",
          {}};
      co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
    }
    if (ec && is_benign_close(ec)) co_return AfterExchange::close;
    if (ec) {
      Refusal refusal{400, "malformed request body: " + ec.message(), "invalid_request_error", {}};
      co_return co_await refuse(client, buffer, log, std::move(refusal), false, body_pending, ex);
    }
    ex.request_body = std::move(body_parser.get().body());
  }
  log.bytes_in = ex.request_body.size();

  auto hooks = env.shared.hooks->create(ex);
  if (auto reply = co_await await_on_request(*hooks, ex)) {
    const bool keep = keep_alive && !env.shared.draining.load();
    mark_for_page(ex, reply->headers);
    auto response = make_reply(reply->status, reply->headers, std::move(reply->body), keep);
    const bool wrote = co_await write_reply(client, response);
    log.status = reply->status;
    log.bytes_out = response.body().size();
    log.ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.started)
            .count();
    log_access(log);
    co_return wrote&& keep ? AfterExchange::keep_alive : AfterExchange::close;
  }
  // After on_request: the hooks decide whether they need the body uncompressed.
  const auto encoding = narrow_accept_encoding(
      rules::find_header(ex.request_headers, "accept-encoding"), ex.want_identity_encoding);
  std::erase_if(ex.request_headers,
                [](const auto& f) { return util::iequals(f.first, "accept-encoding"); });
  ex.request_headers.emplace_back("Accept-Encoding", encoding);

  ForwardContext ctx{env, info, log, keep_alive, websocket, head_request, http10};
  const auto after = co_await forward_exchange(client, buffer, ex, *hooks, ctx);
  log_access(log);
  co_return after;
}

template asio::awaitable<AfterExchange> serve_exchange(beast::tcp_stream&, beast::flat_buffer&,
                                                       std::unique_ptr<RequestHead>, ClientInfo&,
                                                       WorkerEnv&);
template asio::awaitable<AfterExchange> serve_exchange(TlsStream&, beast::flat_buffer&,
                                                       std::unique_ptr<RequestHead>, ClientInfo&,
                                                       WorkerEnv&);

}  // namespace proxy
