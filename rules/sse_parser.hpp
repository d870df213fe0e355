#pragma once
// Incremental text/event-stream parser (WHATWG HTML §9.2.6): fed arbitrary byte splits, it
// reports each event once its terminating blank line arrives.

#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

namespace rules {

struct SseEvent {
  std::string_view event;  // the `event:` field; empty = "message"
  std::string_view data;   // `data:` lines joined with '\n'
};

// The sink is passed per call (any callable taking const SseEvent&), so the owner of a parser
// stays freely movable and no std::function sits on the per-event path.
class SseParser {
 public:
  // Events whose data grows past max_event_bytes are dropped whole (counted in dropped()).
  explicit SseParser(std::size_t max_event_bytes = 8u << 20) : max_event_bytes_(max_event_bytes) {}

  template <class F>
  void feed(std::string_view in, F&& on_event) {
    feed_impl(in, Sink{&on_event, &call<std::remove_reference_t<F>>});
  }
  // Dispatches an event left without its blank line when the stream ended.
  template <class F>
  void finish(F&& on_event) {
    finish_impl(Sink{&on_event, &call<std::remove_reference_t<F>>});
  }
  std::size_t dropped() const { return dropped_; }

 private:
  struct Sink {
    void* target;
    void (*invoke)(void*, const SseEvent&);
  };
  template <class F>
  static void call(void* f, const SseEvent& e) {
    (*static_cast<F*>(f))(e);
  }

  void feed_impl(std::string_view in, Sink sink);
  void finish_impl(Sink sink);
  void on_line(std::string_view line, Sink sink);
  void dispatch(Sink sink);

  std::size_t max_event_bytes_;
  std::string partial_;  // a line split across feeds
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  bool overflow_ = false;
  bool discard_line_ = false;  // inside a line too long to keep
  bool skip_lf_ = false;       // the previous feed ended on '\r': a leading '\n' belongs to it
  std::size_t dropped_ = 0;
};

}  // namespace rules
