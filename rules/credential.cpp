#include "rules/credential.hpp"

#include "rules/matcher.hpp"
#include "rules/request_values.hpp"
#include "util/sha256.hpp"

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
  // 64 bits are plenty to tell a team's keys apart and reveal nothing usable.
  return util::sha256_hex(key, 8);
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
