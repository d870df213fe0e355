// The cost records over the admin API (DESIGN §13): spend grouped (GET /v1/spend), the records
// themselves as JSON, NDJSON or CSV (GET /v1/records), the receipt chain (GET /v1/receipts) and
// the key that signs it (GET /v1/receipts/key).
#include <algorithm>
#include <charconv>
#include <set>
#include <variant>

#include "admin/admin_json.hpp"
#include "admin/admin_routes.hpp"
#include "budget/store/record_json.hpp"
#include "rules/config_values.hpp"
#include "rules/money.hpp"
#include "util/time.hpp"
#include "util/url.hpp"

namespace proxy {
namespace {

constexpr std::size_t k_default_records = 1000;
constexpr std::size_t k_max_records = 100'000;
constexpr std::size_t k_max_receipts = 1'000'000;

// since= and until=: an RFC 3339 time, or a duration back from now ("24h", "7d").
std::optional<budget::TimePoint> parse_time(std::string_view text, budget::TimePoint now) {
  if (auto d = rules::parse_duration(text)) return now - *d;
  return parse_rfc3339(text);
}

std::variant<budget::TimeRange, AdminResponse> parse_range(std::string_view query,
                                                           budget::TimePoint now) {
  budget::TimeRange range;
  for (const char* name : {"since", "until"}) {
    const auto text = util::query_param(query, name);
    if (!text || text->empty()) continue;
    const auto at = parse_time(*text, now);
    if (!at)
      return admin_error(400, std::string(name) +
                                  ": must be an RFC 3339 time (2026-11-23T00:00:00Z) or a "
                                  "duration back from now (24h, 7d)");
    (std::string_view(name) == "since" ? range.since : range.until) = util::unix_millis(*at);
  }
  return range;
}

std::variant<std::size_t, AdminResponse> parse_limit(std::string_view query, std::size_t fallback,
                                                     std::size_t max) {
  const auto text = util::query_param(query, "limit");
  if (!text || text->empty()) return fallback;
  std::size_t n = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || ptr != text->data() + text->size() || n == 0 || n > max)
    return admin_error(400, "limit: must be a number of records from 1 to " + std::to_string(max));
  return n;
}

void put(JsonWriter& out, const char* key, std::string_view value) {
  out.Key(key);
  out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string optional_time(std::int64_t ms, std::int64_t none) {
  if (ms == none) return {};
  return format_rfc3339(budget::TimePoint{std::chrono::milliseconds(ms)}, true);
}

std::string spend_json(const std::vector<budget::SpendGroup>& groups,
                       const std::vector<budget::SpendKey>& keys, const budget::TimeRange& range) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("groups");
  out.StartArray();
  for (const auto& g : groups) {
    out.StartObject();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto name = budget::spend_key_name(keys[i]);
      out.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
      out.String(g.keys[i].data(), static_cast<rapidjson::SizeType>(g.keys[i].size()));
    }
    put(out, "currency", g.currency);
    out.Key("requests");
    out.Int64(g.requests);
    out.Key("refused");
    out.Int64(g.refused);
    put(out, "spent", rules::format_micros(g.spent));
    put(out, "estimated", rules::format_micros(g.estimated));
    out.Key("input_tokens");
    out.Int64(g.input_tokens);
    out.Key("output_tokens");
    out.Int64(g.output_tokens);
    out.EndObject();
  }
  out.EndArray();
  const auto since = optional_time(range.since, 0);
  const auto until = optional_time(range.until, budget::TimeRange{}.until);
  out.Key("since");
  since.empty() ? out.Null() : out.String(since.data());
  out.Key("until");
  until.empty() ? out.Null() : out.String(until.data());
  out.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

// One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (=, +, -, @ first) is
// written after a ' so that a model name from a request body stays text.
void csv_field(std::string& out, std::string_view text) {
  std::string value;
  if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos)
    value = "'";
  value += text;
  if (value.find_first_of(",\"\r\n") == std::string::npos) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

std::string records_csv(const std::vector<budget::CostRecord>& records) {
  std::string out =
      "id,at,provider,endpoint,model,client,credential,budgets,currency,estimate,actual,"
      "input_tokens,output_tokens,status,outcome,refused_by,upstream_request_id,ms,hash\r\n";
  for (const auto& r : records) {
    std::string budgets;
    for (const auto& b : r.budgets) budgets += (budgets.empty() ? "" : " ") + b;
    const std::string fields[] = {
        r.id,
        format_rfc3339(budget::TimePoint{std::chrono::milliseconds(r.at)}, true),
        r.provider,
        r.endpoint,
        r.model,
        r.client,
        r.credential,
        budgets,
        r.currency,
        rules::format_micros(r.estimate),
        rules::format_micros(r.actual),
        std::to_string(r.input_tokens()),
        std::to_string(r.output_tokens()),
        std::to_string(r.status),
        std::string(budget::outcome_name(r.outcome)),
        r.refused_by,
        r.upstream_request_id,
        std::to_string(r.ms),
        r.hash};
    bool first = true;
    for (const auto& f : fields) {
      if (!first) out += ',';
      first = false;
      csv_field(out, f);
    }
    out += "\r\n";
  }
  return out;
}

std::string records_ndjson(const std::vector<budget::CostRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    out += budget::record_json(r);
    out += '\n';
  }
  return out;
}

std::string records_json(const std::vector<budget::CostRecord>& records) {
  std::string out = "{\"records\":[";
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i) out += ',';
    out += budget::record_json(records[i]);
  }
  return out + "]}";
}

}  // namespace

AdminResponse AdminRoutes::spend(std::string_view query) {
  budget::SpendQuery q;
  if (const auto text = util::query_param(query, "group_by"); text && !text->empty()) {
    std::string_view list = *text;
    std::set<budget::SpendKey> seen;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto name = list.substr(0, comma);
      const auto key = budget::parse_spend_key(name);
      if (!key)
        return admin_error(400, "group_by: unknown key '" + std::string(name) +
                                    "' (model, client, credential, provider, endpoint, budget, "
                                    "day, hour)");
      if (seen.insert(*key).second) q.group_by.push_back(*key);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  auto range = parse_range(query, clock_.now());
  if (auto* error = std::get_if<AdminResponse>(&range)) return *error;
  q.range = std::get<budget::TimeRange>(range);
  q.currency = util::query_param(query, "currency").value_or("");
  return admin_json(200, spend_json(enforcer_.spend(q), q.group_by, q.range));
}

AdminResponse AdminRoutes::records(std::string_view query) {
  budget::RecordQuery q;
  auto range = parse_range(query, clock_.now());
  if (auto* error = std::get_if<AdminResponse>(&range)) return *error;
  q.range = std::get<budget::TimeRange>(range);
  q.currency = util::query_param(query, "currency").value_or("");
  const auto order = util::query_param(query, "order").value_or("time");
  if (order != "time" && order != "cost")
    return admin_error(400, "order: must be time or cost, got '" + order + "'");
  q.order = order == "cost" ? budget::RecordQuery::Order::cost : budget::RecordQuery::Order::time;
  auto limit = parse_limit(query, k_default_records, k_max_records);
  if (auto* error = std::get_if<AdminResponse>(&limit)) return *error;
  q.limit = std::get<std::size_t>(limit);
  const auto format = util::query_param(query, "format").value_or("json");
  if (format != "json" && format != "ndjson" && format != "csv")
    return admin_error(400, "format: must be json, ndjson or csv, got '" + format + "'");
  const auto records = enforcer_.records(q);
  if (format == "csv")
    return AdminResponse{200, "text/csv; charset=utf-8", {}, records_csv(records)};
  if (format == "ndjson")
    return AdminResponse{200, "application/x-ndjson", {}, records_ndjson(records)};
  return admin_json(200, records_json(records));
}

AdminResponse AdminRoutes::receipts(std::string_view query) {
  budget::RecordQuery q;
  auto range = parse_range(query, clock_.now());
  if (auto* error = std::get_if<AdminResponse>(&range)) return *error;
  q.range = std::get<budget::TimeRange>(range);
  auto limit = parse_limit(query, k_max_receipts, k_max_receipts);
  if (auto* error = std::get_if<AdminResponse>(&limit)) return *error;
  q.limit = std::get<std::size_t>(limit);
  return AdminResponse{200, "application/x-ndjson", {}, records_ndjson(enforcer_.records(q))};
}

AdminResponse AdminRoutes::receipts_key() {
  auto pem = enforcer_.receipts_key();
  if (pem.empty()) return admin_error(404, "receipts are not signed: set receipts: { sign: true }");
  return AdminResponse{200, "application/x-pem-file", {}, std::move(pem)};
}

}  // namespace proxy
