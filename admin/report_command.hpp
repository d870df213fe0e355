#pragma once
// `tollgate report [--since 24h] [--until T] [--by model] [--currency C] [--top N] [--csv]`:
// spend of a running instance grouped as GET /v1/spend groups it, as a terminal table or CSV.

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>

namespace proxy {

struct ReportOptions {
  std::string admin_url;
  std::string since = "24h";  // RFC 3339, or a duration back from now
  std::string until;          // "" = now
  std::string by = "model";   // group_by: model, client, credential, provider, endpoint,
                              // budget, day, hour (comma-separated for several)
  std::string currency;       // "" = every currency
  std::size_t top = 0;        // 0 = every group
  bool csv = false;
};

// Prints the report to `out`. Returns 0; 1 when the admin API cannot be reached or answers an
// error (reason to `err`); 2 when the admin URL is not an http:// URL.
int report_command(const ReportOptions& options, std::ostream& out, std::ostream& err);

// The table (or CSV) for a GET /v1/spend body grouped by `by`; nullopt when the body is not the
// JSON the admin API answers. The largest `top` groups (0: all), then a total per currency.
std::optional<std::string> format_report(const std::string& spend_json, const std::string& by,
                                         std::size_t top, bool csv);

}  // namespace proxy
