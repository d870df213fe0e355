#include "admin/status_command.hpp"

#include <optional>

#include "admin/admin_client.hpp"

namespace proxy {

int status_command(const std::string& admin_url, bool json, std::ostream& out, std::ostream& err) {
  const auto base = admin_base(admin_url);
  if (!base) {
    err << "status: the admin URL must look like http://127.0.0.1:9090, got '" << admin_url
        << "'\n";
    return 2;
  }
  const HttpClient client;
  const auto budgets = admin_get(client, *base, "/v1/budgets");
  if (!budgets.ok) {
    if (!budgets.reached)
      err << "status: cannot reach the admin API at " << admin_url << ": " << budgets.text
          << " (is tollgate running? see admin.listen)\n";
    else
      err << "status: " << budgets.text << "\n";
    return 1;
  }
  const auto balances = admin_get(client, *base, "/v1/balances");
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
