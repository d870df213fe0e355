#include <algorithm>
#include <filesystem>
#include <set>

#include "rules/config_sections.hpp"

namespace rules::detail {
namespace {

void report(std::vector<Diagnostic>& errors, const Mark& mark, std::string message) {
  errors.push_back(Diagnostic{mark.file, mark.line, mark.col, std::move(message)});
}

// "/v1beta/models/{model}:generateContent" -> "/v1beta/models/{}:generateContent": two patterns
// that differ only in capture names match the same requests.
std::string normalized_path(const std::string& path) {
  std::string out;
  bool in_capture = false;
  for (char c : path) {
    if (c == '{')
      in_capture = true, out += "{}";
    else if (c == '}')
      in_capture = false;
    else if (!in_capture)
      out += c;
  }
  return out;
}

bool path_has_capture(const std::string& path, const std::string& name) {
  return path.find("{" + name + "}") != std::string::npos;
}

void check_endpoint(const Provider& p, const Endpoint& e, std::vector<Diagnostic>& errors) {
  const std::string where = "endpoint '" + e.name + "' of provider '" + p.name + "'";
  if (e.pricing == Pricing::flat && !e.cost)
    report(errors, e.mark, where + " has pricing flat but no 'cost'");
  if (e.pricing == Pricing::per_item && e.per_item.empty())
    report(errors, e.mark, where + " has pricing per_item but no 'cost: { per_item: ... }'");
  if (e.pricing == Pricing::batch) {
    if (e.batch.requests.empty() == e.batch.file.empty())
      report(errors, e.mark,
             where +
                 " has pricing batch but names neither or both of batch.requests and "
                 "batch.file");
    if (!e.batch.requests.empty()) {
      const auto target =
          std::find_if(p.endpoints.begin(), p.endpoints.end(),
                       [&](const Endpoint& t) { return t.name == e.batch.endpoint; });
      if (target == p.endpoints.end())
        report(errors, e.mark,
               where + " prices its requests as endpoint '" + e.batch.endpoint +
                   "', which provider '" + p.name + "' does not have");
      else if (target->pricing == Pricing::batch || target->path.find('{') != std::string::npos)
        report(errors, e.mark,
               where + " prices its requests as endpoint '" + e.batch.endpoint +
                   "', which must be a fixed path priced otherwise than batch");
    }
  }
  const bool needs_model = e.pricing == Pricing::tokens || e.pricing == Pricing::per_second ||
                           e.pricing == Pricing::per_image;
  // Gemini Live names its model in the session's first message (setup), not in the URL.
  if (needs_model && e.model.empty() && e.websocket.format != "gemini-live")
    report(errors, e.mark,
           where + " prices " + std::string(pricing_name(e.pricing)) + " but has no 'model'");
  for (const ValueRef* ref : {&e.model, &e.multiplier, &e.per_item, &e.size, &e.quality, &e.audio})
    if (ref->source == ValueRef::Source::path && !path_has_capture(e.path, ref->key))
      report(errors, e.mark,
             where + " uses " + ref->text + " but its path has no {" + ref->key + "}");
  if (!needs_model || e.model.empty()) return;
  if (e.model.source == ValueRef::Source::literal) {
    if (!p.price_for_model(e.model.key))
      report(errors, e.mark,
             where + " needs a price for model '" + e.model.key + "' (add it under providers." +
                 p.name + ".models)");
  } else if (p.models.empty() && p.unknown_model.policy != UnknownModel::Policy::price) {
    report(errors, e.mark,
           where + " prices " + std::string(pricing_name(e.pricing)) + " by model but provider '" +
               p.name + "' lists no models and no unknown_model price");
  }
}

void check_provider(const Provider& p, std::vector<Diagnostic>& errors) {
  if (p.hosts.empty()) report(errors, p.mark, "provider '" + p.name + "' needs 'hosts'");
  if (p.currency.empty()) report(errors, p.mark, "provider '" + p.name + "' needs a 'currency'");
  if (p.unknown_model.policy == UnknownModel::Policy::price_as &&
      !p.resolve_model(p.unknown_model.model))
    report(errors, p.mark,
           "provider '" + p.name + "' prices unknown models as '" + p.unknown_model.model +
               "', which is not in its models");
  std::map<std::string, const Endpoint*> seen;  // method + normalized path
  for (const auto& e : p.endpoints) {
    check_endpoint(p, e, errors);
    const auto key = (e.method.empty() ? "*" : e.method) + " " + normalized_path(e.path);
    auto [it, fresh] = seen.emplace(key, &e);
    if (!fresh)
      report(errors, e.mark,
             "endpoint '" + e.name + "' matches the same requests as endpoint '" +
                 it->second->name + "' (" + key + ") in provider '" + p.name + "'");
  }
}

bool known(const std::vector<Provider>& providers, const std::string& name) {
  return std::any_of(providers.begin(), providers.end(),
                     [&](const Provider& p) { return p.name == name; });
}

void check_match(const Config& c, const Match& match, const Mark& mark, const std::string& what,
                 std::vector<Diagnostic>& errors) {
  for (const auto& name : match.provider)
    if (!known(c.providers, name))
      report(errors, mark, what + " matches unknown provider '" + name + "'");
}

}  // namespace

void validate_config(const Config& c, std::vector<Diagnostic>& errors) {
  std::map<std::string, std::string> host_owner;
  std::set<std::string> currencies;
  for (const auto& p : c.providers) {
    check_provider(p, errors);
    currencies.insert(p.currency);
    for (const auto& host : p.hosts) {
      auto [it, fresh] = host_owner.emplace(host, p.name);
      if (!fresh)
        report(errors, p.mark,
               "host '" + host + "' is claimed by providers '" + it->second + "' and '" + p.name +
                   "'");
    }
  }
  // Base-URL prefixes: one provider per first path segment.
  std::map<std::string, std::string> prefix_owner;
  for (const auto& p : c.providers)
    if (!p.base_path.empty() && p.base_path != p.name) {
      auto [it, fresh] = prefix_owner.emplace(p.base_path, p.name);
      if (!fresh)
        report(errors, p.mark,
               "base_path '" + p.base_path + "' is claimed by providers '" + it->second +
                   "' and '" + p.name + "'");
    }
  for (const auto& p : c.providers)
    if (auto it = prefix_owner.find(p.name); it != prefix_owner.end() && it->second != p.name)
      report(errors, p.mark,
             "provider '" + it->second + "' has base_path '" + p.name +
                 "', the name of provider '" + p.name + "'");
  for (const auto& b : c.budgets) {
    if (!b.currency.empty() && !currencies.count(b.currency))
      report(
          errors, b.mark,
          "budget '" + b.name + "' uses currency '" + b.currency + "' that no provider bills in");
    check_match(c, b.match, b.mark, "budget '" + b.name + "'", errors);
    // Calendar periods need the zone; without a tz database only UTC can be checked.
    if (b.timezone != "UTC" && std::filesystem::is_directory("/usr/share/zoneinfo") &&
        !std::filesystem::exists("/usr/share/zoneinfo/" + b.timezone))
      report(errors, b.mark, "budget '" + b.name + "' has unknown timezone '" + b.timezone + "'");
  }
  for (const auto& l : c.rate_limits) {
    check_match(c, l.match, l.mark, "rate limit '" + l.name + "'", errors);
    if (l.shared && c.store.type != StoreConfig::Type::redis)
      report(errors, l.mark,
             "rate limit '" + l.name + "' is shared, which needs store.type: redis (a store " +
                 "several tollgates share)");
  }
  for (const auto& b : c.breakers) {
    if (b.kind == BreakerConfig::Kind::spend && !b.currency.empty() &&
        !currencies.count(b.currency))
      report(
          errors, b.mark,
          "breaker '" + b.name + "' uses currency '" + b.currency + "' that no provider bills in");
    if (!b.shared) continue;
    if (b.kind != BreakerConfig::Kind::spend)
      report(errors, b.mark,
             "breaker '" + b.name + "' is shared, but only spend breakers can be (an " +
                 "upstream-failure breaker follows the hosts this process reaches)");
    else if (c.store.type != StoreConfig::Type::redis)
      report(errors, b.mark,
             "breaker '" + b.name + "' is shared, which needs store.type: redis (a store " +
                 "several tollgates share)");
  }
}

}  // namespace rules::detail
