#include "rules/config.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "rules/realtime_cost.hpp"

namespace rules {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

bool digits_at(std::string_view text, std::size_t from, std::size_t n) {
  return from + n <= text.size() && all_digits(text.substr(from, n));
}

// The name without a trailing snapshot date, or nullopt when it has none. Providers bill a dated
// snapshot at the price of its family name: "gpt-4o-2024-08-06", "claude-sonnet-4-5-20250929",
// and OpenAI's older month-day form "gpt-3.5-turbo-0125" (a snapshot priced apart from its family,
// like gpt-4o-2024-05-13, is listed under its own name and found before this is tried).
std::optional<std::string_view> without_date(std::string_view model) {
  const auto n = model.size();
  if (n > 11 && model[n - 11] == '-' && digits_at(model, n - 10, 4) && model[n - 6] == '-' &&
      digits_at(model, n - 5, 2) && model[n - 3] == '-' && digits_at(model, n - 2, 2))
    return model.substr(0, n - 11);
  if (n > 9 && model[n - 9] == '-' && digits_at(model, n - 8, 8)) return model.substr(0, n - 9);
  if (n > 5 && model[n - 5] == '-' && digits_at(model, n - 4, 4)) return model.substr(0, n - 5);
  return std::nullopt;
}

// "claude-3-5-haiku-latest" -> "claude-3-5-haiku": an alias of the newest snapshot of a family.
std::optional<std::string_view> without_latest(std::string_view model) {
  constexpr std::string_view k_latest = "-latest";
  if (model.size() > k_latest.size() && model.ends_with(k_latest))
    return model.substr(0, model.size() - k_latest.size());
  return std::nullopt;
}

// "gemini-2.0-flash-001" -> "gemini-2.0-flash": Gemini's numbered stable versions.
std::optional<std::string_view> without_version(std::string_view model) {
  const auto n = model.size();
  if (n > 4 && model[n - 4] == '-' && digits_at(model, n - 3, 3)) return model.substr(0, n - 4);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Provider::resolve_model(std::string_view model) const {
  if (model.starts_with("models/")) model.remove_prefix(7);
  if (model.empty()) return std::nullopt;
  if (models.contains(std::string(model))) return std::string(model);
  for (auto strip : {without_date, without_latest, without_version})
    if (const auto base = strip(model); base && models.contains(std::string(*base)))
      return std::string(*base);
  return std::nullopt;
}

ModelPricing Provider::price_model(std::string_view model, const Endpoint* endpoint) const {
  if (const auto name = resolve_model(model)) return {&models.find(*name)->second, *name, true};
  std::optional<std::string> entry;
  switch (unknown_model.policy) {
    case UnknownModel::Policy::refuse:
      return {};
    case UnknownModel::Policy::price:
      return {unknown_model.price ? &*unknown_model.price : nullptr, "", false};
    case UnknownModel::Policy::price_as:
      entry = resolve_model(unknown_model.model);
      break;
    case UnknownModel::Policy::dearest:
      entry = dearest_model(endpoint);
      break;
  }
  if (!entry) return {};
  return {&models.find(*entry)->second, *entry, false};
}

std::optional<std::string> Provider::dearest_model(const Endpoint* endpoint) const {
  const Pricing pricing = endpoint ? endpoint->pricing : Pricing::tokens;
  const bool reads_output =
      !endpoint || !endpoint->output_max.empty() || !endpoint->usage.output.empty();
  // (rank, max_output) of a model that fits, or nullopt.
  auto rank = [&](const ModelPrice& m) -> std::optional<std::pair<std::int64_t, std::int64_t>> {
    if (pricing == Pricing::per_image) {
      if (m.per_image.empty()) return std::nullopt;
      std::int64_t dearest = 0;
      for (const auto& [key, price] : m.per_image) dearest = std::max(dearest, price);
      return std::pair{dearest, std::int64_t{0}};
    }
    if (pricing == Pricing::per_second) {
      const auto dearest = std::max(m.per_second, m.per_second_audio);
      if (dearest < 0) return std::nullopt;
      return std::pair{dearest, std::int64_t{0}};
    }
    if (pricing == Pricing::per_item) {
      if (m.per_item < 0) return std::nullopt;
      return std::pair{m.per_item, std::int64_t{0}};
    }
    if (pricing != Pricing::tokens) return std::nullopt;
    if (!m.per_image.empty() || m.per_second >= 0 || m.per_second_audio >= 0 || m.per_item >= 0)
      return std::nullopt;
    // Realtime models serve websocket endpoints only, ranked by their dearest modalities.
    const bool websocket = endpoint && !endpoint->websocket.format.empty();
    if (websocket != m.has_audio_prices()) return std::nullopt;
    if (websocket) {
      const RealtimePrices p = realtime_prices(m);
      return std::pair{saturating_add(p.dearest_input(), p.dearest_output()), m.max_output};
    }
    if (!reads_output && m.output > 0) return std::nullopt;
    return std::pair{saturating_add(m.input, m.output), m.max_output};
  };
  const std::string* best = nullptr;
  std::pair<std::int64_t, std::int64_t> best_rank{-1, -1};
  for (const auto& [name, price] : models)
    if (const auto r = rank(price); r && *r > best_rank) best = &name, best_rank = *r;
  if (!best) return std::nullopt;
  return *best;
}

std::string_view pricing_name(Pricing pricing) {
  switch (pricing) {
    case Pricing::flat:
      return "flat";
    case Pricing::per_item:
      return "per_item";
    case Pricing::tokens:
      return "tokens";
    case Pricing::per_second:
      return "per_second";
    case Pricing::per_image:
      return "per_image";
  }
  return "flat";
}

std::optional<Pricing> parse_pricing(std::string_view name) {
  for (const auto p :
       {Pricing::flat, Pricing::per_item, Pricing::tokens, Pricing::per_second, Pricing::per_image})
    if (pricing_name(p) == name) return p;
  return std::nullopt;
}

const Provider* Config::provider_for_host(std::string_view host) const {
  for (const auto& provider : providers)
    for (const auto& candidate : provider.hosts)
      if (candidate.size() == host.size() &&
          std::equal(candidate.begin(), candidate.end(), host.begin(), [](char a, char b) {
            return a == std::tolower(static_cast<unsigned char>(b));
          }))
        return &provider;
  return nullptr;
}

const Provider* Config::provider_for_base_path(std::string_view segment) const {
  if (segment.empty()) return nullptr;
  // Validation keeps every name and base_path to one provider.
  for (const auto& provider : providers)
    if (provider.name == segment || provider.base_path == segment) return &provider;
  return nullptr;
}

std::optional<std::int64_t> Config::catalog_age_days(
    std::chrono::system_clock::time_point now) const {
  if (!catalog_checked) return std::nullopt;
  return (std::chrono::floor<std::chrono::days>(now) - *catalog_checked).count();
}

}  // namespace rules
