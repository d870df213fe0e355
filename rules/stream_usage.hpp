#pragma once
// OpenAI streams report usage only when the client asks (stream_options.include_usage). tollgate
// asks on the client's behalf and hides the extra chunk, so that client code written for streams
// without it never sees a chunk with no choices.

#include <optional>
#include <string>
#include <string_view>

#include "rules/pricing_model.hpp"

namespace rules {

// When the endpoint's stream spec says include_usage: inject and the JSON body has "stream": true
// but no stream_options.include_usage: true, returns the body with
// "stream_options":{"include_usage":true} added (keeping other stream_options); else nullopt.
// Numbers and key order are kept as written; string escapes may be normalised.
std::optional<std::string> inject_include_usage(const Endpoint& endpoint, std::string_view body);

// Filters an OpenAI chat SSE stream for the client when usage was injected: passes every event
// through byte-exact except the final usage-only chunk (a data: event whose "choices" is empty and
// that carries "usage"), which it drops. Arbitrary input splits; emits complete events as soon as
// their terminating blank line arrives (no buffering beyond one event).
class UsageChunkStripper {
 public:
  std::string feed(std::string_view raw);
  std::string finish();  // what is left of an event the stream did not terminate
  int dropped() const { return dropped_; }

 private:
  void emit(std::string_view event, std::string& out);

  std::string pending_;  // the current, not yet terminated event
  std::string data_;     // scratch: the data lines of an event being judged
  bool at_line_start_ = true;
  bool prev_cr_ = false;  // the last byte was '\r': a '\n' next completes the terminator
  enum class LfOwner { none, passed, dropped };
  LfOwner lf_owner_ = LfOwner::none;  // the last event ended on '\r': whose is a '\n' next
  int dropped_ = 0;
};

}  // namespace rules
