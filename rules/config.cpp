#include "rules/config.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "rules/model_names.hpp"
#include "rules/realtime_cost.hpp"

namespace rules {

std::optional<std::string> Provider::resolve_model(std::string_view model) const {
  return resolve_model_name(models, model);
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
      auto dearest = std::max(m.per_second, m.per_second_audio);
      for (const auto& [size, price] : m.per_second_size) dearest = std::max(dearest, price);
      if (dearest < 0) return std::nullopt;
      return std::pair{dearest, std::int64_t{0}};
    }
    if (pricing == Pricing::per_item) {
      if (m.per_item < 0) return std::nullopt;
      return std::pair{m.per_item, std::int64_t{0}};
    }
    if (pricing != Pricing::tokens) return std::nullopt;
    if (!m.per_image.empty() || m.per_second >= 0 || m.per_second_audio >= 0 || m.per_item >= 0 ||
        !m.per_second_size.empty())
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
    case Pricing::batch:
      return "batch";
  }
  return "flat";
}

std::optional<Pricing> parse_pricing(std::string_view name) {
  for (const auto p : {Pricing::flat, Pricing::per_item, Pricing::tokens, Pricing::per_second,
                       Pricing::per_image, Pricing::batch})
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
