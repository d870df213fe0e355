#pragma once
// Section parsers shared by the config loader's files. Each applies one YAML section onto the
// structs, reporting every problem through the YamlReader and going on.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "rules/config.hpp"
#include "rules/yaml_reader.hpp"

namespace rules::detail {

// Applies the settings of one file's root mapping (everything but include, providers, budgets,
// rate_limits and breakers) onto `config`; keys present replace earlier values.
void apply_top_level(YamlReader& reader, const YAML::Node& root, Config& config);

// Applies `node` (the mapping under providers.NAME) onto `into`: keys present replace, `models`
// merge by model name, `endpoints` merge by endpoint name (a later include overrides one price
// without restating the provider).
void apply_provider(YamlReader& reader, const YAML::Node& node, Provider& into);

// One model price (USD-like amounts per 1M tokens); nullopt after reporting when malformed.
std::optional<ModelPrice> parse_model_price(YamlReader& reader, const YAML::Node& node,
                                            const std::string& what);

std::optional<BudgetConfig> parse_budget(YamlReader& reader, const YAML::Node& node);
std::optional<RateLimitConfig> parse_rate_limit(YamlReader& reader, const YAML::Node& node);
std::optional<BreakerConfig> parse_breaker(YamlReader& reader, const YAML::Node& node);
std::optional<Match> parse_match(YamlReader& reader, const YAML::Node& node);

// Cross-section checks on the merged config (currencies, hosts, endpoints, model prices).
void validate_config(const Config& config, std::vector<Diagnostic>& errors);

// A LiteLLM per-token cost ("3e-06", "0.0000025") as micro-units per 1M tokens, exactly (rounded
// up past the micro-unit); nullopt when malformed.
std::optional<std::int64_t> litellm_price_per_million(std::string_view per_token_text);

// Imports LiteLLM's model_prices_and_context_window.json into the provider's models: the entries
// of its litellm_provider values, its own models (and their families) winning
// (rules/litellm_prices.hpp). Problems are reported at `mark` (the prices_file key).
void import_litellm_prices(const std::string& path, const Mark& mark, Provider& provider,
                           std::vector<Diagnostic>& errors);

}  // namespace rules::detail
