#include "admin/admin_client.hpp"

#include "util/url.hpp"

namespace proxy {

std::optional<std::string> admin_base(const std::string& admin_url) {
  const auto url = util::parse_url(admin_url);
  if (!url || url->scheme != "http") return std::nullopt;
  std::string base = admin_url.substr(0, admin_url.find_first_of("?#"));
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

Fetched admin_get(const HttpClient& client, const std::string& base, const std::string& path) {
  auto answer = client.request("GET", base + path, {}, std::chrono::seconds(10));
  if (!answer.error.empty()) {
    const bool reached =
        !answer.error.starts_with("resolving") && !answer.error.starts_with("connecting");
    return {false, reached, reached ? "GET " + path + ": " + answer.error : answer.error};
  }
  if (answer.status != 200)
    return {false, true,
            "GET " + path + " answered " + std::to_string(answer.status) + ": " + answer.body};
  return {true, true, std::move(answer.body)};
}

}  // namespace proxy
