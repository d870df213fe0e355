#pragma once
// The plain view of one HTTP exchange that rules/ and budget/ work on: no sockets, no Asio.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rules {

struct Provider;  // rules/config.hpp

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; returns the first value or an empty view.
std::string_view find_header(const HeaderList& headers, std::string_view name);

struct RequestView {
  std::string_view method;  // "POST"
  std::string_view host;    // "api.openai.com" (lower case, no port)
  std::string_view path;    // "/v1/chat/completions" (no query)
  std::string_view query;   // "key=...&asin=A,B" (no leading '?'), raw (not decoded)
  const HeaderList* headers = nullptr;
  std::string_view body;  // the whole request body (priced requests are read fully first)
  // The host's provider when the caller resolved it already (an exchange resolves it once, at
  // its head); nullptr: looked up from `host`.
  const Provider* provider = nullptr;
  // Build Priced::explanation (`tollgate estimate`, the admin API). The proxy, which never reads
  // it, leaves it off: a dozen strings per request nobody asked for.
  bool explain = true;

  std::string_view header(std::string_view name) const {
    return headers ? find_header(*headers, name) : std::string_view{};
  }
};

struct ResponseHeadView {
  int status = 0;
  const HeaderList* headers = nullptr;

  std::string_view header(std::string_view name) const {
    return headers ? find_header(*headers, name) : std::string_view{};
  }
};

}  // namespace rules
