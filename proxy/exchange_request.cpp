#include "proxy/exchange_request.hpp"

#include <iterator>

#include "pipeline/cors_policy.hpp"
#include "pipeline/head_stage.hpp"
#include "pipeline/header_filter.hpp"
#include "proxy/body_read.hpp"
#include "proxy/proxy_target.hpp"
#include "proxy/replies.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using namespace net;
using namespace std::chrono_literals;

struct Refusal {
  int status = 400;
  std::string message;
  std::string type;
  bool keep_alive = true;  // false: the connection closes after it (the framing is in doubt)
  rules::HeaderList headers;
  std::string body;  // "" = error_json of message and type
  // Not a refusal: the answer to a CORS preflight from a page that may call (204, `headers`).
  bool preflight = false;
};

// A refusal of the request itself (its target, its body): the connection closes after it, as
// the framing of what follows is in doubt.
Refusal closing(int status, std::string message) {
  return Refusal{status, std::move(message), "invalid_request_error", false, {}, {}};
}

std::string_view mode_name(ExchangeMode mode) {
  switch (mode) {
    case ExchangeMode::intercept:
      return "intercept";
    case ExchangeMode::base_url:
      return "base_url";
    case ExchangeMode::plain_http:
      break;
  }
  return "http";
}

// Base-URL mode: `headers`, about to go to the client, made readable by the page that sent the
// request when base_url.cors_origins allows it (pipeline/cors_policy.hpp).
void mark_for_page(const Exchange& ex, rules::HeaderList& headers) {
  if (ex.mode == ExchangeMode::base_url)
    CorsPolicy(ex.config->base_url).mark(ex.cors_origin, headers);
}

// With `unread_body` (the request's body, or part of it, is still on the wire) the connection
// closes after the reply, lingering so that the client can read it.
template <typename Stream>
asio::awaitable<AfterExchange> refuse(Stream& client, beast::flat_buffer& buffer, AccessRecord& log,
                                      Refusal r, bool keep_alive, bool unread_body,
                                      const Exchange& ex) {
  // Refused before any endpoint was matched (framing, size, proxy auth, tunnel policy).
  Metrics::instance().count_request(
      ex.provider ? std::string_view(ex.provider->name) : Metrics::k_no_label, Metrics::k_no_label,
      RequestOutcome::refused);
  keep_alive = keep_alive && r.keep_alive && !unread_body;
  auto body = r.body.empty() ? error_json("tollgate: " + r.message, r.type) : std::move(r.body);
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

// Step 0 (DESIGN §1): where the request goes — host, port, origin-form target, provider, resolved
// once here for the whole exchange — and whether it may go there (pipeline/head_stage). Sets
// ex.host/port/target/provider/client_user; a refusal when it may not.
std::optional<Refusal> route(Exchange& ex, const http::request_header<HeadFields>& req,
                             const ClientInfo& info) {
  const auto& config = *ex.config;
  HeadRequest head;
  head.proxy_authorization = req[http::field::proxy_authorization];
  if (info.intercepted) {
    // Checked at its CONNECT; the host is the one the CONNECT named.
    ex.host = info.connect_host;
    ex.port = info.connect_port;
    ex.provider = config.provider_for_host(ex.host);
    ex.target = std::string(req.target());
    if (const auto abs = parse_absolute_target(ex.target)) ex.target = abs->origin_form;
    if (ex.target.empty() || ex.target.front() != '/')
      return closing(400, "malformed request target");
    ex.client_user = info.user;
    return std::nullopt;
  }
  if (auto base = parse_base_url_target(req.target())) {
    // Base-URL mode (DESIGN §14): the provider named by the first segment, at its first host,
    // over verified TLS; from here on the exchange is the intercepted one.
    ex.mode = ExchangeMode::base_url;
    // Browser pages first: a preflight carries no credentials and may name any path, and a page
    // that may not call tollgate is refused before its request can cost anything.
    auto cors = CorsPolicy(config.base_url)
                    .decide({req.method_string(), req[http::field::host], req[http::field::origin],
                             req[http::field::access_control_request_method],
                             req[http::field::access_control_request_headers],
                             req["Access-Control-Request-Private-Network"]});
    if (cors.kind == CorsVerdict::Kind::refuse)
      return Refusal{403, std::move(cors.message), "forbidden", true, {}, {}};
    if (cors.kind == CorsVerdict::Kind::preflight)
      return Refusal{204, {}, {}, true, std::move(cors.headers), {}, true};
    ex.cors_origin = std::string(req[http::field::origin]);
    ex.provider = config.provider_for_base_path(base->prefix);
    if (!ex.provider) {
      return Refusal{404, "'/" + base->prefix + "' names no provider", "not_found", true,
                     {},  unknown_prefix_json(config, base->prefix)};
    }
    ex.host = ex.provider->hosts.front();
    ex.port = 443;
    ex.target = std::move(base->origin_form);
    head.kind = HeadKind::base_url;
  } else {
    std::string problem;
    const auto abs = parse_absolute_target(req.target(), &problem);
    if (!abs)
      return closing(400, problem.empty()
                              ? "a forward proxy needs absolute-form http:// targets (use "
                                "CONNECT for https)"
                              : "malformed request target: " + problem);
    ex.host = abs->authority.host;
    ex.port = abs->authority.port;
    ex.target = abs->origin_form;
    ex.provider = config.provider_for_host(ex.host);
    head.kind = HeadKind::plain_http;
  }
  head.host = ex.host;
  head.port = ex.port;
  head.provider = ex.provider;
  auto verdict = check_head(config, head);
  if (verdict.refusal)
    return Refusal{verdict.refusal->status,
                   std::move(verdict.refusal->message),
                   std::move(verdict.refusal->type),
                   true,
                   std::move(verdict.refusal->headers),
                   {}};
  ex.client_user = std::move(verdict.user);
  return std::nullopt;
}

// The request headers as forwarded: hop-by-hop, Host and Expect removed, tollgate's Host and Via.
void forwarded_headers(Exchange& ex, const http::request_header<HeadFields>& req, bool websocket) {
  ex.request_headers.reserve(std::distance(req.begin(), req.end()) + 4);  // with Host and Via
  for (const auto& field : req) ex.request_headers.emplace_back(field.name_string(), field.value());
  remove_hop_by_hop(ex.request_headers, websocket);
  std::erase_if(ex.request_headers, [](const auto& f) {
    return util::iequals(f.first, "host") || util::iequals(f.first, "expect");
  });
  ex.request_headers.insert(
      ex.request_headers.begin(),
      {"Host", host_field(ex.host, ex.port, ex.mode != ExchangeMode::plain_http)});
  ex.request_headers.emplace_back("Via", "1.1 tollgate");
}

struct BodyRead {
  std::optional<Refusal> refusal;  // answer this (and close)
  bool closed = false;             // the client went away: close without an answer
};

Refusal too_large(std::uint64_t limit) {
  return closing(413, "request body larger than " + std::to_string(limit) + " bytes");
}

// Steps 1-2 need the whole body: read it into ex.request_body (after a 100 Continue when the
// client waits for one), within max_body_bytes and clients.read_timeout.
template <typename ClientStream>
asio::awaitable<BodyRead> read_request_body(ClientStream& client, beast::flat_buffer& buffer,
                                            std::unique_ptr<RequestHead> head, Exchange& ex,
                                            bool expect_continue) {
  const auto& config = *ex.config;
  if (expect_continue) {
    static constexpr std::string_view k_continue = "HTTP/1.1 100 Continue\r\n\r\n";
    lowest(client).expires_after(k_write_timeout);
    auto [ec, n] = co_await asio::async_write(client, asio::buffer(k_continue), use_tuple);
    if (ec) co_return BodyRead{std::nullopt, true};
  }
  BodyParser body_parser{head->parser()};
  body_parser.body_limit(config.max_body_bytes);
  // A body that came whole with the head is parsed at once: no read, no operation.
  error_code ec;
  if (parse_buffered(buffer, body_parser, ec))
    lowest(client).expires_never();  // as read_body leaves it
  else
    ec = co_await read_body(client, buffer, body_parser, config.clients.read_timeout);
  // A stalled body is answered, not just closed: a client (or the load balancer before it) then
  // knows that the request was not sent on, and need not guess whether it may send it again.
  if (ec == beast::error::timeout)
    co_return BodyRead{closing(408, "request body not received within clients.read_timeout")};
  if (ec == http::error::body_limit) co_return BodyRead{too_large(config.max_body_bytes)};
  if (ec && is_benign_close(ec)) co_return BodyRead{std::nullopt, true};
  if (ec) co_return BodyRead{closing(400, "malformed request body: " + ec.message())};
  ex.request_body = std::move(body_parser.get().body());
  co_return BodyRead{};
}

// The hooks' word on the money of the exchange, for its access-log line.
void note_billing(AccessRecord& log, const Exchange& ex) {
  if (!ex.provider) return;
  log.provider = ex.provider->name;
  log.endpoint = ex.billing.endpoint;
  log.model = ex.billing.model;
  log.currency = ex.billing.currency;
  log.estimate = ex.billing.estimate;
  log.cost = ex.billing.cost;
  log.budgets = ex.billing.budgets;
  log.refused_by = ex.billing.refused_by;
  log.record = ex.billing.record;
}

// Step 3 said no: the hooks' reply (a refusal in the provider's shape) instead of the upstream's.
template <typename ClientStream>
asio::awaitable<AfterExchange> answer_locally(ClientStream& client, LocalReply reply,
                                              bool keep_alive, const Exchange& ex,
                                              AccessRecord& log) {
  mark_for_page(ex, reply.headers);
  auto response = make_reply(reply.status, reply.headers, std::move(reply.body), keep_alive);
  const bool wrote = co_await write_reply(client, response);
  log.status = reply.status;
  log.bytes_out = response.body().size();
  log.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ex.started)
               .count();
  note_billing(log, ex);
  log_access(log);
  co_return wrote&& keep_alive ? AfterExchange::keep_alive : AfterExchange::close;
}

}  // namespace

std::string host_field(const std::string& host, std::uint16_t port, bool tls) {
  return authority_string(host, port, port != (tls ? 443 : 80));
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
  const auto& req = head->get();
  const bool keep_alive = req.keep_alive();
  const auto content_length = head->content_length();
  const bool body_pending = head->chunked() || (content_length && *content_length > 0);
  ex.method = std::string(req.method_string());

  AccessRecord log;
  log.client = info.address;
  log.method = ex.method;
  log.target = std::string(req.target());
  const auto refuse_now = [&](Refusal r) {
    return refuse(client, buffer, log, std::move(r), keep_alive, body_pending, ex);
  };

  auto refusal = route(ex, req, info);
  log.mode = mode_name(ex.mode);
  if (refusal && refusal->preflight)
    co_return co_await answer_preflight(client, buffer, log, std::move(refusal->headers),
                                        keep_alive && !env.shared.draining.load(), body_pending);
  if (refusal) co_return co_await refuse_now(std::move(*refusal));
  log.host = ex.host;
  log.target = ex.target;
  log.user = ex.client_user;

  const bool websocket = has_token(req[http::field::connection], "upgrade") &&
                         util::iequals(req[http::field::upgrade], "websocket");
  const bool expect_continue = util::iequals(req[http::field::expect], "100-continue");
  const bool head_request = req.method() == http::verb::head;
  const bool http10 = req.version() < 11;  // `req` is gone once the body parser takes the head
  forwarded_headers(ex, req, websocket);

  if (content_length && *content_length > ex.config->max_body_bytes)
    co_return co_await refuse_now(too_large(ex.config->max_body_bytes));
  if (body_pending) {
    auto read = co_await read_request_body(client, buffer, std::move(head), ex, expect_continue);
    if (read.closed) co_return AfterExchange::close;
    if (read.refusal) co_return co_await refuse_now(std::move(*read.refusal));
  }
  log.bytes_in = ex.request_body.size();

  auto hooks = env.shared.hooks->create(ex);
  if (auto reply = co_await await_on_request(*hooks, ex))
    co_return co_await answer_locally(client, std::move(*reply),
                                      keep_alive && !env.shared.draining.load(), ex, log);
  // After on_request: the hooks decide whether they need the body uncompressed.
  const auto encoding = narrow_accept_encoding(
      rules::find_header(ex.request_headers, "accept-encoding"), ex.want_identity_encoding);
  std::erase_if(ex.request_headers,
                [](const auto& f) { return util::iequals(f.first, "accept-encoding"); });
  ex.request_headers.emplace_back("Accept-Encoding", encoding);

  ForwardContext ctx{env, info, log, keep_alive, websocket, head_request, http10};
  const auto after = co_await forward_exchange(client, buffer, ex, *hooks, ctx);
  note_billing(log, ex);
  log_access(log);
  co_return after;
}

template asio::awaitable<AfterExchange> serve_exchange(TcpStream&, beast::flat_buffer&,
                                                       std::unique_ptr<RequestHead>, ClientInfo&,
                                                       WorkerEnv&);
template asio::awaitable<AfterExchange> serve_exchange(TlsStream&, beast::flat_buffer&,
                                                       std::unique_ptr<RequestHead>, ClientInfo&,
                                                       WorkerEnv&);

}  // namespace proxy
