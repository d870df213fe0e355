#include "proxy/tls_contexts.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "rules/host_name.hpp"

namespace proxy {
namespace {

constexpr unsigned char k_alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  // Only HTTP/1.1 is relayed: a client offering h2 and http/1.1 gets http/1.1; one that offers
  // neither gets no ALPN at all (and speaks HTTP/1.1 by default).
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, k_alpn_http11, sizeof k_alpn_http11, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int sni_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int check_sni(SSL* ssl, int* alert, void*) {
  const auto* expected = static_cast<const std::string*>(SSL_get_ex_data(ssl, sni_index()));
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!sni || !expected) return SSL_TLSEXT_ERR_OK;  // IP targets: clients send no SNI
  // The CONNECT host was normalised (rules/host_name.hpp): so is the name the client sends.
  const auto name = rules::normalize_host(sni);
  if (name.host && *name.host == *expected) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::unique_ptr<net::ssl::context> make_intercept_tls() {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
  SSL_CTX_set_tlsext_servername_callback(native, check_sni);
  // Idle intercepted connections give their TLS buffers back (DESIGN §10: <= 40 KB each).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

std::unique_ptr<net::ssl::context> make_upstream_tls(const std::string& upstream_trust) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_alpn_protos(native, k_alpn_http11, sizeof k_alpn_http11);
  // Pooled upstream connections wait idle too: their record buffers go back while they do.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx->set_verify_mode(net::ssl::verify_peer);
  if (upstream_trust.empty() || upstream_trust == "system") {
    ctx->set_default_verify_paths();
  } else {
    net::error_code ec;
    ctx->load_verify_file(upstream_trust, ec);
    if (ec)
      throw std::runtime_error("tollgate: tls.upstream_trust: cannot load " + upstream_trust +
                               ": " + ec.message());
  }
  return ctx;
}

void expect_sni(SSL* ssl, const std::string* connect_host) {
  SSL_set_ex_data(ssl, sni_index(), const_cast<std::string*>(connect_host));
}

bool prepare_upstream_ssl(SSL* ssl, const std::string& host) {
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace proxy
