#pragma once
// The records table's budgets column as the journal writes it (a JSON array of budget instance
// names, sqlite_records.cpp's budgets_text), read back by the records' reader and by the
// roll-up (sqlite_rollup.cpp) alike. Internal to budget/store/.

#include <rapidjson/reader.h>

#include <string_view>

#include "rules/json_reader.hpp"

namespace budget {

// Hands each string of the array in `text` to `each` as it is read, without a string of its
// own; anything else in it is skipped.
template <typename F>
void for_each_budget(std::string_view text, const F& each) {
  struct Strings : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Strings> {
    explicit Strings(const F& f) : each(f) {}
    bool String(const char* s, rapidjson::SizeType n, bool) {
      each(std::string_view(s, n));
      return true;
    }
    const F& each;
  } handler(each);
  rules::parse_json_events<0>(text, handler);
}

}  // namespace budget
