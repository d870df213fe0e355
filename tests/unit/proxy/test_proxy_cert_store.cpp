// CertStore: the CA it creates, the leaves it mints, and one mint per host under concurrency.
#include <doctest/doctest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "proxy/cert_store.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/tollgate-certs-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

// X509_verify_cert of `leaf` against `ca` as the only trust anchor, for the TLS server purpose.
int verify(X509* leaf, X509* ca, const char* host) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(param, host, 0);
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

std::string san_of(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string out;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS)
      out +=
          "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)));
    if (n->type == GEN_IPADD)
      out += "IP:" + std::to_string(ASN1_STRING_length(n->d.iPAddress)) + "bytes";
    out += ";";
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace

TEST_CASE("CertStore::CertStore, the CA") {
  TempDir dir;
  const auto cert = (dir.path / "ca" / "ca.crt").string();
  const auto key = (dir.path / "ca" / "ca.key").string();
  SUBCASE("created when both files are absent, key 0600 and folder 0700") {
    proxy::CertStore store(cert, key, 24h);
    struct stat st {};
    REQUIRE(::stat(key.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat((dir.path / "ca").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(X509_check_ca(store.ca_cert()) == 1);
    CHECK_FALSE(proxy::CertStore::ensure_ca(cert, key));  // exists now: kept
  }
  SUBCASE("refused when only one of the files exists") {
    fs::create_directories(dir.path / "ca");
    std::ofstream(cert) << "x";
    CHECK_THROWS_WITH_AS(proxy::CertStore(cert, key, 24h),
                         ("tollgate: only one of " + cert + " and " + key +
                          " exists: restore the other or remove both to create a new CA")
                             .c_str(),
                         std::runtime_error);
  }
  SUBCASE("the bundle holds the system roots and our CA") {
    proxy::CertStore store(cert, key, 24h);
    const auto bundle = proxy::ca_bundle_text(cert);
    std::ifstream f(cert);
    const std::string ca_pem((std::istreambuf_iterator<char>(f)), {});
    CHECK(bundle.size() > ca_pem.size());
    CHECK(bundle.substr(bundle.size() - ca_pem.size()) == ca_pem);
  }
}

TEST_CASE("CertStore::leaf_for, leaves") {
  TempDir dir;
  proxy::CertStore store((dir.path / "ca.crt").string(), (dir.path / "ca.key").string(), 7 * 24h);
  SUBCASE("a DNS leaf verifies against the CA, SAN is the host, EKU serverAuth, own key") {
    const auto leaf = store.leaf_for("api.openai.com");
    CHECK(verify(leaf->cert.get(), store.ca_cert(), "api.openai.com") == X509_V_OK);
    CHECK(verify(leaf->cert.get(), store.ca_cert(), "api.anthropic.com") ==
          X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(san_of(leaf->cert.get()) == "DNS:api.openai.com;");
    CHECK((X509_get_extended_key_usage(leaf->cert.get()) & XKU_SSL_SERVER) != 0);
    CHECK(X509_check_ca(leaf->cert.get()) == 0);
    CHECK(EVP_PKEY_eq(leaf->key.get(), X509_get0_pubkey(store.ca_cert())) != 1);
    CHECK(X509_check_private_key(leaf->cert.get(), leaf->key.get()) == 1);
    CHECK(X509_cmp_time(X509_get0_notBefore(leaf->cert.get()), nullptr) < 0);
  }
  SUBCASE("an IP target gets an IP SAN") {
    const auto leaf = store.leaf_for("127.0.0.1");
    CHECK(san_of(leaf->cert.get()) == "IP:4bytes;");
  }
  SUBCASE("cached: the same leaf the second time") {
    const auto a = store.leaf_for("api.keepa.com");
    const auto b = store.leaf_for("api.keepa.com");
    CHECK(a == b);
    CHECK(store.mint_count() == 1);
  }
  SUBCASE("32 threads asking for one new host mint once") {
    std::vector<std::shared_ptr<const proxy::LeafCert>> got(32);
    std::vector<std::thread> threads;
    for (int i = 0; i < 32; ++i)
      threads.emplace_back(
          [&, i] { got[i] = store.leaf_for("generativelanguage.googleapis.com"); });
    for (auto& t : threads) t.join();
    CHECK(store.mint_count() == 1);
    for (const auto& leaf : got) CHECK(leaf == got[0]);
  }
}
