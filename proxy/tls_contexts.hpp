#pragma once
// The two TLS contexts of the proxy, built once at start: the server side of interception
// (leaf per connection, ALPN http/1.1, SNI must name the CONNECT host) and the verified client
// side towards upstreams.

#include <memory>
#include <string>

#include "proxy/net.hpp"

namespace proxy {

// Server context for intercepted connections: a client hello whose SNI names another host than
// the one given to expect_sni is refused with an unrecognized_name alert.
std::unique_ptr<net::ssl::context> make_intercept_tls();

// Before the handshake: the CONNECT host, which must outlive the handshake. (Not the SSL app
// data: Asio keeps its verify callback there.)
void expect_sni(SSL* ssl, const std::string* connect_host);

// Client context: TLS 1.2+, peer verification against the system roots ("system") or the PEM
// bundle at `upstream_trust`, ALPN http/1.1. Throws std::runtime_error for an unreadable bundle.
std::unique_ptr<net::ssl::context> make_upstream_tls(const std::string& upstream_trust);

// Per connection: SNI (not for IP literals) and the name the certificate must match.
bool prepare_upstream_ssl(SSL* ssl, const std::string& host);

}  // namespace proxy
