#include <algorithm>
#include <cctype>

#include "rules/config_sections.hpp"
#include "rules/config_values.hpp"

namespace rules::detail {
namespace {

// "" | client | credential | model | session | header:NAME: one budget instance per value of that.
bool parse_per(YamlReader& r, const YAML::Node& node, std::string& per) {
  const auto text = r.string(node, "per");
  if (!text) return false;
  if (*text == "client" || *text == "credential" || *text == "model" || *text == "session" ||
      (text->starts_with("header:") && text->size() > 7)) {
    per = *text;
    return true;
  }
  r.error(node,
          "'per' must be client, credential, model, session or header:NAME, got '" + *text + "'");
  return false;
}

std::optional<Period> parse_period(YamlReader& r, const YAML::Node& node) {
  const auto text = r.string(node, "period");
  if (!text) return std::nullopt;
  Period period;
  if (*text == "hour")
    period.kind = Period::Kind::hour;
  else if (*text == "day")
    period.kind = Period::Kind::day;
  else if (*text == "week")
    period.kind = Period::Kind::week;
  else if (*text == "month")
    period.kind = Period::Kind::month;
  else if (*text == "total")
    period.kind = Period::Kind::total;
  else if (auto rolling =
               text->starts_with("rolling:") ? parse_duration(text->substr(8)) : std::nullopt;
           rolling && rolling->count() > 0) {
    period.kind = Period::Kind::rolling;
    period.rolling = *rolling;
  } else {
    r.error(node, "'period' must be hour, day, week, month, total or rolling:<duration>, got '" +
                      *text + "'");
    return std::nullopt;
  }
  return period;
}

std::optional<std::string> required_name(YamlReader& r, const YAML::Node& node, const char* what) {
  if (!node["name"]) {
    r.error(node, std::string(what) + " needs a 'name'");
    return std::nullopt;
  }
  auto name = r.string(node["name"], "name");
  // Names travel into metric labels, admin paths (/v1/budgets/NAME), events and logs: a plain
  // character set keeps each of them unambiguous without escaping rules of its own.
  const bool plain = name && !name->empty() && name->size() <= 64 &&
                     std::all_of(name->begin(), name->end(), [](unsigned char c) {
                       return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
                     });
  if (name && !plain) {
    r.error(node["name"], std::string(what) + " name '" + *name +
                              "' must be 1 to 64 letters, digits, '-', '_', '.' or ':'");
    return std::nullopt;
  }
  return name;
}

}  // namespace

std::optional<Match> parse_match(YamlReader& r, const YAML::Node& node) {
  if (!r.expect_map(node, "match", {"provider", "endpoint", "model", "client"}))
    return std::nullopt;
  Match match;
  auto list = [&](const char* key, std::vector<std::string>& into) {
    if (node[key])
      if (auto values = r.strings(node[key], key)) into = *values;
  };
  list("provider", match.provider);
  list("endpoint", match.endpoint);
  list("model", match.model);
  list("client", match.client);
  return match;
}

std::optional<BudgetConfig> parse_budget(YamlReader& r, const YAML::Node& node) {
  if (!r.expect_map(node, "budget",
                    {"name", "currency", "limit", "period", "timezone", "match", "per", "alerts",
                     "mode", "idle_expiry", "warn_client", "output_cap"}))
    return std::nullopt;
  auto name = required_name(r, node, "budget");
  if (!name) return std::nullopt;
  BudgetConfig b;
  b.name = *name;
  b.mark = r.mark(node);
  if (!node["currency"])
    r.error(node, "budget '" + b.name + "' needs a 'currency'");
  else if (auto currency = r.string(node["currency"], "currency"))
    b.currency = *currency;
  if (!node["limit"])
    r.error(node, "budget '" + b.name + "' needs a 'limit'");
  else if (auto limit = r.amount(node["limit"], "limit"))
    b.limit = *limit;
  if (node["period"])
    if (auto period = parse_period(r, node["period"])) b.period = *period;
  if (node["timezone"])
    if (auto tz = r.string(node["timezone"], "timezone")) b.timezone = *tz;
  if (node["match"])
    if (auto match = parse_match(r, node["match"])) b.match = *match;
  if (node["per"]) parse_per(r, node["per"], b.per);
  if (const auto& alerts = node["alerts"]; alerts && r.expect_sequence(alerts, "alerts")) {
    for (const auto& item : alerts)
      if (auto pct = r.percentage(item, "alerts")) b.alerts.push_back(*pct);
    std::sort(b.alerts.begin(), b.alerts.end());
    b.alerts.erase(std::unique(b.alerts.begin(), b.alerts.end()), b.alerts.end());
  }
  if (node["mode"])
    if (auto mode = r.choice(node["mode"], "mode", {"enforce", "shadow"}))
      b.shadow = *mode == "shadow";
  if (node["output_cap"])
    if (auto mode = r.choice(node["output_cap"], "output_cap", {"inject", "off"}))
      b.inject_output_cap = *mode == "inject";
  if (node["idle_expiry"]) b.idle_expiry = r.duration(node["idle_expiry"], "idle_expiry");
  // A session's instance stays listed, with its spent, for an hour after the session ends.
  if (b.per == "session" && !b.idle_expiry) b.idle_expiry = std::chrono::hours(1);
  if (node["warn_client"])
    if (auto warn = r.boolean(node["warn_client"], "warn_client")) b.warn_client = *warn;
  return b;
}

std::optional<RateLimitConfig> parse_rate_limit(YamlReader& r, const YAML::Node& node) {
  if (!r.expect_map(node, "rate limit",
                    {"name", "match", "per", "key", "requests", "tokens", "window", "shared"}))
    return std::nullopt;
  auto name = required_name(r, node, "rate limit");
  if (!name) return std::nullopt;
  RateLimitConfig l;
  l.name = *name;
  l.mark = r.mark(node);
  if (node["match"])
    if (auto match = parse_match(r, node["match"])) l.match = *match;
  // DESIGN writes the window as `per: 1m`; `per` may also name the instance key as for budgets.
  if (const auto& per = node["per"]) {
    const auto text = r.string(per, "per");
    if (text && parse_duration(*text))
      l.window = *parse_duration(*text);
    else if (text)
      parse_per(r, per, l.per);
  }
  if (node["key"]) parse_per(r, node["key"], l.per);
  if (node["window"])
    if (auto window = r.duration(node["window"], "window")) l.window = *window;
  if (node["requests"]) l.requests = r.integer(node["requests"], "requests", 1);
  if (node["tokens"]) l.tokens = r.integer(node["tokens"], "tokens", 1);
  if (!node["requests"] && !node["tokens"])
    r.error(node, "rate limit '" + l.name + "' needs 'requests' or 'tokens'");
  if (node["shared"])
    if (auto shared = r.boolean(node["shared"], "shared")) l.shared = *shared;
  return l;
}

std::optional<BreakerConfig> parse_breaker(YamlReader& r, const YAML::Node& node) {
  if (!r.expect_map(node, "breaker",
                    {"name", "currency", "limit", "window", "cooldown", "failures", "successes",
                     "open_for", "shared"}))
    return std::nullopt;
  auto name = required_name(r, node, "breaker");
  if (!name) return std::nullopt;
  BreakerConfig b;
  b.name = *name;
  b.mark = r.mark(node);
  const bool spend = node["currency"] || node["limit"];
  const bool failures = node["failures"] || node["successes"] || node["open_for"];
  if (spend == failures) {
    r.error(node, "breaker '" + b.name +
                      "' must be either a spend breaker (currency, limit, window, cooldown) or "
                      "an upstream-failure breaker (failures, successes, open_for)");
    return std::nullopt;
  }
  if (spend) {
    b.kind = BreakerConfig::Kind::spend;
    if (!node["currency"] || !node["limit"])
      r.error(node, "breaker '" + b.name + "' needs both 'currency' and 'limit'");
    if (node["currency"])
      if (auto currency = r.string(node["currency"], "currency")) b.currency = *currency;
    if (node["limit"])
      if (auto limit = r.amount(node["limit"], "limit")) b.limit = *limit;
    if (node["window"])
      if (auto d = r.duration(node["window"], "window")) b.window = *d;
    if (node["cooldown"])
      if (auto d = r.duration(node["cooldown"], "cooldown")) b.cooldown = *d;
  } else {
    b.kind = BreakerConfig::Kind::upstream_failures;
    if (node["failures"])
      if (auto n = r.integer(node["failures"], "failures", 1)) b.failures = static_cast<int>(*n);
    if (node["successes"])
      if (auto n = r.integer(node["successes"], "successes", 1)) b.successes = static_cast<int>(*n);
    if (node["open_for"])
      if (auto d = r.duration(node["open_for"], "open_for")) b.open_for = *d;
  }
  if (node["shared"])
    if (auto shared = r.boolean(node["shared"], "shared")) b.shared = *shared;
  return b;
}

}  // namespace rules::detail
