#pragma once
// The one way JSON from the network (request bodies, provider answers, admin calls, price files)
// is read. RapidJSON's default parser recurses once per nesting level, so 150 KB of '[' overflows
// the stack; here it runs iteratively, and a nesting limit keeps every later recursive walk of the
// value (Value::Accept, Pointer, our own walks) shallow too.

#include <rapidjson/allocators.h>
#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rules {

// Deepest nesting of arrays and objects accepted: far above what any API request needs
// (structured-output schemas stop at 10), far below what exhausts a thread's stack.
inline constexpr unsigned k_json_max_depth = 128;

struct JsonReadOptions {
  bool numbers_as_strings = false;     // RapidJSON's kParseNumbersAsStringsFlag
  bool stop_when_done = false;         // read the one value at the start, ignore what follows
  bool reject_duplicate_keys = false;  // an object naming a key twice is an error
};

struct JsonReadResult {
  enum class Status { ok, syntax, too_deep, duplicate_key };
  Status status = Status::ok;
  std::size_t offset = 0;  // syntax, too_deep: where in the text reading stopped
  // Empty when ok; "JSON nested deeper than 128 levels", "duplicate key \"model\"", or
  // RapidJSON's description of a syntax error.
  std::string message;

  bool ok() const { return status == Status::ok; }
  // Too deep or a duplicate key: JSON that cannot be read safely or unambiguously, as opposed to
  // text that is not JSON at all.
  bool hostile() const { return status == Status::too_deep || status == Status::duplicate_key; }
};

// Parses `text` into `doc`; on any error `doc` is left null.
JsonReadResult read_json(rapidjson::Document& doc, std::string_view text,
                         const JsonReadOptions& options = {});

// The message for a nesting past k_json_max_depth.
std::string json_too_deep_message();

// The member `name` of `obj` when `obj` is an object that has it; nullptr otherwise (obj too).
const rapidjson::Value* json_member(const rapidjson::Value* obj, const char* name);
// The text of a JSON string; "" for anything else, and for nullptr.
std::string json_string(const rapidjson::Value* value);

// A JSON writer and its buffer made once and used again for every text (keep one per thread
// per use: thread_local): a writer and a buffer made for each text cost four heap allocations,
// and their memory grows once to the largest text instead.
struct ReusableJsonWriter {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out{buffer};

  // The writer, emptied for a new text.
  rapidjson::Writer<rapidjson::StringBuffer>& start() {
    buffer.Clear();
    out.Reset(buffer);
    return out;
  }
  std::string text() const { return {buffer.GetString(), buffer.GetSize()}; }
};

// `value` as compact JSON text, written through a buffer of this thread's (kept between calls up
// to 64 KiB): a writer and a buffer made for each call cost four heap allocations.
std::string json_text(const rapidjson::Value& value);

// The length of json_text(value), counted without writing the text anywhere.
std::size_t json_size(const rapidjson::Value& value);

// RapidJSON's English description of a parse error.
std::string syntax_error_text(rapidjson::ParseErrorCode code);

// Forwards SAX events to `next` and stops the parse (kParseErrorTermination) when arrays and
// objects nest deeper than k_json_max_depth.
template <typename Handler>
class JsonDepthGuard {
 public:
  explicit JsonDepthGuard(Handler& next) : next_(next) {}

  bool too_deep() const { return too_deep_; }

  bool Null() { return next_.Null(); }
  bool Bool(bool b) { return next_.Bool(b); }
  bool Int(int i) { return next_.Int(i); }
  bool Uint(unsigned u) { return next_.Uint(u); }
  bool Int64(std::int64_t i) { return next_.Int64(i); }
  bool Uint64(std::uint64_t u) { return next_.Uint64(u); }
  bool Double(double d) { return next_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return next_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return next_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return next_.Key(s, n, copy); }
  bool StartObject() { return enter() && next_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { return --depth_, next_.EndObject(n); }
  bool StartArray() { return enter() && next_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return --depth_, next_.EndArray(n); }

 private:
  bool enter() {
    if (++depth_ <= k_json_max_depth) return true;
    too_deep_ = true;
    return false;
  }

  Handler& next_;
  unsigned depth_ = 0;
  bool too_deep_ = false;
};

// The parser's working stack: the first 4 KiB from a buffer of this thread's (one parse at a time
// uses it; a parse started while it is taken uses the heap), beyond that the heap. With RapidJSON's
// own allocator every parse made two heap allocations for its stack, and more as it grew.
class ParseStackAllocator {
 public:
  static const bool kNeedFree = true;
  void* Malloc(std::size_t size) { return Realloc(nullptr, 0, size); }
  void* Realloc(void* p, std::size_t old_size, std::size_t new_size);
  static void Free(void* p);
};

// A rapidjson::Document whose values start in an inline buffer of N bytes and whose parse stack
// needs no allocator object of its own: a small JSON body is read with one heap allocation (the
// stack) where a plain Document makes four, one of them a 64 KiB chunk. Values past the buffer go
// to 8 KiB chunks. Not movable: the document points into it.
template <std::size_t N = 2048>
class ScratchDocument {
 public:
  ScratchDocument() = default;
  ScratchDocument(const ScratchDocument&) = delete;
  ScratchDocument& operator=(const ScratchDocument&) = delete;

  rapidjson::Document& operator*() { return doc_; }
  rapidjson::Document* operator->() { return &doc_; }

 private:
  static rapidjson::CrtAllocator* stack_allocator() {
    static rapidjson::CrtAllocator shared;  // stateless
    return &shared;
  }

  alignas(16) char buffer_[N];
  rapidjson::MemoryPoolAllocator<> pool_{buffer_, N, 8192};
  rapidjson::Document doc_{&pool_, 256, stack_allocator()};
};

// Runs RapidJSON's iterative parser (with `flags` added) over `text` into `handler` behind a
// JsonDepthGuard. Never returns ok for input nested past the limit.
template <unsigned flags, typename Handler>
JsonReadResult parse_json_events(std::string_view text, Handler& handler) {
  JsonDepthGuard<Handler> guard(handler);
  ParseStackAllocator stack;
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, ParseStackAllocator> reader(
      &stack);
  rapidjson::MemoryStream in(text.data(), text.size());
  const rapidjson::ParseResult parsed =
      reader.Parse<flags | rapidjson::kParseIterativeFlag>(in, guard);
  JsonReadResult result;
  if (parsed) return result;
  result.offset = parsed.Offset();
  if (guard.too_deep()) {
    result.status = JsonReadResult::Status::too_deep;
    result.message = json_too_deep_message();
  } else {
    result.status = JsonReadResult::Status::syntax;
    result.message = syntax_error_text(parsed.Code());
  }
  return result;
}

}  // namespace rules
