#include "proxy/websocket_relay.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>

#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using namespace net;
using namespace boost::asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t k_read_chunk = 16 * 1024;
// A side that reads slower than the other writes holds the other's reading back past this.
constexpr std::size_t k_high_water = 1u << 20;
// How long usage of cancelled or orphaned responses is waited for (DESIGN §12: bounded).
constexpr auto k_drain_bound = 30s;
// How long the peers have to answer tollgate's Close before their connections are closed.
constexpr auto k_close_grace = 2s;

// Bytes waiting to be written to one connection; one writer coroutine writes them, so that both
// directions (forwarded frames and tollgate's own) share one ordered stream.
struct Outbox {
  explicit Outbox(const asio::any_io_executor& ex) : signal(ex), drained(ex) {}
  std::string pending;
  asio::steady_timer signal;   // the writer sleeps on it while there is nothing to write
  asio::steady_timer drained;  // a reader held back by a full outbox sleeps on it
  bool writing = false;
  bool failed = false;
  std::uint64_t written = 0;

  bool idle() const { return failed || (!writing && pending.empty()); }
};

struct Ctx {
  Ctx(RealtimeRelay& r, const asio::any_io_executor& ex)
      : relay(r), to_client(ex), to_upstream(ex), wake(ex) {}

  RealtimeRelay& relay;
  Outbox to_client, to_upstream;
  asio::steady_timer wake;  // the supervisor sleeps on it
  Clock::time_point last_activity = Clock::now();
  bool stopping = false;

  Outbox& box(Side to) { return to == Side::client ? to_client : to_upstream; }

  // Hands what the relay produced to the writers and lets the supervisor look again.
  void flush() {
    for (const Side to : {Side::client, Side::upstream}) {
      Outbox& b = box(to);
      std::string bytes = relay.take(to);
      if (bytes.empty() || b.failed) continue;
      b.pending += bytes;
      b.signal.cancel();
    }
    wake.cancel();
  }
};

// An admission through the enforcer, resumed on this coroutine's executor whatever thread the
// enforcer answers on.
asio::awaitable<budget::Admission> admit(RealtimeRelay& relay, Side side) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(budget::Admission)>(
      [&relay, side, executor](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = asio::prefer(executor, asio::execution::outstanding_work.tracked);
        relay.admit(side, [shared, work](budget::Admission admission) {
          asio::post(work, [shared, admission = std::move(admission)]() mutable {
            (*shared)(std::move(admission));
          });
        });
      },
      asio::use_awaitable);
}

asio::awaitable<void> consume(Ctx& ctx, Side side, std::string_view data) {
  while (!data.empty()) {
    const std::size_t n = ctx.relay.feed(side, data);
    data.remove_prefix(n);
    ctx.flush();
    if (!ctx.relay.waiting(side)) {
      if (n == 0) break;
      continue;
    }
    // The message just read waits for the enforcer; what follows it waits too.
    while (ctx.relay.waiting(side)) {
      auto admission = co_await admit(ctx.relay, side);
      ctx.relay.admitted(side, std::move(admission));
      ctx.flush();
    }
  }
}

template <typename Stream>
asio::awaitable<void> read_in(Stream& stream, Side side, beast::flat_buffer& early, Ctx& ctx) {
  Outbox& onward = ctx.box(side == Side::client ? Side::upstream : Side::client);
  if (early.size() > 0) {
    const auto bytes = early.cdata();
    co_await consume(ctx, side,
                     std::string_view(static_cast<const char*>(bytes.data()), bytes.size()));
    early.consume(early.size());
  }
  std::array<char, k_read_chunk> buf;
  while (!ctx.stopping && !ctx.relay.reading_done(side)) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf), use_tuple);
    if (n > 0) {
      ctx.last_activity = Clock::now();
      co_await consume(ctx, side, std::string_view(buf.data(), n));
    }
    if (ec) {
      if (!ctx.stopping && !ctx.relay.reading_done(side)) {
        ctx.relay.gone(side);
        ctx.flush();
      }
      co_return;
    }
    while (onward.pending.size() > k_high_water && !onward.failed && !ctx.stopping) {
      onward.drained.expires_at(Clock::time_point::max());
      co_await onward.drained.async_wait(use_tuple);
    }
  }
}

template <typename Stream>
asio::awaitable<void> write_out(Stream& stream, Outbox& box, Ctx& ctx) {
  while (true) {
    if (box.pending.empty()) {
      if (ctx.stopping) co_return;
      box.signal.expires_at(Clock::time_point::max());
      co_await box.signal.async_wait(use_tuple);
      continue;
    }
    std::string data = std::exchange(box.pending, {});
    box.writing = true;
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(data), use_tuple);
    box.writing = false;
    box.written += n;
    box.drained.cancel();
    ctx.wake.cancel();
    if (ec) {
      box.failed = true;
      box.pending.clear();
      co_return;
    }
  }
}

std::string duration_text(std::chrono::milliseconds d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s % 3600 == 0 && s > 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0 && s > 0) return std::to_string(s / 60) + "m";
  if (s > 0) return std::to_string(s) + "s";
  return std::to_string(d.count()) + "ms";
}

// The session's clocks and its end: max_duration, the drain bound, idle, the close handshake.
template <typename Client, typename Upstream>
asio::awaitable<void> supervise(Ctx& ctx, Client& client, Upstream& upstream,
                                std::chrono::milliseconds idle) {
  RealtimeRelay& relay = ctx.relay;
  const auto started = Clock::now();
  const auto max_duration = relay.limits().max_duration;
  bool expired = false, client_failed = false, upstream_failed = false;
  std::optional<Clock::time_point> drain_until, close_until;
  while (true) {
    const auto now = Clock::now();
    if (ctx.to_client.failed && !client_failed) {
      client_failed = true;
      relay.gone(Side::client);
      ctx.flush();
    }
    if (ctx.to_upstream.failed && !upstream_failed) {
      upstream_failed = true;
      relay.gone(Side::upstream);
      ctx.flush();
    }
    if (max_duration.count() > 0 && !expired && now >= started + max_duration) {
      expired = true;
      relay.end(ws::k_close_policy,
                "tollgate: the session reached its max_duration of " + duration_text(max_duration),
                "session_expired");
      ctx.flush();
    }
    if (relay.draining()) {
      if (!drain_until) drain_until = now + k_drain_bound;
      if (now >= *drain_until) {
        relay.drain_expired();
        ctx.flush();
      }
    } else {
      drain_until.reset();
    }
    if (!relay.closing() && now - ctx.last_activity >= idle) {
      relay.end(ws::k_close_going_away, "tollgate: no traffic for " + duration_text(idle));
      ctx.flush();
    }
    if (relay.closing() && !close_until) close_until = now + k_close_grace;
    const bool written = ctx.to_client.idle() && ctx.to_upstream.idle();
    if (relay.finished() && written) break;
    if (close_until && now >= *close_until) break;

    auto next = ctx.last_activity + idle;
    if (max_duration.count() > 0 && !expired) next = std::min(next, started + max_duration);
    if (drain_until) next = std::min(next, *drain_until);
    if (close_until) next = std::min(next, *close_until);
    ctx.wake.expires_at(next);
    co_await ctx.wake.async_wait(use_tuple);
  }
  ctx.stopping = true;
  error_code ignored;
  lowest(client).socket().close(ignored);
  lowest(upstream).socket().close(ignored);
  for (Outbox* b : {&ctx.to_client, &ctx.to_upstream}) {
    b->signal.cancel();
    b->drained.cancel();
  }
}

// What the enforcer's thread may reach of a session: nothing once it has ended.
struct Listener {
  Ctx* ctx;
};

}  // namespace

template <typename Client, typename Upstream>
asio::awaitable<SpliceBytes> relay_websocket(Client& client, Upstream& upstream,
                                             RealtimeRelay& relay, beast::flat_buffer& client_early,
                                             beast::flat_buffer& upstream_early,
                                             std::chrono::milliseconds idle) {
  const auto executor = co_await asio::this_coro::executor;
  Ctx ctx(relay, executor);
  lowest(client).expires_never();
  lowest(upstream).expires_never();
  auto listener = std::make_shared<Listener>(Listener{&ctx});
  relay.listen([weak = std::weak_ptr<Listener>(listener), executor](const budget::Event& event) {
    asio::post(executor, [weak, event] {
      if (const auto l = weak.lock()) {
        l->ctx->relay.budget_event(event);
        l->ctx->flush();
      }
    });
  });
  Metrics::instance().realtime_session_opened();
  co_await (read_in(client, Side::client, client_early, ctx) &&
            read_in(upstream, Side::upstream, upstream_early, ctx) &&
            write_out(client, ctx.to_client, ctx) && write_out(upstream, ctx.to_upstream, ctx) &&
            supervise(ctx, client, upstream, idle));
  listener.reset();
  Metrics::instance().realtime_session_closed();
  co_return SpliceBytes{ctx.to_upstream.written, ctx.to_client.written};
}

template asio::awaitable<SpliceBytes> relay_websocket(TlsStream&, TlsStream&, RealtimeRelay&,
                                                      beast::flat_buffer&, beast::flat_buffer&,
                                                      std::chrono::milliseconds);
template asio::awaitable<SpliceBytes> relay_websocket(TcpStream&, TlsStream&, RealtimeRelay&,
                                                      beast::flat_buffer&, beast::flat_buffer&,
                                                      std::chrono::milliseconds);

}  // namespace proxy
