#include "proxy/proxy_target.hpp"

#include <algorithm>
#include <charconv>

namespace proxy {
namespace {

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// host part of an authority, without the port: a name, an IPv4 literal, or [IPv6].
std::optional<std::string> parse_host(std::string_view host) {
  if (host.empty()) return std::nullopt;
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.front() == '[') {
    if (out.size() < 3 || out.back() != ']') return std::nullopt;
    out = out.substr(1, out.size() - 2);
    const bool ok = std::all_of(out.begin(), out.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
    if (!ok || out.find(':') == std::string::npos) return std::nullopt;
    return out;
  }
  if (!std::all_of(out.begin(), out.end(), valid_host_char)) return std::nullopt;
  return out;
}

// Splits "host:port" at the last colon that is outside brackets.
std::optional<rules::HostPort> split_authority(std::string_view authority,
                                               std::optional<std::uint16_t> default_port) {
  const auto close = authority.rfind(']');
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && close != std::string_view::npos && colon < close)
    colon = std::string_view::npos;
  if (colon == std::string_view::npos && authority.find(':') != std::string_view::npos &&
      authority.front() != '[')
    return std::nullopt;  // a bare IPv6 literal without brackets is ambiguous
  std::optional<std::uint16_t> port = default_port;
  auto host_part = authority;
  if (colon != std::string_view::npos) {
    port = parse_port(authority.substr(colon + 1));
    host_part = authority.substr(0, colon);
  }
  if (!port) return std::nullopt;
  auto host = parse_host(host_part);
  if (!host) return std::nullopt;
  return rules::HostPort{std::move(*host), *port};
}

}  // namespace

std::optional<rules::HostPort> parse_connect_target(std::string_view authority) {
  return split_authority(authority, std::nullopt);
}

std::optional<AbsoluteTarget> parse_absolute_target(std::string_view uri) {
  constexpr std::string_view scheme = "http://";
  if (uri.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(uri[i])) != scheme[i]) return std::nullopt;
  uri.remove_prefix(scheme.size());
  const auto end = uri.find_first_of("/?#");
  auto authority = uri.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
  auto hp = split_authority(authority, 80);
  if (!hp) return std::nullopt;
  std::string origin(end == std::string_view::npos ? std::string_view{} : uri.substr(end));
  if (const auto hash = origin.find('#'); hash != std::string::npos) origin.resize(hash);
  if (origin.empty() || origin.front() != '/') origin = "/" + origin;
  return AbsoluteTarget{std::move(*hp), std::move(origin)};
}

std::string authority_string(const rules::HostPort& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

}  // namespace proxy
