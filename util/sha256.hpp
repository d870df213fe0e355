#pragma once
// SHA-256 as lowercase hex, for key ids, receipt hashes and config digests. OpenSSL's one-shot
// SHA256() hashes on the stack; EVP_Digest, the non-deprecated way, allocates and frees a
// context (and its provider's) on every call, which made hashing a few dozen bytes cost heap
// allocations on every request.

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace util {

// The first `bytes` bytes (at most 32) of SHA-256(text), as 2 * bytes hex digits.
inline std::string sha256_hex(std::string_view text, std::size_t bytes = SHA256_DIGEST_LENGTH) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char k_hex[] = "0123456789abcdef";
  if (bytes > SHA256_DIGEST_LENGTH) bytes = SHA256_DIGEST_LENGTH;
  std::string out(2 * bytes, '0');
  for (std::size_t i = 0; i < bytes; ++i) {
    out[2 * i] = k_hex[digest[i] >> 4];
    out[2 * i + 1] = k_hex[digest[i] & 15];
  }
  return out;
}

}  // namespace util
