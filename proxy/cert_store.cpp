#include "proxy/cert_store.hpp"

#include <arpa/inet.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace proxy {

void X509Free::operator()(X509* x) const {
  X509_free(x);
}
void PkeyFree::operator()(EVP_PKEY* k) const {
  EVP_PKEY_free(k);
}

namespace {

namespace fs = std::filesystem;

struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("tollgate: " + what);
}

PkeyPtr new_p256_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("no randomness for a serial number");
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) fail(std::string("cannot build certificate extension ") + OBJ_nid2sn(nid));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void write_private_file(const std::string& path, const std::string& text, mode_t mode) {
  const auto tmp = path + ".tmp";
  std::error_code ignored;
  fs::remove(tmp, ignored);  // left over from an interrupted start
  {
    std::unique_ptr<FILE, FileClose> f(std::fopen(tmp.c_str(), "wx"));
    if (!f) fail("cannot create " + tmp);
    ::chmod(tmp.c_str(), mode);
    if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size())
      fail("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  OPENSSL_cleanse(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

void create_ca(const std::string& cert_path, const std::string& key_path) {
  for (const auto& p : {fs::path(cert_path).parent_path(), fs::path(key_path).parent_path()}) {
    if (p.empty() || fs::exists(p)) continue;
    fs::create_directories(p);
    fs::permissions(p, fs::perms::owner_all, fs::perm_options::replace);
  }
  auto key = new_p256_key();
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tollgate"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tollgate local CA"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), cert.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("cannot sign the CA certificate");
  write_private_file(key_path, pem_of(key.get()), 0600);
  write_private_file(cert_path, pem_of(cert.get()), 0644);
}

}  // namespace

struct CertStore::Entry {
  std::once_flag once;
  std::shared_ptr<const LeafCert> leaf;
};

bool CertStore::ensure_ca(const std::string& ca_cert_path, const std::string& ca_key_path) {
  const bool has_cert = fs::exists(ca_cert_path);
  const bool has_key = fs::exists(ca_key_path);
  if (has_cert && has_key) return false;
  if (has_cert != has_key)
    fail("only one of " + ca_cert_path + " and " + ca_key_path +
         " exists: restore the other or remove both to create a new CA");
  create_ca(ca_cert_path, ca_key_path);
  return true;
}

CertStore::CertStore(const std::string& ca_cert_path, const std::string& ca_key_path,
                     std::chrono::seconds leaf_validity)
    : ca_cert_path_(ca_cert_path), leaf_validity_(leaf_validity) {
  ensure_ca(ca_cert_path, ca_key_path);
  std::unique_ptr<FILE, FileClose> cf(std::fopen(ca_cert_path.c_str(), "r"));
  if (!cf) fail("cannot read " + ca_cert_path);
  ca_cert_.reset(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
  if (!ca_cert_) fail(ca_cert_path + " is not a PEM certificate");
  std::unique_ptr<FILE, FileClose> kf(std::fopen(ca_key_path.c_str(), "r"));
  if (!kf) fail("cannot read " + ca_key_path);
  ca_key_.reset(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
  if (!ca_key_) fail(ca_key_path + " is not a PEM private key");
  if (X509_check_private_key(ca_cert_.get(), ca_key_.get()) != 1)
    fail(ca_key_path + " is not the key of " + ca_cert_path);
}

CertStore::~CertStore() = default;

std::shared_ptr<const LeafCert> CertStore::leaf_for(const std::string& host) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    auto& slot = cache_[host];
    // Replace a leaf with less than a quarter of its validity left; clients in flight keep theirs.
    if (slot && slot->leaf &&
        slot->leaf->not_after - std::chrono::system_clock::now() < leaf_validity_ / 4)
      slot.reset();
    if (!slot) slot = std::make_shared<Entry>();
    entry = slot;
  }
  // Minting (key generation + signature) runs outside the map lock, once per entry.
  std::call_once(entry->once, [&] { entry->leaf = mint(host); });
  return entry->leaf;
}

std::shared_ptr<const LeafCert> CertStore::mint(const std::string& host) {
  auto leaf = std::make_shared<LeafCert>();
  leaf->key = new_p256_key();
  leaf->cert.reset(X509_new());
  X509* cert = leaf->cert.get();
  X509_set_version(cert, 2);
  set_random_serial(cert);
  // Backdated an hour: client clocks drift.
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(leaf_validity_.count()));
  X509_set_pubkey(cert, leaf->key.get());
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(ca_cert_.get()));
  const std::string san = (is_ip_literal(host) ? "IP:" : "DNS:") + host;
  add_ext(cert, ca_cert_.get(), NID_subject_alt_name, san.c_str());
  add_ext(cert, ca_cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, ca_cert_.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(cert, ca_cert_.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert, ca_cert_.get(), NID_subject_key_identifier, "hash");
  add_ext(cert, ca_cert_.get(), NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, ca_key_.get(), EVP_sha256()) == 0) fail("cannot sign a leaf for " + host);
  leaf->not_after = std::chrono::system_clock::now() + leaf_validity_;
  mints_.fetch_add(1);
  return leaf;
}

std::string ca_bundle_text(const std::string& ca_cert_path) {
  std::ostringstream out;
  if (std::ifstream roots(k_system_roots); roots) out << roots.rdbuf();
  std::ifstream ca(ca_cert_path);
  if (!ca) fail("cannot read " + ca_cert_path);
  std::string text = out.str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  std::ostringstream ca_text;
  ca_text << ca.rdbuf();
  return text + "# tollgate local CA\n" + ca_text.str();
}

void write_ca_bundle(const std::string& ca_cert_path, const std::string& out_path) {
  const auto text = ca_bundle_text(ca_cert_path);
  const auto dir = fs::path(out_path).parent_path();
  if (!dir.empty()) fs::create_directories(dir);
  const auto tmp = out_path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!(f << text)) fail("cannot write " + tmp);
  }
  fs::rename(tmp, out_path);
}

}  // namespace proxy
