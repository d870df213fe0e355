#pragma once
// GET /v1/events/stream (DESIGN §8): budget events as Server-Sent Events, live. A stream holds no
// thread: its coroutine sleeps on a timer, which the enforcer's event listener cancels (on the
// stream's strand) when an event is emitted; it wakes, writes what is new from the event log,
// and sleeps again. A quiet stream gets a keep-alive comment every 15 s, a client that leaves is
// noticed at once (a read waits beside the timer), and at most k_max_event_streams run at once.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <string_view>

#include "admin/admin_routes.hpp"
#include "admin/event_stream.hpp"
#include "budget/enforcer.hpp"

namespace proxy {

class EventStreamer {
 public:
  // Registers one listener on `enforcer` for good (listeners cannot be removed); after close()
  // it does nothing.
  EventStreamer(AdminRoutes& routes, budget::Enforcer& enforcer,
                std::size_t max_streams = k_max_event_streams,
                std::chrono::steady_clock::duration keep_alive = std::chrono::seconds(15));
  ~EventStreamer();
  EventStreamer(const EventStreamer&) = delete;
  EventStreamer& operator=(const EventStreamer&) = delete;

  // Answers one GET /v1/events/stream on `stream`: 400 for a malformed id, 503 when
  // max_streams are open, else the stream until the client leaves or a write fails (the
  // connection is not reused afterwards). The calling coroutine must run on a strand: the
  // listener's wake-ups are posted to it.
  boost::asio::awaitable<void> serve(boost::beast::tcp_stream& stream, const AdminRequest& request,
                                     std::string_view last_event_id, unsigned version);

  // Stops waking streams, before the io_context they run on stops.
  void close();

  std::size_t open_streams() const { return slots_.in_use(); }

 private:
  struct Hub;
  AdminRoutes& routes_;
  budget::Enforcer& enforcer_;
  StreamSlots slots_;
  std::chrono::steady_clock::duration keep_alive_;
  std::shared_ptr<Hub> hub_;
};

}  // namespace proxy
