#pragma once
// Cross-origin access (CORS) for apps in a browser, in base-URL mode (DESIGN §14). A page that
// calls http://127.0.0.1:8080/openai/... sees tollgate as the server, so tollgate, not the
// provider, answers the page's preflights and marks every response to it, by
// base_url.cors_origins. CORS only decides whether a page may *read* a response; a request from a
// page that may not is refused here, before it can be priced, forwarded or billed.
// Plain types: no Asio.

#include <string>
#include <string_view>

#include "rules/config.hpp"
#include "rules/request_view.hpp"

namespace proxy {

// The CORS fields of one request as received ("" when absent).
struct CorsRequest {
  std::string_view method;                   // "OPTIONS" for a preflight
  std::string_view host;                     // Host: the listener as the client named it
  std::string_view origin;                   // Origin: sent by a browser on cross-origin calls
  std::string_view request_method;           // Access-Control-Request-Method (preflights)
  std::string_view request_headers;          // Access-Control-Request-Headers (preflights)
  std::string_view request_private_network;  // Access-Control-Request-Private-Network
};

struct CorsVerdict {
  enum class Kind {
    forward,    // no Origin, or an allowed one, and not a preflight: serve it, mark the response
    preflight,  // a preflight from an allowed origin: answer 204 with `headers`, never forward
    refuse,     // a preflight or a request from an origin not allowed: 403 `message`, unmarked
  };
  Kind kind = Kind::forward;
  rules::HeaderList headers;  // preflight: Access-Control-Allow-*, Max-Age and Vary
  std::string message;        // refuse: why, naming base_url.cors_origins
};

class CorsPolicy {
 public:
  // How long a browser may reuse a preflight's answer (Chromium caps it at 7200).
  static constexpr int k_max_age_seconds = 600;

  explicit CorsPolicy(const rules::BaseUrlConfig& config) : config_(config) {}

  // True when pages of `origin` may call the base URLs: cors_origins lists it, or is "*".
  bool allows(std::string_view origin) const;

  // What to do with a base-URL request before anything else: before its provider is looked up
  // and before its proxy credentials are checked, since a preflight carries none. An Origin that
  // names the listener itself, by an IP address or localhost ("http://127.0.0.1:8080" with that
  // Host), is not a page's: some non-browser clients send it (Python's websocket-client does by
  // default), and no page can have it, since tollgate serves none; a name that DNS resolves is
  // not exempt, or a page could rebind its own name to 127.0.0.1 and pass.
  CorsVerdict decide(const CorsRequest& request) const;

  // Makes `response` (forwarded, or tollgate's own reply) one the page of `origin` may read. It
  // removes the provider's Access-Control-* fields (the provider's policy is about its own
  // origin, and a second Access-Control-Allow-Origin fails in every browser) and, for an allowed
  // origin, adds Access-Control-Allow-Origin (the origin, or * for "*"),
  // and Access-Control-Expose-Headers naming every field of `response` a script could not read
  // otherwise (x-tollgate-*, retry-after, x-should-retry, the provider's rate-limit fields). While
  // cors_origins names origins, every response also says Vary: Origin. Never
  // Access-Control-Allow-Credentials: API keys travel in headers, not cookies.
  void mark(std::string_view origin, rules::HeaderList& response) const;

 private:
  bool any_origin() const;  // cors_origins: ["*"]

  const rules::BaseUrlConfig& config_;
};

}  // namespace proxy
