// The terminal table of `tollgate status`: budgets (spent / limit, %, reserved, resets in) and
// provider balances, in aligned columns.
#include <rapidjson/document.h>

#include <algorithm>
#include <vector>

#include "admin/admin_json.hpp"
#include "admin/status_command.hpp"
#include "admin/text_table.hpp"
#include "rules/json_reader.hpp"
#include "rules/money.hpp"

namespace proxy {
namespace {

using Row = std::vector<std::string>;

std::string member(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// "25%" or "25.4%", exact from the decimal strings (no floating point).
std::string percent(const std::string& spent, const std::string& limit) {
  const auto s = rules::parse_micros(spent);
  const auto l = rules::parse_micros(limit);
  if (!s || !l || *l <= 0) return "-";
  const auto tenths = static_cast<std::int64_t>(static_cast<__int128>(*s) * 1000 / *l);
  std::string out = std::to_string(tenths / 10);
  if (tenths % 10) {
    out += '.';
    out += static_cast<char>('0' + tenths % 10);
  }
  out += '%';
  return out;
}

}  // namespace

std::string format_resets_in(std::chrono::seconds left) {
  auto s = left.count();
  if (s <= 0) return "now";
  const auto d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  s %= 60;
  if (d > 0) return std::to_string(d) + "d" + (h ? std::to_string(h) + "h" : "");
  if (h > 0) return std::to_string(h) + "h" + (m ? std::to_string(m) + "m" : "");
  if (m > 0) return std::to_string(m) + "m" + (s ? std::to_string(s) + "s" : "");
  return std::to_string(s) + "s";
}

std::optional<std::string> format_status_table(const std::string& budgets_json,
                                               const std::string& balances_json,
                                               std::chrono::system_clock::time_point now) {
  rapidjson::Document budgets, balances;
  if (!rules::read_json(budgets, budgets_json).ok() || !budgets.IsObject() ||
      !budgets.HasMember("budgets") || !budgets["budgets"].IsArray() ||
      !rules::read_json(balances, balances_json).ok() || !balances.IsObject() ||
      !balances.HasMember("balances") || !balances["balances"].IsArray())
    return std::nullopt;
  std::string out;
  // The limit column shows an override as "limit + extra"; % is of the effective limit, and
  // "REFUSES ABOVE" says which estimates are refused now (a budget at 53 % may already refuse
  // every request whose estimate exceeds what remains).
  std::vector<Row> rows{
      {"BUDGET", "KEY", "SPENT / LIMIT", "%", "RESERVED", "REFUSES ABOVE", "RESETS IN", "MODE"}};
  for (const auto& b : budgets["budgets"].GetArray()) {
    if (!b.IsObject()) return std::nullopt;
    const auto key = member(b, "key");
    const auto spent = member(b, "spent");
    const auto limit = member(b, "limit");
    const auto extra = member(b, "extra");
    auto effective = member(b, "effective_limit");
    if (effective.empty()) effective = limit;
    const bool has_extra = !extra.empty() && rules::parse_micros(extra).value_or(0) != 0;
    auto refuses_above = member(b, "refusing_above");
    if (refuses_above.empty()) refuses_above = "-";
    std::string resets = "never";
    if (const auto at = parse_rfc3339(member(b, "resets_at")))
      resets = format_resets_in(std::chrono::floor<std::chrono::seconds>(*at - now));
    rows.push_back(
        {member(b, "name"), key.empty() ? "-" : key,
         spent + " / " + limit + (has_extra ? " + " + extra : "") + " " + member(b, "currency"),
         percent(spent, effective), member(b, "reserved"), refuses_above, resets,
         member(b, "mode")});
  }
  if (rows.size() == 1)
    out += "no budgets\n";
  else
    format_columns(rows, out);

  std::vector<Row> balance_rows{
      {"PROVIDER", "ACCOUNT", "BALANCE", "OBSERVED", "REFILL/MIN", "HOLDS"}};
  for (const auto& b : balances["balances"].GetArray()) {
    if (!b.IsObject()) return std::nullopt;
    std::string account = member(b, "account");
    if (account.size() > 12) account = account.substr(0, 12);  // a hash prefix is enough to tell
    std::string observed = member(b, "observed");
    if (const auto at = parse_rfc3339(member(b, "at"))) {
      const auto ago = std::chrono::floor<std::chrono::seconds>(now - *at);
      observed += ago.count() <= 0 ? " (just now)" : " (" + format_resets_in(ago) + " ago)";
    }
    balance_rows.push_back({member(b, "provider"), account, member(b, "estimated_now"), observed,
                            member(b, "refill_per_minute"), member(b, "holds")});
  }
  out += "\n";
  if (balance_rows.size() == 1)
    out += "no provider balances observed yet\n";
  else
    format_columns(balance_rows, out);
  return out;
}

}  // namespace proxy
