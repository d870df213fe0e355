#pragma once
// The one spelling of a host name that tollgate compares: provider matching, the SNI check,
// upstream.resolve keys and the network policy all see the host as normalize_host returns it,
// so that "API.OpenAI.com." cannot pass for a host no provider owns.

#include <optional>
#include <string>
#include <string_view>

namespace rules {

struct HostName {
  std::optional<std::string> host;  // canonical: lower case, no trailing dot, no brackets
  std::string problem;              // why the host was refused, when !host
};

// A host as written in a request target (without port; IPv6 literals in brackets): %-escapes
// decoded, lower-cased, one trailing dot removed. Refused: non-ASCII bytes (IDNA names must be
// sent as punycode, xn--...), a '%' left after decoding, characters other than a-z 0-9 . - _,
// empty or over-long labels, and bracketed text that is not an IPv6 address.
HostName normalize_host(std::string_view raw);

}  // namespace rules
