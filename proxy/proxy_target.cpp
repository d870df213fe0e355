#include "proxy/proxy_target.hpp"

#include <algorithm>
#include <charconv>

#include "rules/host_name.hpp"

namespace proxy {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Splits "host:port" at the last colon that is outside brackets.
std::optional<rules::HostPort> split_authority(std::string_view authority,
                                               std::optional<std::uint16_t> default_port,
                                               std::string* problem) {
  const auto fail = [&](std::string why) -> std::optional<rules::HostPort> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  const auto close = authority.rfind(']');
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && close != std::string_view::npos && colon < close)
    colon = std::string_view::npos;
  if (colon == std::string_view::npos && authority.find(':') != std::string_view::npos &&
      authority.front() != '[')
    return fail("IPv6 literal without brackets");  // ambiguous: where does the port start?
  std::optional<std::uint16_t> port = default_port;
  auto host_part = authority;
  if (colon != std::string_view::npos) {
    port = parse_port(authority.substr(colon + 1));
    host_part = authority.substr(0, colon);
  }
  if (!port) return fail("missing or invalid port");
  auto name = rules::normalize_host(host_part);
  if (!name.host) return fail(std::move(name.problem));
  return rules::HostPort{std::move(*name.host), *port};
}

}  // namespace

std::optional<rules::HostPort> parse_connect_target(std::string_view authority,
                                                    std::string* problem) {
  return split_authority(authority, std::nullopt, problem);
}

std::optional<AbsoluteTarget> parse_absolute_target(std::string_view uri, std::string* problem) {
  constexpr std::string_view scheme = "http://";
  if (uri.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(uri[i])) != scheme[i]) return std::nullopt;
  uri.remove_prefix(scheme.size());
  const auto end = uri.find_first_of("/?#");
  auto authority = uri.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo
  auto hp = split_authority(authority, 80, problem);
  if (!hp) return std::nullopt;
  std::string origin(end == std::string_view::npos ? std::string_view{} : uri.substr(end));
  if (const auto hash = origin.find('#'); hash != std::string::npos) origin.resize(hash);
  if (origin.empty() || origin.front() != '/') origin = "/" + origin;
  return AbsoluteTarget{std::move(*hp), std::move(origin)};
}

std::optional<BaseUrlTarget> parse_base_url_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  target.remove_prefix(1);
  const auto end = target.find_first_of("/?#");
  BaseUrlTarget out;
  out.prefix = std::string(target.substr(0, end));
  std::string rest(end == std::string_view::npos ? std::string_view{} : target.substr(end));
  if (const auto hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
  if (rest.empty() || rest.front() != '/') rest = "/" + rest;
  out.origin_form = std::move(rest);
  return out;
}

std::string authority_string(const rules::HostPort& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

}  // namespace proxy
