#pragma once
// Step 0 of an exchange (DESIGN §1): the request head, before any body is read. Who the client
// is (proxy authentication) and whether tollgate may reach the host and port at all
// (tunnel.allowed_ports, tunnel.unknown_hosts) are decided here, once, for a CONNECT, a
// plain-HTTP absolute-form request and a base-URL request alike. A refusal here is answered
// before the body is read, so the connection then closes if a body is still on the wire.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"
#include "rules/request_view.hpp"

namespace proxy {

// How the head reached tollgate (a request inside an intercepted CONNECT is not checked again:
// its CONNECT was).
enum class HeadKind {
  connect,     // CONNECT host:port
  plain_http,  // GET http://host[:port]/path
  base_url,    // POST /openai/v1/... (DESIGN §14): the host is the provider's first
};

struct HeadRequest {
  HeadKind kind = HeadKind::connect;
  std::string_view host;
  std::uint16_t port = 443;
  const rules::Provider* provider = nullptr;  // the host's provider, resolved once by the caller
  std::string_view proxy_authorization;
};

struct HeadRefusal {
  int status = 403;
  std::string message;  // without the "tollgate: " prefix
  std::string type;     // error type for the JSON body: authentication_error | forbidden
  rules::HeaderList headers;
};

struct HeadVerdict {
  std::string user;                    // the authenticated client user ("" = anonymous)
  std::optional<HeadRefusal> refusal;  // set: answer it and go no further
};

// The checks in order: proxy authentication (407), the port (403), the unknown-host rule (403).
HeadVerdict check_head(const rules::Config& config, const HeadRequest& request);

// tunnel.allowed_ports for the port of a CONNECT or, with `plain_http`, of an absolute-form
// request (which may also use 80, the port of its scheme): "" when allowed, else the refusal.
std::string port_problem(const std::vector<std::uint16_t>& allowed_ports, std::uint16_t port,
                         bool plain_http);

}  // namespace proxy
