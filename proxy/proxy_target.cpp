#include "proxy/proxy_target.hpp"

#include <algorithm>
#include <charconv>

#include "rules/host_name.hpp"
#include "util/url.hpp"

namespace proxy {
namespace {

// The authority's host as rules::normalize_host spells it, and its port (or `default_port`).
std::optional<rules::HostPort> host_port(const util::Authority& authority,
                                         std::optional<std::uint16_t> default_port,
                                         std::string* problem) {
  const auto fail = [&](std::string why) -> std::optional<rules::HostPort> {
    if (problem) *problem = std::move(why);
    return std::nullopt;
  };
  const auto port = authority.port ? authority.port : default_port;
  if (!port) return fail("missing or invalid port");
  // normalize_host wants the bracketed form of an IPv6 literal, as a request target spells it.
  auto name =
      rules::normalize_host(authority.bracketed ? "[" + authority.host + "]" : authority.host);
  if (!name.host) return fail(std::move(name.problem));
  return rules::HostPort{std::move(*name.host), *port};
}

}  // namespace

std::optional<rules::HostPort> parse_connect_target(std::string_view authority,
                                                    std::string* problem) {
  const auto parsed = util::parse_authority(authority, problem);
  if (!parsed) return std::nullopt;
  return host_port(*parsed, std::nullopt, problem);
}

std::optional<AbsoluteTarget> parse_absolute_target(std::string_view uri, std::string* problem) {
  constexpr std::string_view scheme = "http://";
  if (uri.size() <= scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(uri[i])) != scheme[i]) return std::nullopt;
  const auto rest = uri.substr(scheme.size());
  if (rest.substr(0, rest.find_first_of("/?#")).find('@') != std::string_view::npos)
    return std::nullopt;  // no userinfo
  const auto url = util::parse_url(uri, problem);
  if (!url) return std::nullopt;
  auto hp = host_port(url->authority, 80, problem);
  if (!hp) return std::nullopt;
  return AbsoluteTarget{std::move(*hp), url->target()};
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

void append_authority(std::string& out, std::string_view host, std::uint16_t port, bool with_port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  char digits[8];
  const auto end = std::to_chars(digits, digits + sizeof digits, port).ptr;
  // Exactly the size it will have: a short one stays in the string's own buffer.
  out.reserve(out.size() + host.size() + (v6 ? 2 : 0) +
              (with_port ? 1 + static_cast<std::size_t>(end - digits) : 0));
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  if (with_port) out.append(":").append(digits, end);
}

std::string authority_string(std::string_view host, std::uint16_t port, bool with_port) {
  std::string out;
  append_authority(out, host, port, with_port);
  return out;
}

std::string authority_string(const rules::HostPort& hp, bool with_port) {
  return authority_string(hp.host, hp.port, with_port);
}

}  // namespace proxy
