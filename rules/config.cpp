#include "rules/config.hpp"

#include <algorithm>
#include <cctype>

namespace rules {
namespace {

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "gpt-4o-2024-08-06" -> "gpt-4o", "claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5": providers
// bill a dated snapshot at the price of its family name.
std::string_view strip_date_suffix(std::string_view model) {
  if (model.size() > 11 && model[model.size() - 11] == '-') {
    const auto tail = model.substr(model.size() - 10);
    if (all_digits(tail.substr(0, 4)) && tail[4] == '-' && all_digits(tail.substr(5, 2)) &&
        tail[7] == '-' && all_digits(tail.substr(8, 2)))
      return model.substr(0, model.size() - 11);
  }
  if (model.size() > 9 && model[model.size() - 9] == '-' &&
      all_digits(model.substr(model.size() - 8)))
    return model.substr(0, model.size() - 9);
  return model;
}

}  // namespace

const ModelPrice* Provider::price_for_model(std::string_view model) const {
  if (model.starts_with("models/")) model.remove_prefix(7);
  if (auto it = models.find(std::string(model)); it != models.end()) return &it->second;
  const auto base = strip_date_suffix(model);
  if (base != model)
    if (auto it = models.find(std::string(base)); it != models.end()) return &it->second;
  return unknown_model_price ? &*unknown_model_price : nullptr;
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

}  // namespace rules
