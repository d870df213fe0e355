#include "admin/admin_json.hpp"

#include <rapidjson/document.h>

#include <chrono>

#include "rules/config_values.hpp"
#include "rules/json_reader.hpp"
#include "rules/money.hpp"

namespace proxy {
namespace {

using namespace std::chrono;

void write_amount(JsonWriter& out, const char* key, std::int64_t micros) {
  out.Key(key);
  const auto text = rules::format_micros(micros);
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void write_string(JsonWriter& out, const char* key, std::string_view value) {
  if (key) out.Key(key);
  out.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void write_time(JsonWriter& out, const char* key, budget::TimePoint at) {
  out.Key(key);
  // A default time point means "never" (no period, no observation); max() is a total budget.
  if (at == budget::TimePoint{} || at == budget::TimePoint::max()) {
    out.Null();
    return;
  }
  write_string(out, nullptr, format_rfc3339(at));
}

}  // namespace

std::optional<budget::TimePoint> parse_until(std::string_view text, budget::TimePoint now) {
  if (auto d = rules::parse_duration(text)) return now + *d;
  return parse_rfc3339(text);
}

std::string error_json(std::string_view message) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  write_string(out, "error", message);
  out.EndObject();
  return buffer.GetString();
}

void write_budget(JsonWriter& out, const budget::BudgetStanding& b) {
  out.StartObject();
  write_string(out, "name", b.name);
  write_string(out, "key", b.key);
  write_string(out, "currency", b.currency);
  // limit is the configured (or PATCHed) limit, extra the live overrides, effective_limit what
  // admission checks against; a request whose estimate is above refusing_above is refused.
  write_amount(out, "limit", b.limit);
  write_amount(out, "extra", b.overrides);
  write_amount(out, "effective_limit", b.effective_limit());
  write_amount(out, "spent", b.spent);
  write_amount(out, "reserved", b.reserved);
  write_amount(out, "remaining", b.remaining());
  write_amount(out, "refusing_above", std::max<std::int64_t>(0, b.remaining()));
  write_time(out, "period_start", b.period_start);
  write_time(out, "resets_at", b.resets_at);
  write_string(out, "mode", b.mode);
  out.EndObject();
}

void write_balance(JsonWriter& out, const budget::BalanceStanding& b) {
  out.StartObject();
  write_string(out, "provider", b.provider);
  write_string(out, "account", b.account);
  write_amount(out, "observed", b.observed);
  write_time(out, "at", b.at);
  write_amount(out, "refill_per_minute", b.refill_per_minute);
  write_amount(out, "holds", b.holds);
  write_amount(out, "estimated_now", b.estimated_now);
  out.EndObject();
}

void write_event(JsonWriter& out, const budget::Event& e) {
  out.StartObject();
  out.Key("id");
  out.Uint64(e.id);
  out.Key("at");
  write_string(out, nullptr, format_rfc3339(e.at, true));
  write_string(out, "type", budget::event_type_name(e.type));
  write_string(out, "budget", e.budget);
  write_string(out, "key", e.key);
  write_string(out, "message", e.message);
  out.Key("detail");
  write_raw_json(out, e.detail_json, "{}");
  out.EndObject();
}

std::string budgets_json(const std::vector<budget::BudgetStanding>& standings) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("budgets");
  out.StartArray();
  for (const auto& b : standings) write_budget(out, b);
  out.EndArray();
  out.EndObject();
  return buffer.GetString();
}

std::string balances_json(const std::vector<budget::BalanceStanding>& standings) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("balances");
  out.StartArray();
  for (const auto& b : standings) write_balance(out, b);
  out.EndArray();
  out.EndObject();
  return buffer.GetString();
}

std::string breakers_json(const std::vector<budget::BreakerStanding>& standings) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("breakers");
  out.StartArray();
  for (const auto& b : standings) {
    out.StartObject();
    write_string(out, "name", b.name);
    out.Key("open");
    out.Bool(b.open);
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  return buffer.GetString();
}

std::string events_json(const std::vector<budget::Event>& events, std::uint64_t since) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("events");
  out.StartArray();
  for (const auto& e : events) write_event(out, e);
  out.EndArray();
  // The id to pass as ?since= next time: unchanged when nothing new happened.
  out.Key("last_id");
  out.Uint64(events.empty() ? since : events.back().id);
  out.EndObject();
  return buffer.GetString();
}

void write_raw_json(JsonWriter& out, std::string_view json, std::string_view fallback) {
  rapidjson::Document doc;
  if (json.empty() || !rules::read_json(doc, json).ok()) rules::read_json(doc, fallback);
  doc.Accept(out);
}

}  // namespace proxy
