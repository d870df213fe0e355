#pragma once
// The tollgate CA and the leaf certificates it mints for intercepted hosts (DESIGN §11): one
// ECDSA P-256 key pair per leaf (never the CA's), SAN = the host only, EKU serverAuth, short
// validity. Leaves are cached in memory; concurrent first requests for one host mint once.

#include <openssl/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace proxy {

struct X509Free {
  void operator()(X509* x) const;
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct LeafCert {
  X509Ptr cert;
  PkeyPtr key;
  std::chrono::system_clock::time_point not_after;
};

class CertStore {
 public:
  // Loads the CA from the two PEM files, creating both (dirs 0700, key 0600) when both are
  // absent. Throws std::runtime_error when only one exists or either cannot be read.
  CertStore(const std::string& ca_cert_path, const std::string& ca_key_path,
            std::chrono::seconds leaf_validity);
  ~CertStore();

  // Creates the CA files when both are absent; true when it created them.
  static bool ensure_ca(const std::string& ca_cert_path, const std::string& ca_key_path);

  // The leaf for `host` (a DNS name or an IP literal), minted on first use and again when less
  // than a quarter of its validity is left. Thread-safe.
  std::shared_ptr<const LeafCert> leaf_for(const std::string& host);

  std::size_t mint_count() const { return mints_.load(); }
  X509* ca_cert() const { return ca_cert_.get(); }
  const std::string& ca_cert_path() const { return ca_cert_path_; }

 private:
  struct Entry;
  std::shared_ptr<const LeafCert> mint(const std::string& host);

  std::string ca_cert_path_;
  X509Ptr ca_cert_;
  PkeyPtr ca_key_;
  std::chrono::seconds leaf_validity_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> cache_;
  std::atomic<std::size_t> mints_{0};
};

// The system root bundle (Debian's ca-certificates) followed by the CA at `ca_cert_path`:
// REQUESTS_CA_BUNDLE and SSL_CERT_FILE replace the default roots, so clients need both.
std::string ca_bundle_text(const std::string& ca_cert_path);

// Writes ca_bundle_text atomically (temp file + rename). Throws std::runtime_error.
void write_ca_bundle(const std::string& ca_cert_path, const std::string& out_path);

inline constexpr const char* k_system_roots = "/etc/ssl/certs/ca-certificates.crt";

}  // namespace proxy
