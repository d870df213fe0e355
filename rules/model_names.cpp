#include "rules/model_names.hpp"

#include <cctype>

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

constexpr std::optional<std::string_view> (*k_strips[])(std::string_view) = {
    without_date, without_latest, without_version};

}  // namespace

std::optional<std::string> resolve_model_name(const std::map<std::string, ModelPrice>& models,
                                              std::string_view model) {
  if (model.starts_with("models/")) model.remove_prefix(7);
  if (model.empty()) return std::nullopt;
  if (models.contains(std::string(model))) return std::string(model);
  for (auto strip : k_strips)
    if (const auto base = strip(model); base && models.contains(std::string(*base)))
      return std::string(*base);
  return std::nullopt;
}

std::optional<std::string_view> model_family(std::string_view model) {
  for (auto strip : k_strips)
    if (const auto base = strip(model)) return base;
  return std::nullopt;
}

}  // namespace rules
