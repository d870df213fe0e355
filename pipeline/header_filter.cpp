#include "pipeline/header_filter.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <vector>

namespace proxy {
namespace {

constexpr std::array<std::string_view, 9> k_hop_by_hop{
    "connection",        "proxy-connection",    "keep-alive",         "te",     "trailer",
    "transfer-encoding", "proxy-authorization", "proxy-authenticate", "upgrade"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each comma-separated element of a list field, trimmed, without parameters.
template <typename F>
void for_each_token(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    item = trim(item.substr(0, item.find(';')));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_token(list, [&](std::string_view t) { found = found || util::iequals(t, token); });
  return found;
}

void remove_hop_by_hop(rules::HeaderList& headers, bool keep_upgrade) {
  // Fields named by Connection are hop-by-hop too, whatever they are called.
  std::vector<std::string> named;
  for (const auto& [name, value] : headers)
    if (util::iequals(name, "connection"))
      for_each_token(value, [&](std::string_view t) {
        if (!(keep_upgrade && util::iequals(t, "upgrade"))) named.emplace_back(t);
      });
  const auto drop = [&](const std::pair<std::string, std::string>& field) {
    const auto& name = field.first;
    if (keep_upgrade && (util::iequals(name, "upgrade") || util::iequals(name, "connection")))
      return false;
    for (auto h : k_hop_by_hop)
      if (util::iequals(name, h)) return true;
    for (const auto& n : named)
      if (util::iequals(name, n)) return true;
    return false;
  };
  std::erase_if(headers, drop);
  if (keep_upgrade) {
    // Only the upgrade token survives in Connection: the rest named hop-by-hop fields.
    for (auto& [name, value] : headers)
      if (util::iequals(name, "connection")) value = "upgrade";
  }
}

std::string narrow_accept_encoding(std::string_view client_value, bool identity_only) {
  if (identity_only) return "identity";
  std::string out;
  while (!client_value.empty()) {
    const auto comma = client_value.find(',');
    const auto element = client_value.substr(0, comma);
    client_value.remove_prefix(comma == std::string_view::npos ? client_value.size() : comma + 1);
    const auto semi = element.find(';');
    const auto coding = trim(element.substr(0, semi));
    // "q=0" (or 0.0, 0.000) marks a coding the client refuses.
    if (semi != std::string_view::npos) {
      auto param = trim(element.substr(semi + 1));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=' &&
          param.substr(2).find_first_not_of("0.") == std::string_view::npos)
        continue;
    }
    if (!(util::iequals(coding, "gzip") || util::iequals(coding, "x-gzip") ||
          util::iequals(coding, "deflate")))
      continue;
    if (!out.empty()) out += ", ";
    out += coding;
  }
  return out.empty() ? "identity" : out;
}

std::optional<BasicCredentials> parse_basic_credentials(std::string_view authorization) {
  authorization = trim(authorization);
  if (authorization.size() < 6 || !util::iequals(authorization.substr(0, 6), "basic "))
    return std::nullopt;
  const auto encoded = trim(authorization.substr(6));
  if (encoded.empty() || encoded.size() % 4 != 0 || encoded.size() > 4096) return std::nullopt;
  std::string decoded(encoded.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                reinterpret_cast<const unsigned char*>(encoded.data()),
                                static_cast<int>(encoded.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t len = static_cast<std::size_t>(n);
  if (encoded.ends_with("=="))
    len -= 2;
  else if (encoded.ends_with('='))
    len -= 1;
  decoded.resize(len);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded.substr(0, colon), decoded.substr(colon + 1)};
}

}  // namespace proxy

namespace proxy {

namespace {

// Constant time whatever the lengths: both sides are hashed first, so that neither the length
// of the secret nor the position of the first difference shows in the time of a refusal.
bool secret_matches(std::string_view expected, std::string_view given) {
  unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
  unsigned int na = 0, nb = 0;
  EVP_Digest(expected.data(), expected.size(), a, &na, EVP_sha256(), nullptr);
  EVP_Digest(given.data(), given.size(), b, &nb, EVP_sha256(), nullptr);
  return na == nb && CRYPTO_memcmp(a, b, na) == 0;
}

}  // namespace

std::optional<std::string> authorize_client(const std::map<std::string, std::string>& users,
                                            bool require_auth,
                                            std::string_view proxy_authorization) {
  if (trim(proxy_authorization).empty())
    return require_auth ? std::nullopt : std::optional<std::string>(std::string());
  if (users.empty() && !require_auth) return std::string();
  const auto creds = parse_basic_credentials(proxy_authorization);
  if (!creds) return std::nullopt;
  const auto it = users.find(creds->user);
  // An unknown user costs the same compare as a known one.
  const std::string_view expected = it == users.end() ? std::string_view() : it->second;
  const bool match = secret_matches(expected, creds->password);
  if (it == users.end() || !match) return std::nullopt;
  return creds->user;
}

}  // namespace proxy
