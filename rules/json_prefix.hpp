#pragma once
// Reading what kind of message a JSON object is from its first bytes, before the rest has
// arrived: a realtime relay decides from `"type":"response.create"` whether to hold a message
// back or let it stream through, without waiting for (or copying) megabytes of base64 audio.

#include <string>
#include <string_view>

namespace rules {

struct PrefixScan {
  enum class Status {
    found,   // `value` is the answer
    more,    // the text ends before the answer: look again with more of it
    absent,  // the object has no such member (or the text is not a JSON object)
  };
  Status status = Status::more;
  std::string value;
};

// The string value of the top-level member `key` of the JSON object `text` begins with. Nested
// members of that name are skipped; a member whose value is not a string is absent.
PrefixScan scan_top_level_string(std::string_view text, std::string_view key);

// The name of the first member of the JSON object `text` begins with (Gemini Live's messages are
// {"setup": ...}, {"serverContent": ...}).
PrefixScan scan_first_key(std::string_view text);

}  // namespace rules
