#pragma once
// The one URL parser: "scheme://userinfo@host:port/path?query#fragment" split into its parts,
// for every URL tollgate reads (webhook receivers, the admin URL of `tollgate status`, estimate
// URLs, store URLs) and for the authority of a proxy request target. No normalisation beyond
// the scheme's case: callers that need a canonical host (the proxy) normalise it themselves.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace util {

struct Authority {
  std::string host;                   // IPv6 literals without their brackets
  std::optional<std::uint16_t> port;  // nullopt when none is written
  bool bracketed = false;             // written as "[...]" (an IPv6 literal, if anything)
};

// "host", "host:port", "[v6]" or "[v6]:port". nullopt, with the reason in *problem when given,
// for a port that is not 1-65535 in digits, an empty port after ':', an unclosed '[' and an
// IPv6 literal without brackets (where would its port start?).
inline std::optional<Authority> parse_authority(std::string_view text,
                                                std::string* problem = nullptr) {
  const auto fail = [&](const char* why) -> std::optional<Authority> {
    if (problem) *problem = why;
    return std::nullopt;
  };
  Authority out;
  std::string_view port;
  bool has_port = false;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing or invalid port");
    out.host = std::string(text.substr(1, close - 1));
    out.bracketed = true;
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("missing or invalid port");
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon)
      return fail("IPv6 literal without brackets");
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || port.size() > 5 || ec != std::errc{} || end != port.data() + port.size() ||
        value == 0 || value > 65535)
      return fail("missing or invalid port");
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

struct Url {
  std::string scheme;    // lower case; "" when the text names none ("api.openai.com/v1")
  std::string userinfo;  // "user:password" before '@'; "" when none
  Authority authority;
  std::string path;        // "/" when none is written
  std::string query;       // after '?', without it; the fragment is dropped
  bool has_query = false;  // a '?' was written (even with nothing after it)
  // "/path?query" as written (origin-form), the fragment dropped.
  std::string target() const { return has_query ? path + "?" + query : path; }
  std::uint16_t port_or(std::uint16_t fallback) const { return authority.port.value_or(fallback); }
};

// The scheme is optional; nullopt (the reason in *problem) when the authority is malformed or
// its host is empty.
inline std::optional<Url> parse_url(std::string_view text, std::string* problem = nullptr) {
  Url url;
  const auto delimiter = text.find_first_of("/?#");
  if (const auto scheme = text.find("://");
      scheme != std::string_view::npos &&
      (delimiter == std::string_view::npos || scheme < delimiter)) {
    for (const char c : text.substr(0, scheme))
      url.scheme.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    text.remove_prefix(scheme + 3);
  }
  const auto end = text.find_first_of("/?#");
  auto authority = text.substr(0, end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    url.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  auto parsed = parse_authority(authority, problem);
  if (!parsed) return std::nullopt;
  if (parsed->host.empty()) {
    if (problem) *problem = "no host";
    return std::nullopt;
  }
  url.authority = std::move(*parsed);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : text.substr(end);
  rest = rest.substr(0, rest.find('#'));
  const auto question = rest.find('?');
  url.path = std::string(rest.substr(0, question));
  if (url.path.empty() || url.path.front() != '/') url.path.insert(url.path.begin(), '/');
  if (question != std::string_view::npos) {
    url.has_query = true;
    url.query = std::string(rest.substr(question + 1));
  }
  return url;
}

}  // namespace util
