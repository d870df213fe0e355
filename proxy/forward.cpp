#include "proxy/forward.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <tuple>

#include "pipeline/cors_policy.hpp"
#include "proxy/body_read.hpp"
#include "proxy/forwarded_heads.hpp"
#include "proxy/proxy_target.hpp"
#include "proxy/replies.hpp"
#include "proxy/splice.hpp"
#include "proxy/websocket_relay.hpp"
#include "rules/body_decoder.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using namespace net;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t k_piece = 16 * 1024;
constexpr std::size_t k_flat_request =
    64 * 1024;  // request bodies copied into one write up to this
constexpr std::size_t k_max_upstream_header = 256 * 1024;
// A client that left mid-response: read on for the usage, within these bounds.
constexpr auto k_gone_time = 60s;
constexpr std::uint64_t k_gone_bytes = 16u << 20;

struct PlainConn {
  std::optional<TcpStream> stream;
  beast::flat_buffer buffer;
  bool reused = false;
};

TlsStream& stream_of(UpstreamConn& c) {
  return *c.stream;
}
TcpStream& stream_of(PlainConn& c) {
  return *c.stream;
}

struct Opened {
  std::string error;
  bool denied = false;
};

asio::awaitable<Opened> open_upstream(std::unique_ptr<UpstreamConn>& out, WorkerEnv& env,
                                      const Exchange& ex, bool fresh) {
  auto result = co_await env.pool.acquire(*ex.config, ex.host, ex.port, fresh);
  out = std::move(result.conn);
  co_return Opened{result.error, false};
}

asio::awaitable<Opened> open_upstream(std::unique_ptr<PlainConn>& out, WorkerEnv&,
                                      const Exchange& ex, bool) {
  // Plain HTTP to a host no provider owns is a tunnel in all but name: same network policy.
  std::optional<NetworkPolicy> deny;
  if (!ex.provider) deny.emplace(ex.config->tunnel.deny_networks);
  auto dialed = co_await dial(*ex.config, ex.host, ex.port, deny ? &*deny : nullptr);
  if (!dialed.stream) co_return Opened{dialed.error, dialed.denied};
  out = std::make_unique<PlainConn>();
  out->stream.emplace(std::move(*dialed.stream));
  co_return Opened{};
}

void release_upstream(std::unique_ptr<UpstreamConn> conn, WorkerEnv& env, const Exchange& ex) {
  env.pool.release(std::move(conn), ex.config->upstream.idle_timeout);
}
void release_upstream(std::unique_ptr<PlainConn>, WorkerEnv&, const Exchange&) {}

std::string describe(const error_code& ec) {
  return ec == beast::error::timeout ? std::string("timed out") : ec.message();
}

template <typename Conn>
struct Upstream {
  std::unique_ptr<Conn> conn;
  std::unique_ptr<ArenaParser<false, http::buffer_body>> parser;  // parsers do not move
  std::string error;                                              // what failed, for the 502
  bool denied = false;
};

// Writes what the serializer has ready (up to the end of the head with `head_only`) as ONE
// buffer. Beast hands the head, the chunk framing and the body as separate buffers, and Asio's
// ssl::stream makes a TLS record and a write(2) of each buffer of a sequence: copying them into
// one (at most a 16 KiB piece plus framing) saves a record and a system call per piece.
template <typename Stream, typename Serializer>
asio::awaitable<std::tuple<beast::error_code, std::size_t>> write_flat(Stream& stream,
                                                                       Serializer& sr,
                                                                       std::string& scratch,
                                                                       bool head_only) {
  scratch.clear();
  sr.split(head_only);
  beast::error_code ec;
  while (!sr.is_done() && !(head_only && sr.is_header_done())) {
    sr.next(ec, [&](beast::error_code&, const auto& buffers) {
      // One allocation for a small message (a head and its body), not one per doubling.
      scratch.reserve(std::max<std::size_t>(scratch.size() + beast::buffer_bytes(buffers), 4096));
      for (const auto b : beast::buffers_range_ref(buffers))
        scratch.append(static_cast<const char*>(b.data()), b.size());
      sr.consume(beast::buffer_bytes(buffers));
    });
    if (ec == http::error::need_buffer) {
      ec = {};
      break;
    }
    if (ec) co_return std::tuple{ec, std::size_t{0}};
  }
  if (scratch.empty()) co_return std::tuple{ec, std::size_t{0}};
  co_return co_await asio::async_write(stream, asio::buffer(scratch), use_tuple);
}

// Sends the request and reads the response head. A pooled connection that turns out closed gets
// one retry on a fresh connection when may_retry allows it (upstream_pool.hpp); the retry is part
// of the same exchange, so the hooks still see one request and settle one hold.
template <typename Conn>
asio::awaitable<Upstream<Conn>> send_request(Exchange& ex, ForwardContext& ctx,
                                             std::chrono::nanoseconds& upstream_time) {
  Upstream<Conn> up;

  const auto new_parser = [&] {
    up.parser = std::make_unique<ArenaParser<false, http::buffer_body>>();
    up.parser->header_limit(k_max_upstream_header);
    up.parser->body_limit(boost::none);
    if (ctx.head_request) up.parser->skip(true);
  };

  std::string scratch;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const auto t0 = Clock::now();
    const auto opened = co_await open_upstream(up.conn, ctx.env, ex, attempt > 0);
    upstream_time += Clock::now() - t0;
    if (!up.conn) {
      up.error = opened.error;
      up.denied = opened.denied;
      co_return up;
    }
    auto& stream = stream_of(*up.conn);
    FailedAttempt failed{up.conn->reused, ex.method, 0, false, {}};
    const auto t1 = Clock::now();
    lowest(stream).expires_after(k_write_timeout);
    // A request of ordinary size goes out as one TLS record; a large upload as Beast frames it.
    beast::error_code wec;
    std::size_t wn = 0;
    if (ex.request_body.size() <= k_flat_request) {
      flat_request(ex, scratch);
      std::tie(wec, wn) = co_await asio::async_write(stream, asio::buffer(scratch), use_tuple);
    } else {
      auto req = beast_request(ex);
      std::tie(wec, wn) = co_await http::async_write(stream, req, use_tuple);
    }
    if (wn > 0) ex.request_sent = true;
    failed.request_bytes = wn;
    if (!wec) {
      new_parser();
      lowest(stream).expires_after(ex.config->upstream.read_timeout);
      auto [rec, rn] =
          co_await http::async_read_header(stream, up.conn->buffer, *up.parser, use_tuple);
      // 1xx other than 101 (e.g. 103 Early Hints) precede the real response.
      while (!rec && up.parser->get().result_int() / 100 == 1 &&
             up.parser->get().result_int() != 101) {
        failed.response_bytes = true;
        new_parser();
        std::tie(rec, rn) =
            co_await http::async_read_header(stream, up.conn->buffer, *up.parser, use_tuple);
      }
      upstream_time += Clock::now() - t1;
      if (!rec) co_return up;
      failed.response_bytes =
          failed.response_bytes || up.parser->got_some() || up.conn->buffer.size() > 0;
      failed.error = rec;
      up.error = "read: " + describe(rec);
    } else {
      upstream_time += Clock::now() - t1;
      failed.error = wec;
      up.error = "write: " + describe(wec);
    }
    up.conn.reset();
    up.parser.reset();
    if (attempt > 0 || !may_retry(failed)) co_return up;
  }
  co_return up;
}

// The upstream could not be reached or did not answer: 502 (403 when tunnel.deny_networks
// refused the address), the exchange settled as upstream_error.
template <typename ClientStream>
asio::awaitable<bool> answer_upstream_failure(ClientStream& client, const Exchange& ex,
                                              const std::string& error, bool denied,
                                              bool keep_alive, AccessRecord& log) {
  const int status = denied ? 403 : 502;
  const auto message = "tollgate: upstream " + authority_string({ex.host, ex.port}) + ": " + error;
  rules::HeaderList headers;
  if (ex.mode == ExchangeMode::base_url)
    CorsPolicy(ex.config->base_url).mark(ex.cors_origin, headers);
  auto reply = make_reply(status, headers,
                          error_json(message, denied ? "forbidden" : "upstream_error"), keep_alive);
  log.status = status;
  log.error = error;
  co_return co_await write_reply(client, reply);
}

// The websocket handshake went through: the 101 to the client, then bytes both ways until either
// side closes. False when the client could not be written to.
template <typename ClientStream, typename Conn>
asio::awaitable<bool> relay_upgrade(ClientStream& client, beast::flat_buffer& client_buffer,
                                    Upstream<Conn>& up, Exchange& ex, ExchangeHooks& hooks,
                                    AccessRecord& log) {
  auto& upstream = stream_of(*up.conn);
  http::response<http::empty_body> head{up.parser->get().result(), 11};
  for (const auto& [name, value] : ex.response_headers) head.insert(name, value);
  lowest(client).expires_after(k_write_timeout);
  auto [wec, wn] = co_await http::async_write(client, head, use_tuple);
  if constexpr (std::is_same_v<Conn, UpstreamConn>) {
    // A metered realtime session (DESIGN §12): frames read and priced as they pass; the bytes
    // either side sent right behind the handshake are its first frames.
    if (auto relay = wec ? nullptr : hooks.on_upgraded(ex)) {
      const auto bytes =
          co_await relay_websocket(client, upstream, *relay, client_buffer, up.conn->buffer,
                                   ex.config->upstream.read_timeout);
      log.bytes_in += bytes.a_to_b;
      log.bytes_out = bytes.b_to_a;
      log.error = relay->end_reason();
      co_return true;  // the relay settles what is left as it goes, before on_complete
    }
  }
  if (!wec && up.conn->buffer.size() > 0)
    std::tie(wec, wn) = co_await asio::async_write(client, up.conn->buffer.data(), use_tuple);
  if (!wec && client_buffer.size() > 0)
    std::tie(wec, wn) = co_await asio::async_write(upstream, client_buffer.data(), use_tuple);
  client_buffer.consume(client_buffer.size());
  if (wec) co_return false;
  const auto bytes = co_await splice(client, upstream, false, ex.config->upstream.read_timeout);
  log.bytes_in += bytes.a_to_b;
  log.bytes_out = bytes.b_to_a;
  co_return true;
}

// A client that left mid-response: the upstream is read on (bounded) so that the usage at the
// end of the body still settles the hold.
struct GoneClient {
  bool gone = false;
  Clock::time_point since{};
  std::uint64_t bytes = 0;

  void leave() {
    gone = true;
    since = Clock::now();
  }
  // How long the next upstream read may wait; zero or less: stop reading.
  std::chrono::milliseconds read_budget(std::chrono::milliseconds timeout) const {
    if (!gone) return timeout;
    return std::min(timeout, std::chrono::duration_cast<std::chrono::milliseconds>(
                                 k_gone_time - (Clock::now() - since)));
  }
};

struct Relayed {
  bool client_ok = true;
  bool upstream_ok = true;
};

// Step 5, the body: each piece read from the upstream goes to the hooks decoded and to the client
// as it came (or as the hooks rewrote it), until the upstream's body ends or either side fails.
template <typename ClientStream, typename Conn>
asio::awaitable<Relayed> relay_body(ClientStream& client, Upstream<Conn>& up, Exchange& ex,
                                    ExchangeHooks& hooks, AccessRecord& log,
                                    const std::string& content_encoding,
                                    std::chrono::nanoseconds& upstream_time) {
  auto& upstream = stream_of(*up.conn);
  auto& parser = *up.parser;
  auto& res = parser.get();
  http::response_serializer<http::buffer_body, HeadFields> serializer{res};
  Relayed out;
  GoneClient gone;
  std::string scratch;
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = !parser.is_done();
  // Body bytes already read with the head (a small JSON answer usually is): the head goes out
  // with the first piece, in one write. Otherwise (a stream whose first event is still to come)
  // the head goes now.
  if (up.conn->buffer.size() == 0 && !parser.is_done()) {
    lowest(client).expires_after(k_write_timeout);
    if (auto [ec, n] = co_await write_flat(client, serializer, scratch, true); ec) gone.leave();
  }

  rules::BodyDecoder decoder(content_encoding);
  std::array<char, k_piece> raw;
  std::string decoded, rewritten;
  while (!parser.is_done()) {
    res.body().data = raw.data();
    res.body().size = raw.size();
    const auto timeout = gone.read_budget(ex.config->upstream.read_timeout);
    if (timeout.count() <= 0) break;
    // Bytes already read (a JSON answer usually comes whole with its head) are parsed here;
    // the socket is read only when they run out or end inside a chunk's framing.
    error_code rec;
    bool read_now = true;
    if (up.conn->buffer.size() > 0)
      read_now = put_buffered(up.conn->buffer, parser, rec) == 0 && !rec;
    if (read_now) {
      const auto t0 = Clock::now();
      lowest(upstream).expires_after(timeout);
      std::tie(rec, std::ignore) =
          co_await http::async_read_some(upstream, up.conn->buffer, parser, use_tuple);
      upstream_time += Clock::now() - t0;
    }
    if (rec == http::error::need_buffer) rec = {};
    const std::string_view piece(raw.data(), raw.size() - res.body().size);
    if (!piece.empty()) {
      decoded.clear();
      if (decoder.feed(piece, decoded) && !decoded.empty()) hooks.on_response_body(ex, decoded);
    }
    if (rec) {
      out.upstream_ok = false;
      log.error = "upstream read: " + describe(rec);
      break;
    }
    if (gone.gone) {
      gone.bytes += piece.size();
      if (gone.bytes > k_gone_bytes) break;
      continue;
    }
    std::string_view send = piece;
    if (ex.rewrite_response) {
      rewritten = hooks.rewrite_response_body(ex, piece);
      if (parser.is_done()) rewritten += hooks.finish_response_body(ex);
      send = rewritten;
    }
    if (send.empty() && !parser.is_done()) continue;
    // An empty last piece must be a null buffer: Beast frames a zero-size buffer as a chunk of
    // its own ("0\r\n\r\n", itself a last-chunk) before the real last-chunk, and those 5 extra
    // bytes would open the client's next response on this connection.
    res.body().data = send.empty() ? nullptr : const_cast<char*>(send.data());
    res.body().size = send.size();
    res.body().more = !parser.is_done();
    lowest(client).expires_after(k_write_timeout);
    if (const auto [wec, wn] = co_await write_flat(client, serializer, scratch, false); wec)
      gone.leave();
    else
      log.bytes_out += send.size();
  }
  if (!gone.gone && out.upstream_ok && !serializer.is_done()) {
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    lowest(client).expires_after(k_write_timeout);
    if (auto [wec, wn] = co_await write_flat(client, serializer, scratch, false); wec) gone.leave();
  }
  out.client_ok = !gone.gone;
  co_return out;
}

// Steps 4-6 over one kind of upstream connection (pooled TLS or plain TCP).
template <typename ClientStream, typename Conn>
asio::awaitable<AfterExchange> forward_with(ClientStream& client, beast::flat_buffer& client_buffer,
                                            Exchange& ex, ExchangeHooks& hooks,
                                            ForwardContext& ctx) {
  auto& log = ctx.log;
  std::chrono::nanoseconds upstream_time{0};
  bool keep_alive = ctx.client_keep_alive && !ctx.env.shared.draining.load();
  bool denied = false;  // by tunnel.deny_networks (plain HTTP to a host no provider owns)

  const auto finish = [&](Outcome outcome) -> asio::awaitable<void> {
    ex.upstream_time = upstream_time;
    co_await await_on_complete(hooks, ex, outcome);
    // Provider exchanges are counted by the hooks, which know the endpoint.
    if (!ex.provider)
      Metrics::instance().count_other_host(denied ? RequestOutcome::refused
                                                  : (outcome == Outcome::upstream_error
                                                         ? RequestOutcome::error
                                                         : RequestOutcome::forwarded));
    const auto total = Clock::now() - ex.started;
    Metrics::instance().observe_upstream(upstream_time);
    Metrics::instance().observe_overhead(total - upstream_time);
    log.ms = std::chrono::duration<double, std::milli>(total).count();
  };

  auto up = co_await send_request<Conn>(ex, ctx, upstream_time);
  if (!up.conn) {
    denied = up.denied;
    const bool wrote =
        co_await answer_upstream_failure(client, ex, up.error, up.denied, keep_alive, log);
    co_await finish(Outcome::upstream_error);
    co_return wrote&& keep_alive ? AfterExchange::keep_alive : AfterExchange::close;
  }
  auto& parser = *up.parser;
  auto& res = parser.get();
  const bool upgraded = res.result_int() == 101 && ctx.websocket;
  const auto content_encoding = take_response_head(ex, res, hooks, upgraded);
  log.status = ex.status;
  if (upgraded) {
    const bool client_ok = co_await relay_upgrade(client, client_buffer, up, ex, hooks, log);
    co_await finish(client_ok ? Outcome::complete : Outcome::client_gone);
    co_return AfterExchange::close;
  }

  const int status = ex.status;
  const bool no_body = ctx.head_request || status / 100 == 1 || status == 204 || status == 304;
  if (!no_body && (ex.rewrite_response || !parser.content_length())) {
    res.erase(http::field::content_length);
    if (ctx.client_http10)
      keep_alive = false;  // HTTP/1.0 knows no chunked encoding (RFC 9112 §6.1): the close ends it
    else
      res.chunked(true);
  }
  res.keep_alive(keep_alive);

  const auto relayed =
      co_await relay_body(client, up, ex, hooks, log, content_encoding, upstream_time);
  const bool complete = relayed.upstream_ok && parser.is_done();
  if (complete && parser.keep_alive()) release_upstream(std::move(up.conn), ctx.env, ex);
  if (!relayed.client_ok) log.error = "client gone";
  co_await finish(!relayed.upstream_ok
                      ? Outcome::upstream_error
                      : (relayed.client_ok ? Outcome::complete : Outcome::client_gone));
  co_return relayed.client_ok&& complete&& keep_alive ? AfterExchange::keep_alive
                                                      : AfterExchange::close;
}

}  // namespace

asio::awaitable<std::optional<LocalReply>> await_on_request(ExchangeHooks& hooks, Exchange& ex) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(std::optional<LocalReply>)>(
      [&hooks, &ex, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        // Counted work keeps the worker's io_context running while another thread holds `done`.
        auto work = asio::prefer(executor, asio::execution::outstanding_work.tracked);
        hooks.on_request(ex, [shared, work](std::optional<LocalReply> reply) {
          asio::post(work,
                     [shared, reply = std::move(reply)]() mutable { (*shared)(std::move(reply)); });
        });
      },
      asio::use_awaitable);
}

asio::awaitable<void> await_on_complete(ExchangeHooks& hooks, Exchange& ex, Outcome outcome) {
  auto executor = co_await asio::this_coro::executor;
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(
      [&hooks, &ex, outcome, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = asio::prefer(executor, asio::execution::outstanding_work.tracked);
        hooks.on_complete(
            ex, outcome, [shared, work] { asio::post(work, [shared]() mutable { (*shared)(); }); });
      },
      asio::use_awaitable);
}

template <typename ClientStream>
asio::awaitable<AfterExchange> forward_exchange(ClientStream& client,
                                                beast::flat_buffer& client_buffer, Exchange& ex,
                                                ExchangeHooks& hooks, ForwardContext& ctx) {
  if constexpr (std::is_same_v<ClientStream, TlsStream>)
    co_return co_await forward_with<ClientStream, UpstreamConn>(client, client_buffer, ex, hooks,
                                                                ctx);
  else if (ex.mode == ExchangeMode::base_url)  // plain from the client, verified TLS upstream
    co_return co_await forward_with<ClientStream, UpstreamConn>(client, client_buffer, ex, hooks,
                                                                ctx);
  else
    co_return co_await forward_with<ClientStream, PlainConn>(client, client_buffer, ex, hooks, ctx);
}

template asio::awaitable<AfterExchange> forward_exchange(TlsStream&, beast::flat_buffer&, Exchange&,
                                                         ExchangeHooks&, ForwardContext&);
template asio::awaitable<AfterExchange> forward_exchange(TcpStream&, beast::flat_buffer&, Exchange&,
                                                         ExchangeHooks&, ForwardContext&);

}  // namespace proxy
