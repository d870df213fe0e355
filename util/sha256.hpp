#pragma once
// SHA-256 as lowercase hex, for key ids, receipt hashes and config digests. OpenSSL 3's
// SHA256_Init/Update/Final hash in a context on the stack; EVP_Digest (and, in OpenSSL 3, the
// one-shot SHA256(), which goes through it) fetches the algorithm and allocates and frees a
// context for every call: heap allocations on every request for a few dozen bytes hashed.

#include <openssl/sha.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace util {

// The first `bytes` bytes (at most 32) of SHA-256(text), as 2 * bytes hex digits.
inline std::string sha256_hex(std::string_view text, std::size_t bytes = SHA256_DIGEST_LENGTH) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  // Deprecated since OpenSSL 3.0 in favour of EVP, and still the way to hash without the heap.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  SHA256_CTX context;
  SHA256_Init(&context);
  SHA256_Update(&context, text.data(), text.size());
  SHA256_Final(digest, &context);
#pragma GCC diagnostic pop
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
