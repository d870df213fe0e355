#include "rules/json_reader.hpp"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace rules {
namespace {

// Objects up to this many members are checked pair by pair (no allocation, the usual case);
// larger ones by sorting their names, so that a million keys cannot cost a trillion compares.
constexpr rapidjson::SizeType k_pairwise_members = 16;
constexpr std::size_t k_shown_key_bytes = 64;

std::string_view name_of(const rapidjson::Value::Member& m) {
  return {m.name.GetString(), m.name.GetStringLength()};
}

// Finds a key that an object in `value` (at any depth) names twice. The names in the document
// are already unescaped, so "mod\u0065l" and "model" compare equal. Recursion is bounded by the
// nesting limit the parse enforced.
bool find_duplicate(const rapidjson::Value& value, std::string_view& found) {
  if (value.IsArray()) {
    for (const auto& item : value.GetArray())
      if (find_duplicate(item, found)) return true;
    return false;
  }
  if (!value.IsObject()) return false;
  const auto object = value.GetObject();
  if (object.MemberCount() <= k_pairwise_members) {
    for (auto a = object.MemberBegin(); a != object.MemberEnd(); ++a)
      for (auto b = object.MemberBegin(); b != a; ++b)
        if (name_of(*a) == name_of(*b)) {
          found = name_of(*a);
          return true;
        }
  } else {
    std::vector<std::string_view> names;
    names.reserve(object.MemberCount());
    for (const auto& m : object) names.push_back(name_of(m));
    std::sort(names.begin(), names.end());
    if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
      found = *twice;
      return true;
    }
  }
  for (const auto& m : object)
    if (find_duplicate(m.value, found)) return true;
  return false;
}

// `key` in double quotes, fit for a one-line message: control characters escaped, cut at a
// character boundary past k_shown_key_bytes.
std::string quoted_key(std::string_view key) {
  std::size_t cut = key.size();
  if (cut > k_shown_key_bytes) {
    cut = k_shown_key_bytes;
    while (cut > 0 && (static_cast<unsigned char>(key[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string out = "\"";
  for (const char c : key.substr(0, cut)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  if (cut < key.size()) out += "...";
  out += '"';
  return out;
}

template <unsigned flags>
JsonReadResult populate(rapidjson::Document& doc, std::string_view text) {
  JsonReadResult result;
  auto generate = [&](rapidjson::Document& handler) {
    result = parse_json_events<flags>(text, handler);
    return result.ok();
  };
  doc.Populate(generate);
  return result;
}

}  // namespace

namespace {

// A RapidJSON output stream that only counts what is written to it.
struct Counter {
  using Ch = char;
  std::size_t n = 0;
  void Put(char) { ++n; }
  void Flush() {}
};

constexpr std::size_t k_parse_stack_buffer = 4096;
alignas(16) thread_local char parse_stack_buffer[k_parse_stack_buffer];
thread_local bool parse_stack_taken = false;

}  // namespace

void* ParseStackAllocator::Realloc(void* p, std::size_t old_size, std::size_t new_size) {
  if (new_size == 0) {
    Free(p);
    return nullptr;
  }
  if (p == nullptr) {
    if (!parse_stack_taken && new_size <= k_parse_stack_buffer) {
      parse_stack_taken = true;
      return parse_stack_buffer;
    }
    return std::malloc(new_size);
  }
  if (p == parse_stack_buffer) {
    if (new_size <= k_parse_stack_buffer) return p;
    void* grown = std::malloc(new_size);
    if (grown) {
      std::memcpy(grown, p, old_size);
      parse_stack_taken = false;
    }
    return grown;
  }
  return std::realloc(p, new_size);
}

void ParseStackAllocator::Free(void* p) {
  if (p == parse_stack_buffer)
    parse_stack_taken = false;
  else
    std::free(p);
}

std::string json_text(const rapidjson::Value& value) {
  thread_local ReusableJsonWriter writer;
  value.Accept(writer.start());
  std::string text = writer.text();
  if (writer.buffer.GetSize() > 65536) {  // a large body's text is not kept for the thread's life
    writer.buffer.Clear();
    writer.buffer.ShrinkToFit();
  }
  return text;
}

std::size_t json_size(const rapidjson::Value& value) {
  struct SizeWriter {
    Counter counter;
    rapidjson::Writer<Counter> out{counter};
  };
  thread_local SizeWriter writer;
  writer.counter.n = 0;
  writer.out.Reset(writer.counter);
  value.Accept(writer.out);
  return writer.counter.n;
}

std::string json_too_deep_message() {
  return "JSON nested deeper than " + std::to_string(k_json_max_depth) + " levels";
}

std::string syntax_error_text(rapidjson::ParseErrorCode code) {
  return rapidjson::GetParseError_En(code);
}

JsonReadResult read_json(rapidjson::Document& doc, std::string_view text,
                         const JsonReadOptions& options) {
  using namespace rapidjson;
  doc.SetNull();
  JsonReadResult result;
  if (options.numbers_as_strings && options.stop_when_done)
    result = populate<kParseNumbersAsStringsFlag | kParseStopWhenDoneFlag>(doc, text);
  else if (options.numbers_as_strings)
    result = populate<kParseNumbersAsStringsFlag>(doc, text);
  else if (options.stop_when_done)
    result = populate<kParseStopWhenDoneFlag>(doc, text);
  else
    result = populate<kParseDefaultFlags>(doc, text);
  if (!result.ok()) {
    doc.SetNull();
    return result;
  }
  std::string_view key;
  if (options.reject_duplicate_keys && find_duplicate(doc, key)) {
    result.status = JsonReadResult::Status::duplicate_key;
    result.message = "duplicate key " + quoted_key(key);
    doc.SetNull();
  }
  return result;
}

const rapidjson::Value* json_member(const rapidjson::Value* obj, const char* name) {
  if (!obj || !obj->IsObject()) return nullptr;
  const auto it = obj->FindMember(name);
  return it == obj->MemberEnd() ? nullptr : &it->value;
}

std::string json_string(const rapidjson::Value* value) {
  return value && value->IsString() ? std::string(value->GetString(), value->GetStringLength())
                                    : std::string();
}

}  // namespace rules
