#include "rules/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace rules {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of parameter `key` in "type; a=b; key=\"value\"" (quotes removed), or nullopt.
std::optional<std::string_view> parameter(std::string_view header, std::string_view key) {
  std::size_t at = header.find(';');
  while (at != std::string_view::npos) {
    const std::size_t next = header.find(';', at + 1);
    std::string_view item = trim(header.substr(
        at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1));
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && iequals(trim(item.substr(0, eq)), key)) {
      std::string_view value = trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return value;
    }
    at = next;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> multipart_field(std::string_view content_type,
                                                std::string_view body, std::string_view name) {
  const auto semicolon = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semicolon)), "multipart/form-data")) return std::nullopt;
  const auto boundary = parameter(content_type, "boundary");
  if (!boundary || boundary->empty()) return std::nullopt;
  const std::string delimiter = "--" + std::string(*boundary);
  // Each part starts after a delimiter line and ends before "\r\n" + the next delimiter.
  std::size_t at = body.find(delimiter);
  while (at != std::string_view::npos) {
    std::size_t start = at + delimiter.size();
    if (body.substr(start, 2) == "--") return std::nullopt;  // the closing delimiter
    if (body.substr(start, 2) == "\r\n") start += 2;
    const std::size_t headers_end = body.find("\r\n\r\n", start);
    if (headers_end == std::string_view::npos) return std::nullopt;
    const std::size_t content = headers_end + 4;
    const std::size_t end = body.find("\r\n" + delimiter, content);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view headers = body.substr(start, headers_end - start);
    for (std::size_t line = 0; line < headers.size();) {
      std::size_t eol = headers.find("\r\n", line);
      if (eol == std::string_view::npos) eol = headers.size();
      const std::string_view field = headers.substr(line, eol - line);
      const auto colon = field.find(':');
      if (colon != std::string_view::npos &&
          iequals(trim(field.substr(0, colon)), "content-disposition") &&
          parameter(field.substr(colon + 1), "name") == name)
        return body.substr(content, end - content);
      line = eol + 2;
    }
    at = end + 2;
  }
  return std::nullopt;
}

}  // namespace rules
