#include "admin/event_streamer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/write.hpp>
#include <mutex>
#include <vector>

#include "admin/admin_http.hpp"

namespace proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace asio::experimental::awaitable_operators;
constexpr auto k_tuple = asio::as_tuple(asio::use_awaitable);
constexpr auto k_write_timeout = std::chrono::seconds(30);
// Events read from the log per write, so that a client far behind is caught up in pieces.
constexpr std::size_t k_batch = 100;
// EventSource waits this long (ms) before reconnecting; it then sends Last-Event-ID.
constexpr std::string_view k_retry = "retry: 2000\n\n";

// One open stream. `timer` and `woken` are touched only on the stream's strand.
struct Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  bool woken = false;
};

asio::awaitable<void> write_reply(beast::tcp_stream& stream, const AdminResponse& response,
                                  unsigned version) {
  auto res = to_http(response, version, false);
  stream.expires_after(k_write_timeout);
  co_await http::async_write(stream, res, k_tuple);
}

}  // namespace

struct EventStreamer::Hub {
  std::mutex mutex;
  bool closed = false;
  std::vector<std::weak_ptr<Waiter>> waiters;

  void add(const std::shared_ptr<Waiter>& waiter) {
    std::lock_guard lock(mutex);
    std::erase_if(waiters, [](const auto& w) { return w.expired(); });
    waiters.push_back(waiter);
  }

  // Runs on the thread that emitted the event (a proxy worker, a store thread, the admin
  // server): only posts. Under the mutex, so that nothing is posted once close() returned.
  void notify() {
    std::lock_guard lock(mutex);
    if (closed) return;
    for (const auto& weak : waiters)
      if (auto waiter = weak.lock())
        asio::post(waiter->timer.get_executor(), [waiter] {
          waiter->woken = true;
          waiter->timer.cancel();
        });
  }

  void close() {
    std::lock_guard lock(mutex);
    closed = true;
    waiters.clear();
  }
};

EventStreamer::EventStreamer(AdminRoutes& routes, budget::Enforcer& enforcer,
                             std::size_t max_streams,
                             std::chrono::steady_clock::duration keep_alive)
    : routes_(routes),
      enforcer_(enforcer),
      slots_(max_streams),
      keep_alive_(keep_alive),
      hub_(std::make_shared<Hub>()) {
  enforcer_.on_event([hub = hub_](const budget::Event&) { hub->notify(); });
}

EventStreamer::~EventStreamer() {
  close();
}

void EventStreamer::close() {
  hub_->close();
}

asio::awaitable<void> EventStreamer::serve(beast::tcp_stream& stream, const AdminRequest& request,
                                           std::string_view last_event_id, unsigned version) {
  const auto start = routes_.event_stream_start(request, last_event_id);
  if (const auto* refusal = std::get_if<AdminResponse>(&start)) {
    co_await write_reply(stream, *refusal, version);
    co_return;
  }
  auto slot = slots_.try_acquire();
  if (!slot) {
    auto refusal = admin_error(
        503, "too many event streams open (" + std::to_string(slots_.max()) + "): try again later");
    refusal.headers.emplace_back("Retry-After", "10");
    co_await write_reply(stream, refusal, version);
    co_return;
  }
  // Subscribed before the log is first read: an event emitted in between wakes the loop.
  auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  hub_->add(waiter);

  http::response<http::empty_body> head{http::status::ok, version};
  head.set(http::field::server, "tollgate");
  head.set(http::field::content_type, "text/event-stream; charset=utf-8");
  head.set(http::field::cache_control, "no-store");
  head.set("X-Content-Type-Options", "nosniff");
  head.set("X-Accel-Buffering", "no");  // a reverse proxy in front must not buffer it
  head.keep_alive(false);               // no length, no chunks: the body ends with the connection
  http::response_serializer<http::empty_body> serializer{head};
  stream.expires_after(k_write_timeout);
  if (auto [ec, n] = co_await http::async_write_header(stream, serializer, k_tuple); ec) co_return;

  std::uint64_t after = std::get<std::uint64_t>(start);
  std::string out(k_retry);
  char scratch[512];
  for (;;) {
    waiter->woken = false;
    for (;;) {
      const auto events = enforcer_.events_since(after, k_batch);
      for (const auto& event : events) {
        out += sse_event(event);
        after = event.id;
      }
      if (!out.empty()) {
        stream.expires_after(k_write_timeout);
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), k_tuple);
        if (ec) co_return;  // gone, or too slow to take 30 s of writes
        stream.expires_never();
        out.clear();
      }
      if (events.size() < k_batch) break;
    }
    if (waiter->woken) continue;  // an event arrived while writing
    waiter->timer.expires_after(keep_alive_);
    // The client sends nothing more on a stream: a read completes only when it closes.
    auto woke = co_await (waiter->timer.async_wait(k_tuple) ||
                          stream.socket().async_read_some(asio::buffer(scratch), k_tuple));
    if (woke.index() == 1) co_return;
    if (std::get<0>(std::get<0>(woke)) != asio::error::operation_aborted)
      out = k_sse_keep_alive;  // quiet for keep_alive_
  }
}

}  // namespace proxy
