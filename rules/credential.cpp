#include "rules/credential.hpp"

#include <openssl/evp.h>

#include "rules/matcher.hpp"
#include "rules/request_values.hpp"

namespace rules {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// "Bearer KEY" or a bare "Bearer" (any case).
bool starts_with_bearer(std::string_view text) {
  constexpr std::string_view k_bearer = "bearer";
  if (text.size() < k_bearer.size() || (text.size() > k_bearer.size() && text[6] != ' '))
    return false;
  for (std::size_t i = 0; i < k_bearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != k_bearer[i]) return false;
  return true;
}

}  // namespace

std::string key_id(std::string_view key) {
  key = trim(key);
  // Anthropic and Gemini accept their key as `Authorization: Bearer KEY` as well as in their own
  // header: the scheme is how the key travels, not part of it.
  if (starts_with_bearer(key)) key = trim(key.substr(6));
  if (key.empty()) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(key.data(), key.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  // 64 bits are plenty to tell a team's keys apart and reveal nothing usable.
  for (unsigned i = 0; i < 8 && i < length; ++i) {
    out += k_hex[digest[i] >> 4];
    out += k_hex[digest[i] & 0xf];
  }
  return out;
}

std::string credential_id(const Provider& provider, const RequestView& request) {
  if (provider.credentials.empty()) return {};
  const Captures no_captures;
  RequestValues values(request, no_captures);
  for (const auto& ref : provider.credentials)
    if (const auto secret = values.text(ref))
      if (auto id = key_id(*secret); !id.empty()) return id;
  return {};
}

}  // namespace rules
