#pragma once
// Header rules of a forwarding proxy (RFC 9110 §7.6.1), on the plain header list the hooks see:
// hop-by-hop fields, the Accept-Encoding we can decode, and proxy credentials.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "rules/request_view.hpp"
#include "util/text.hpp"

namespace proxy {

// Removes Connection and every field it names, Proxy-Connection, Keep-Alive, TE, Trailer,
// Transfer-Encoding (the relay re-frames bodies), Proxy-Authorization, Proxy-Authenticate and
// Upgrade. With `keep_upgrade` (a websocket handshake), Upgrade and `Connection: upgrade` stay.
void remove_hop_by_hop(rules::HeaderList& headers, bool keep_upgrade = false);

// The upstream Accept-Encoding: the client's codings that we can decode (gzip, deflate), in the
// client's order; "identity" when none is left or `identity_only`.
std::string narrow_accept_encoding(std::string_view client_value, bool identity_only);

// True when the value of a Connection or Upgrade field lists `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token);

struct BasicCredentials {
  std::string user, password;
};
// "Basic base64(user:password)"; nullopt for any other scheme or malformed base64.
std::optional<BasicCredentials> parse_basic_credentials(std::string_view authorization);

}  // namespace proxy

namespace proxy {

// The client user a Proxy-Authorization value proves; nullopt = refuse (407). Credentials that
// are offered are checked against `users` whether or not auth is required (a wrong secret, an
// unknown user or a value that is not Basic is refused), so that no client can spend from another
// user's per: client budgets by naming it. No Proxy-Authorization is "" (anonymous) unless
// require_auth; with no users to check against, a name proves nothing and is "" too.
std::optional<std::string> authorize_client(const std::map<std::string, std::string>& users,
                                            bool require_auth,
                                            std::string_view proxy_authorization);

}  // namespace proxy
