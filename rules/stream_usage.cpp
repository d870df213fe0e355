#include "rules/stream_usage.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>

#include "rules/json_reader.hpp"
#include "rules/usage_fields.hpp"

namespace rules {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Copies a JSON document event by event, numbers as their original text, adding
// include_usage: true to the root's stream_options (created when absent or null).
class IncludeUsageRewriter {
 public:
  explicit IncludeUsageRewriter(JsonWriter& w) : w_(w) {}

  bool Null() { return replace_options_value() || (include_value() ? w_.Bool(true) : w_.Null()); }
  bool Bool(bool b) { return w_.Bool(include_value() ? true : b); }
  bool Int(int) { return false; }  // numbers arrive as RawNumber (kParseNumbersAsStringsFlag)
  bool Uint(unsigned) { return false; }
  bool Int64(std::int64_t) { return false; }
  bool Uint64(std::uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return w_.RawValue(s, n, rapidjson::kNumberType);
  }
  bool String(const char* s, rapidjson::SizeType n, bool) { return w_.String(s, n); }
  bool StartObject() {
    if (depth_ == 1 && key_ == KeyKind::stream_options) in_options_ = true;
    ++depth_;
    return w_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view k(s, n);
    key_ = KeyKind::other;
    if (depth_ == 1 && k == "stream_options") key_ = KeyKind::stream_options, options_seen_ = true;
    if (depth_ == 2 && in_options_ && k == "include_usage")
      key_ = KeyKind::include_usage, include_seen_ = true;
    return w_.Key(s, n);
  }
  bool EndObject(rapidjson::SizeType) {
    if (depth_ == 2 && in_options_) {
      if (!include_seen_ && !(w_.Key("include_usage") && w_.Bool(true))) return false;
      in_options_ = false;
    }
    if (depth_ == 1 && !options_seen_ && !write_options()) return false;
    --depth_;
    return w_.EndObject();
  }
  bool StartArray() { return ++depth_, w_.StartArray(); }
  bool EndArray(rapidjson::SizeType) { return --depth_, w_.EndArray(); }

 private:
  enum class KeyKind { other, stream_options, include_usage };

  bool include_value() const {
    return depth_ == 2 && in_options_ && key_ == KeyKind::include_usage;
  }
  // "stream_options": null becomes the object we need.
  bool replace_options_value() {
    if (!(depth_ == 1 && key_ == KeyKind::stream_options)) return false;
    key_ = KeyKind::other;
    w_.StartObject();
    w_.Key("include_usage");
    w_.Bool(true);
    return w_.EndObject();
  }
  bool write_options() {
    return w_.Key("stream_options") && w_.StartObject() && w_.Key("include_usage") &&
           w_.Bool(true) && w_.EndObject();
  }

  JsonWriter& w_;
  int depth_ = 0;
  KeyKind key_ = KeyKind::other;
  bool in_options_ = false, options_seen_ = false, include_seen_ = false;
};

// True for a data: event whose JSON has an empty "choices" array and a "usage" object.
bool is_usage_only_chunk(std::string_view event, std::string& data) {
  if (!json_key_has_object(event, "\"usage\"")) return false;
  data.clear();
  bool any = false;
  std::size_t pos = 0;
  while (pos < event.size()) {
    std::size_t end = event.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = event.size();
    std::string_view line = event.substr(pos, end - pos);
    if (line.starts_with("data:")) {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (any) data.push_back('\n');
      data.append(line);
      any = true;
    }
    pos = end + 1;
  }
  if (!any) return false;
  rapidjson::Document doc;
  if (!read_json(doc, data, {.numbers_as_strings = true}).ok() || !doc.IsObject()) return false;
  const auto choices = doc.FindMember("choices");
  const auto usage = doc.FindMember("usage");
  return choices != doc.MemberEnd() && choices->value.IsArray() && choices->value.Empty() &&
         usage != doc.MemberEnd() && usage->value.IsObject();
}

// Index of the first '\r' or '\n' at or after `from`, or raw.size(); memchr runs word-wide.
std::size_t next_eol(std::string_view raw, std::size_t from) {
  const std::size_t n = raw.size() - from;
  const char* base = raw.data() + from;
  const void* lf = std::memchr(base, '\n', n);
  const std::size_t lf_at = lf ? static_cast<const char*>(lf) - base : n;
  const void* cr = std::memchr(base, '\r', lf_at);
  return from + (cr ? static_cast<const char*>(cr) - base : lf_at);
}

}  // namespace

std::optional<std::string> inject_include_usage(const Endpoint& endpoint, std::string_view body) {
  if (!endpoint.stream.inject_include_usage) return std::nullopt;
  rapidjson::Document doc;
  if (!read_json(doc, body).ok() || !doc.IsObject()) return std::nullopt;
  const auto stream = doc.FindMember("stream");
  if (stream == doc.MemberEnd() || !stream->value.IsTrue()) return std::nullopt;
  if (const auto options = doc.FindMember("stream_options"); options != doc.MemberEnd()) {
    if (options->value.IsObject()) {
      const auto include = options->value.FindMember("include_usage");
      if (include != options->value.MemberEnd()) {
        if (include->value.IsTrue()) return std::nullopt;  // the client asked already
        if (!include->value.IsBool() && !include->value.IsNull()) return std::nullopt;
      }
    } else if (!options->value.IsNull()) {
      return std::nullopt;  // not ours to reinterpret
    }
  }
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  IncludeUsageRewriter rewriter(writer);
  if (!parse_json_events<rapidjson::kParseNumbersAsStringsFlag>(body, rewriter).ok())
    return std::nullopt;
  return std::string(buffer.GetString(), buffer.GetSize());
}

void UsageChunkStripper::emit(std::string_view event, std::string& out) {
  const bool drop = is_usage_only_chunk(event, data_);
  // An event ending on CR may have its LF in the next feed: it follows the event's fate.
  lf_owner_ = event.empty() || event.back() != '\r' ? LfOwner::none
              : drop                                ? LfOwner::dropped
                                                    : LfOwner::passed;
  if (drop) {
    ++dropped_;
    return;
  }
  out.append(event);
}

std::string UsageChunkStripper::feed(std::string_view raw) {
  std::string out;
  std::size_t start = 0;
  if (lf_owner_ != LfOwner::none && !raw.empty()) {
    if (raw.front() == '\n') {
      if (lf_owner_ == LfOwner::passed) out.push_back('\n');
      start = 1;
      prev_cr_ = false;
    }
    lf_owner_ = LfOwner::none;
  }
  for (std::size_t i = start; i < raw.size(); ++i) {
    const char c = raw[i];
    if (prev_cr_ && c == '\n') {
      prev_cr_ = false;
      continue;  // the second half of a CRLF already counted at '\r'
    }
    prev_cr_ = c == '\r';
    if (c != '\r' && c != '\n') {
      at_line_start_ = false;
      i = next_eol(raw, i + 1) - 1;  // jump over the rest of the line
      continue;
    }
    if (!at_line_start_) {
      at_line_start_ = true;
      continue;
    }
    // A blank line: the event ends here, with its terminator (a CR's LF may still follow).
    std::string_view piece = raw.substr(start, i + 1 - start);
    if (i + 1 < raw.size() && c == '\r' && raw[i + 1] == '\n') {
      piece = raw.substr(start, i + 2 - start);
      ++i;
      prev_cr_ = false;
    }
    if (pending_.empty()) {
      emit(piece, out);
    } else {
      pending_.append(piece);
      emit(pending_, out);
      pending_.clear();
    }
    start = i + 1;
  }
  // A leading LF of the next feed belongs to an event ending on CR only if the CR ended this
  // feed; bytes after it start a new line, which that LF ends.
  if (start < raw.size()) lf_owner_ = LfOwner::none;
  pending_.append(raw.substr(start));
  return out;
}

std::string UsageChunkStripper::finish() {
  std::string out;
  if (!pending_.empty()) emit(pending_, out);
  pending_.clear();
  return out;
}

}  // namespace rules
