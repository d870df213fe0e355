#pragma once
// The origin of a web page (RFC 6454) as a browser writes it in the Origin field, for
// base_url.cors_origins: the one spelling a request's Origin is compared with, byte for byte.

#include <optional>
#include <string>
#include <string_view>

namespace rules {

struct WebOrigin {
  std::optional<std::string> origin;  // "http://localhost:3000": scheme and host lower case
  std::string problem;                // why the text is not an origin a browser sends, when !origin
};

// "scheme://host[:port]" with scheme http or https, the host as normalize_host accepts it and the
// port only when it is not the scheme's default (a browser leaves 80 and 443 out). Refused, each
// with a suggestion where there is one: a path (even "/"), a query, user info, another scheme, a
// default port, and "null" (the origin of every sandboxed page and file:// document).
WebOrigin parse_web_origin(std::string_view text);

}  // namespace rules
