#include "admin/status_command.hpp"

#include <optional>

#include "telemetry/http_client.hpp"
#include "util/url.hpp"

namespace proxy {
namespace {

// The admin URL without a trailing '/', or nullopt when it is not http://host[:port][/base].
std::optional<std::string> admin_base(const std::string& admin_url) {
  const auto url = util::parse_url(admin_url);
  if (!url || url->scheme != "http") return std::nullopt;
  std::string base = admin_url.substr(0, admin_url.find_first_of("?#"));
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

// GET base+path; the body of a 200, else why not.
struct Fetched {
  bool ok = false;
  bool reached = true;  // false: no connection to the admin API at all
  std::string text;     // body, or the reason it failed
};

Fetched get(const HttpClient& client, const std::string& base, const std::string& path) {
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

}  // namespace

int status_command(const std::string& admin_url, bool json, std::ostream& out, std::ostream& err) {
  const auto base = admin_base(admin_url);
  if (!base) {
    err << "status: the admin URL must look like http://127.0.0.1:9090, got '" << admin_url
        << "'\n";
    return 2;
  }
  const HttpClient client;
  const auto budgets = get(client, *base, "/v1/budgets");
  if (!budgets.ok) {
    if (!budgets.reached)
      err << "status: cannot reach the admin API at " << admin_url << ": " << budgets.text
          << " (is tollgate running? see admin.listen)\n";
    else
      err << "status: " << budgets.text << "\n";
    return 1;
  }
  const auto balances = get(client, *base, "/v1/balances");
  if (!balances.ok) {
    err << "status: " << balances.text << "\n";
    return 1;
  }
  if (json) {
    // Both bodies are objects: merge {"budgets":[...]} and {"balances":[...]} textually.
    const auto& b = budgets.text;
    const auto& l = balances.text;
    const auto b_end = b.rfind('}');
    const auto l_start = l.find('{');
    if (b_end == std::string::npos || l_start == std::string::npos) {
      err << "status: the admin API answered something that is not JSON\n";
      return 1;
    }
    out << b.substr(0, b_end) << "," << l.substr(l_start + 1) << "\n";
    return 0;
  }
  const auto table =
      format_status_table(budgets.text, balances.text, std::chrono::system_clock::now());
  if (!table) {
    err << "status: the admin API answered something that is not the expected JSON\n";
    return 1;
  }
  out << *table;
  return 0;
}

}  // namespace proxy
