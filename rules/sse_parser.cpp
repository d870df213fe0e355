#include "rules/sse_parser.hpp"

#include <cstring>

namespace rules {
namespace {

// The first '\r' or '\n' at or after `from`, or npos.
std::size_t find_eol(std::string_view s, std::size_t from) {
  const std::size_t n = s.size() - from;
  const char* base = s.data() + from;
  // memchr runs word-wide; a CR, when any, is looked for only before the first LF.
  const void* lf = std::memchr(base, '\n', n);
  const std::size_t lf_at = lf ? static_cast<const char*>(lf) - base : n;
  if (const void* cr = std::memchr(base, '\r', lf_at))
    return from + (static_cast<const char*>(cr) - base);
  return lf ? from + lf_at : std::string_view::npos;
}

}  // namespace

void SseParser::feed_impl(std::string_view in, Sink sink) {
  std::size_t pos = 0;
  if (skip_lf_ && !in.empty()) {
    if (in[0] == '\n') pos = 1;
    skip_lf_ = false;
  }
  while (pos < in.size()) {
    const std::size_t eol = find_eol(in, pos);
    if (eol == std::string_view::npos) {
      if (!discard_line_ && partial_.size() + (in.size() - pos) <= max_event_bytes_) {
        partial_.append(in.substr(pos));
      } else {
        // A line longer than any event we keep: skip it up to its end, drop its event.
        overflow_ = discard_line_ = true;
        partial_.clear();
      }
      return;
    }
    const std::string_view piece = in.substr(pos, eol - pos);
    if (discard_line_) {
      discard_line_ = false;
    } else if (partial_.empty()) {
      on_line(piece, sink);
    } else {
      partial_.append(piece);
      on_line(partial_, sink);
      partial_.clear();
    }
    pos = eol + 1;
    if (in[eol] == '\r') {
      if (pos < in.size()) {
        if (in[pos] == '\n') ++pos;
      } else {
        skip_lf_ = true;
      }
    }
  }
}

void SseParser::finish_impl(Sink sink) {
  discard_line_ = false;
  if (!partial_.empty()) {
    on_line(partial_, sink);
    partial_.clear();
  }
  dispatch(sink);
}

void SseParser::on_line(std::string_view line, Sink sink) {
  if (line.empty()) {
    dispatch(sink);
    return;
  }
  if (line.front() == ':') return;  // comment (keep-alive)
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) {
      overflow_ = true;
      return;
    }
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }
}

void SseParser::dispatch(Sink sink) {
  if (overflow_) {
    ++dropped_;
  } else if (has_data_) {
    sink.invoke(sink.target, SseEvent{event_, data_});
  }
  // clear() keeps the capacity: no allocation per event once warmed up.
  event_.clear();
  data_.clear();
  has_data_ = false;
  overflow_ = false;
}

}  // namespace rules
