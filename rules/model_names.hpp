#pragma once
// How providers resolve the model name a request sends to the entry it is billed as: one home for
// the config's lookup (Provider::resolve_model) and the LiteLLM import, which must agree on which
// names are snapshots of a family.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "rules/pricing_model.hpp"

namespace rules {

// The entry of `models` that `model` is billed as: Gemini's "models/" prefix dropped; then the
// exact name; then without a snapshot date (gpt-4o-2024-08-06, claude-sonnet-4-5-20250929,
// gpt-3.5-turbo-0125), without "-latest" (claude-3-5-haiku-latest) or without a version number
// (gemini-2.0-flash-001). nullopt: none.
std::optional<std::string> resolve_model_name(const std::map<std::string, ModelPrice>& models,
                                              std::string_view model);

// The family name a dated, -latest or numbered name is a snapshot or alias of, nullopt when
// `model` is none of those.
std::optional<std::string_view> model_family(std::string_view model);

}  // namespace rules
