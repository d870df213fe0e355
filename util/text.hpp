#pragma once
// Small text helpers every room needs (no Asio, no allocation).

#include <algorithm>
#include <string_view>

namespace util {

// ASCII case-insensitive equality (header names, codings, schemes).
inline bool iequals(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace util
