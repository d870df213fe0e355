#pragma once
// The pieces of GET /v1/events/stream that need no socket: one budget event as a Server-Sent
// Event, and the cap on concurrent streams. EventStreamer is the asynchronous server around them.

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "budget/enforcer.hpp"

namespace proxy {

inline constexpr std::size_t k_max_event_streams = 16;  // past it: 503
inline constexpr std::string_view k_event_stream_path = "/v1/events/stream";
// Sent when nothing happened for 15 s, so that proxies and load balancers keep the connection.
inline constexpr std::string_view k_sse_keep_alive = ": keep-alive\n\n";

// "id: 7\nevent: refused\ndata: {...}\n\n"; data is the event as GET /v1/events writes it, on
// one line (JSON escapes every newline), and the type loses any line break, so an event can
// never end the frame early.
std::string sse_event(const budget::Event& event);

// A counting cap: try_acquire() hands out at most `max` slots at once; a slot is given back
// when it is destroyed. Thread-safe.
class StreamSlots {
 public:
  class Slot {
   public:
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    ~Slot();

   private:
    friend class StreamSlots;
    explicit Slot(StreamSlots* owner) : owner_(owner) {}
    StreamSlots* owner_;
  };

  explicit StreamSlots(std::size_t max = k_max_event_streams) : max_(max) {}
  std::optional<Slot> try_acquire();
  std::size_t in_use() const { return in_use_.load(); }
  std::size_t max() const { return max_; }

 private:
  std::size_t max_;
  std::atomic<std::size_t> in_use_{0};
};

}  // namespace proxy
