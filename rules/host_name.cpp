#include "rules/host_name.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace rules {
namespace {

constexpr std::size_t k_max_name = 253;
constexpr std::size_t k_max_label = 63;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HostName refused(std::string problem) {
  return HostName{std::nullopt, std::move(problem)};
}

HostName ipv6_literal(std::string_view raw) {
  if (raw.size() < 4 || raw.back() != ']') return refused("unterminated IPv6 literal");
  std::string inner(raw.substr(1, raw.size() - 2));
  std::transform(inner.begin(), inner.end(), inner.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  in6_addr address{};
  // Zone identifiers ("%25eth0") name an interface of this host: never a proxy target.
  if (::inet_pton(AF_INET6, inner.c_str(), &address) != 1)
    return refused("'" + inner + "' is not an IPv6 address");
  return HostName{std::move(inner), {}};
}

}  // namespace

HostName normalize_host(std::string_view raw) {
  if (raw.empty()) return refused("empty host");
  if (raw.front() == '[') return ipv6_literal(raw);
  std::string host;
  host.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      host += raw[i];
      continue;
    }
    const int high = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
    const int low = i + 2 < raw.size() ? hex_value(raw[i + 2]) : -1;
    if (high < 0 || low < 0) return refused("invalid %-escape in host");
    host += static_cast<char>(high * 16 + low);
    i += 2;
  }
  for (char& c : host) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) return refused("non-ASCII host name (send it as punycode, xn--...)");
    c = static_cast<char>(std::tolower(byte));
  }
  // "api.openai.com." is the fully qualified spelling of the same name.
  if (host.size() > 1 && host.back() == '.') host.pop_back();
  if (host.size() > k_max_name) return refused("host name longer than 253 characters");
  std::size_t label = 0;
  for (const char c : host) {
    const bool name_char = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (c == '.') {
      if (label == 0) return refused("empty label in host name");
      label = 0;
    } else if (!name_char) {
      if (c == '%') return refused("'%' in host after decoding");
      if (c < 0x20 || c == 0x7f) return refused("control character in host name");
      return refused("character '" + std::string(1, c) + "' in host name");
    } else if (++label > k_max_label) {
      return refused("host name label longer than 63 characters");
    }
  }
  if (label == 0) return refused("empty label in host name");
  return HostName{std::move(host), {}};
}

}  // namespace rules
