#pragma once
// Request targets a forward proxy receives: CONNECT's authority-form and the absolute-form of
// plain-HTTP requests.

#include <optional>
#include <string>
#include <string_view>

#include "rules/config.hpp"

namespace proxy {

// "host:port" or "[v6]:port" -> host (as rules::normalize_host spells it) and port; nullopt for
// a missing or invalid port (0, > 65535, not digits) or a host normalize_host refuses, with the
// reason in *problem when given.
std::optional<rules::HostPort> parse_connect_target(std::string_view authority,
                                                    std::string* problem = nullptr);

struct AbsoluteTarget {
  rules::HostPort authority;  // port 80 when the URI names none
  std::string origin_form;    // "/path?query" ("/" when empty)
};
// "http://host[:port]/path?query", the host through the same normalisation as a CONNECT's;
// nullopt for other schemes (https must use CONNECT) or junk (the host's problem in *problem).
std::optional<AbsoluteTarget> parse_absolute_target(std::string_view uri,
                                                    std::string* problem = nullptr);

struct BaseUrlTarget {
  std::string prefix;       // the first path segment: "openai"
  std::string origin_form;  // the rest, as the provider's host is asked it: "/v1/models?x=1"
};
// An origin-form target in base-URL mode (DESIGN §14): "/openai/v1/models?x=1" -> "openai" and
// "/v1/models?x=1" ("/openai" alone -> "/"); nullopt when it does not start with '/'.
std::optional<BaseUrlTarget> parse_base_url_target(std::string_view target);

// "host:port", with brackets around IPv6 literals; "host" alone with `with_port` false.
std::string authority_string(const rules::HostPort& hp, bool with_port = true);
std::string authority_string(std::string_view host, std::uint16_t port, bool with_port = true);
// The same, appended to `out` (a buffer kept by the caller: no allocation once it is grown).
void append_authority(std::string& out, std::string_view host, std::uint16_t port,
                      bool with_port = true);

}  // namespace proxy
