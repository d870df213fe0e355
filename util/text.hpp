#pragma once
// Small text helpers every room needs (no Asio; nothing allocates but appending to a string).

#include <algorithm>
#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace util {

// ASCII case-insensitive equality (header names, codings, schemes).
inline bool iequals(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// The decimal digits of an integer, formatted on the stack: Decimal(42).view() == "42".
class Decimal {
 public:
  template <std::integral T>
  explicit Decimal(T v)
      : size_(static_cast<std::size_t>(std::to_chars(digits_, digits_ + sizeof digits_, v).ptr -
                                       digits_)) {}
  std::string_view view() const { return {digits_, size_}; }

 private:
  char digits_[24];
  std::size_t size_;
};

// Appends the decimal digits of `v` to `out` (no temporary string).
template <std::integral T>
void append_decimal(std::string& out, T v) {
  out += Decimal(v).view();
}

}  // namespace util
