#include "rules/web_origin.hpp"

#include <algorithm>
#include <charconv>

#include "rules/host_name.hpp"

namespace rules {
namespace {

WebOrigin refused(std::string problem) {
  return WebOrigin{std::nullopt, std::move(problem)};
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

WebOrigin parse_web_origin(std::string_view text) {
  if (text == "null")
    return refused(
        "'null' is the origin of every sandboxed page and file:// document, so any page can "
        "send it; serve the app from an http:// origin such as http://localhost:3000");
  const auto colon = text.find("://");
  const auto scheme = lower(text.substr(0, colon));
  if (colon == std::string_view::npos || (scheme != "http" && scheme != "https"))
    return refused(
        "an origin is http:// or https://, a host and an optional port, like "
        "'http://localhost:3000'");
  auto rest = text.substr(colon + 3);
  if (const auto end = rest.find_first_of("/?#"); end != std::string_view::npos)
    return refused("an origin has no path (did you mean '" +
                   std::string(text.substr(0, colon + 3)) + std::string(rest.substr(0, end)) +
                   "'?)");
  if (rest.find('@') != std::string_view::npos) return refused("an origin has no user name");
  // The port follows the last colon outside an IPv6 literal's brackets.
  auto port_at = rest.rfind(':');
  if (const auto close = rest.rfind(']'); close != std::string_view::npos && port_at < close)
    port_at = std::string_view::npos;
  std::string_view host = rest.substr(0, port_at), port;
  if (port_at != std::string_view::npos) port = rest.substr(port_at + 1);
  auto name = normalize_host(host);
  if (!name.host) return refused(name.problem);
  std::string out = scheme + "://";
  out += name.host->find(':') != std::string::npos ? "[" + *name.host + "]" : *name.host;
  if (port_at != std::string_view::npos) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
        value > 65535)
      return refused("'" + std::string(port) + "' is not a port");
    if (value == (scheme == "http" ? 80u : 443u))
      return refused("a browser leaves the default port out (did you mean '" + out + "'?)");
    out += ":" + std::to_string(value);
  }
  return WebOrigin{std::move(out), {}};
}

}  // namespace rules
