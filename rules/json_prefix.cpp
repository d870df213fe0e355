#include "rules/json_prefix.hpp"

#include <optional>

namespace rules {
namespace {

using Status = PrefixScan::Status;

// A cursor over a possibly cut-short JSON text. Every read reports `more` when the text ends
// first, so that the caller can retry with a longer prefix.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool end() {
    skip_space();
    return at_ >= text_.size();
  }
  char peek() { return text_[at_]; }
  void next() { ++at_; }

  // A string at the cursor (the opening quote included), unescaped. nullopt at the end of text.
  std::optional<std::string> string() {
    std::string out;
    ++at_;  // the opening quote
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) return std::nullopt;
      const char e = text_[at_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u':
          // Names and types are ASCII; a \u escape is kept as written (it matches nothing).
          if (at_ + 4 > text_.size()) return std::nullopt;
          out += "\\u";
          out.append(text_.substr(at_, 4));
          at_ += 4;
          break;
        default:
          out += e;  // \" \\ \/
      }
    }
    return std::nullopt;
  }

  // Skips one value of any kind; false at the end of text.
  bool skip_value() {
    if (end()) return false;
    const char c = peek();
    if (c == '"') return string().has_value();
    if (c == '{' || c == '[') {
      int depth = 0;
      while (at_ < text_.size()) {
        const char d = text_[at_];
        if (d == '"') {
          if (!string()) return false;
          continue;
        }
        ++at_;
        if (d == '{' || d == '[') ++depth;
        if ((d == '}' || d == ']') && --depth == 0) return true;
      }
      return false;
    }
    // A number, true, false or null: up to the next delimiter.
    while (at_ < text_.size() && text_[at_] != ',' && text_[at_] != '}' && text_[at_] != ']' &&
           text_[at_] != ' ' && text_[at_] != '\n' && text_[at_] != '\r' && text_[at_] != '\t')
      ++at_;
    return at_ < text_.size();
  }

 private:
  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t'))
      ++at_;
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

// Walks the top-level members; `visit(name, cursor)` is called with the cursor at the value and
// returns a final scan (the value read or skipped by it), or nullopt to go on to the next member
// (the value is skipped for it).
template <typename Visit>
PrefixScan walk(std::string_view text, Visit visit) {
  Cursor in(text);
  if (in.end()) return {Status::more, {}};
  if (in.peek() != '{') return {Status::absent, {}};
  in.next();
  while (true) {
    if (in.end()) return {Status::more, {}};
    if (in.peek() == '}') return {Status::absent, {}};
    if (in.peek() != '"') return {Status::absent, {}};
    auto name = in.string();
    if (!name) return {Status::more, {}};
    if (in.end()) return {Status::more, {}};
    if (in.peek() != ':') return {Status::absent, {}};
    in.next();
    if (in.end()) return {Status::more, {}};
    if (auto result = visit(*name, in)) return *result;
    if (!in.skip_value()) return {Status::more, {}};
    if (in.end()) return {Status::more, {}};
    if (in.peek() == ',') {
      in.next();
      continue;
    }
    return {Status::absent, {}};  // '}' (no such member) or not JSON
  }
}

}  // namespace

PrefixScan scan_top_level_string(std::string_view text, std::string_view key) {
  return walk(text, [&](const std::string& name, Cursor& in) -> std::optional<PrefixScan> {
    if (name != key) return std::nullopt;
    if (in.peek() != '"') return PrefixScan{Status::absent, {}};
    auto value = in.string();
    if (!value) return PrefixScan{Status::more, {}};
    return PrefixScan{Status::found, std::move(*value)};
  });
}

PrefixScan scan_first_key(std::string_view text) {
  return walk(text, [](const std::string& name, Cursor&) -> std::optional<PrefixScan> {
    return PrefixScan{Status::found, name};
  });
}

}  // namespace rules
