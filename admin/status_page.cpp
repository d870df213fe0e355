#include "admin/status_page.hpp"

#include <openssl/evp.h>

#include <array>

namespace proxy {

std::string csp_hash_of_element(std::string_view html, std::string_view tag) {
  std::string open(1, '<');  // appended, not "<" + ...: GCC 12 warns falsely on that
  open.append(tag).push_back('>');
  std::string close = "</";
  close.append(tag).push_back('>');
  const auto start = html.find(open);
  if (start == std::string_view::npos) return {};
  const auto body = start + open.size();
  const auto end = html.find(close, body);
  if (end == std::string_view::npos) return {};
  const auto text = html.substr(body, end - body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> base64{};
  const int n = EVP_EncodeBlock(base64.data(), digest.data(), static_cast<int>(size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(base64.data()), n) + "'";
}

AdminResponse status_page() {
  // Hashes rather than 'unsafe-inline': should a value ever slip into the markup unescaped, the
  // browser still runs nothing but this script. Setting element.style from the script is CSSOM,
  // which style-src does not govern, so the bars need no style attributes.
  static const std::string policy =
      "default-src 'none'; script-src " + csp_hash_of_element(status_page_html(), "script") +
      "; style-src " + csp_hash_of_element(status_page_html(), "style") +
      "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
      "frame-ancestors 'none'";
  AdminResponse response{200, "text/html; charset=utf-8", {}, std::string(status_page_html())};
  response.headers.emplace_back("Content-Security-Policy", policy);
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  return response;
}

}  // namespace proxy
