#pragma once
// budget::ReceiptKey — the Ed25519 key (OpenSSL) that signs receipts, or, public half only, checks
// them offline. Thread-safe: each call uses its own OpenSSL context.

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

namespace budget {

class ReceiptKey {
 public:
  // The private key in the PEM file at `path`, created there (mode 0600) when absent. Throws
  // std::runtime_error when it cannot be read, is not Ed25519, or cannot be written.
  static std::shared_ptr<const ReceiptKey> load_or_create(const std::string& path);
  // A public key in PEM (as GET /v1/receipts/key serves it) or a private key; nullptr, with the
  // reason in `error`, when `pem` holds no Ed25519 key.
  static std::shared_ptr<const ReceiptKey> from_pem(std::string_view pem, std::string* error);

  explicit ReceiptKey(EVP_PKEY* key, bool has_private) : key_(key), private_(has_private) {}
  ~ReceiptKey();
  ReceiptKey(const ReceiptKey&) = delete;
  ReceiptKey& operator=(const ReceiptKey&) = delete;

  // The base64 Ed25519 signature of `message`; "" when this is a public key only.
  std::string sign(std::string_view message) const;
  // True when `signature` (base64) is this key's signature of `message`.
  bool verify(std::string_view message, std::string_view signature) const;
  // The public key as PEM (SubjectPublicKeyInfo).
  std::string public_pem() const;

 private:
  EVP_PKEY* key_;
  bool private_;
};

}  // namespace budget
