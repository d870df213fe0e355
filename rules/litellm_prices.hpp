#pragma once
// LiteLLM's model_prices_and_context_window.json as catalog prices: read by `prices_file:` on a
// provider and by `tollgate prices import`, which also compares them with the catalog in use.
// Numbers are read as their source text and converted with integer arithmetic, so "1.5e-07" per
// token becomes exactly 150000 micro-units per 1M tokens.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"

namespace rules {

struct LitellmTable {
  std::map<std::string, ModelPrice> models;  // by the name requests send (prefix dropped)
  std::vector<std::string> problems;         // one line per entry left out (an invalid value)
};

// The litellm_provider values whose entries price `provider`: its `litellm_provider:` when set;
// else by its hosts (api.openai.com: openai and text-completion-openai; api.anthropic.com:
// anthropic; generativelanguage.googleapis.com: gemini; a Vertex AI host:
// vertex_ai-video-models); else its name.
std::vector<std::string> litellm_providers_of(const Provider& provider);

// Parses the table, keeping the entries whose litellm_provider is one of `accepted`. A name's
// "x/" prefix is dropped (gemini/gemini-2.5-flash prices gemini-2.5-flash) and a prefixed entry
// wins over a bare one of the same name; sized image entries ("hd/1024-x-1792/dall-e-3") become
// per_image prices of their model. nullopt, with `error` set, when the text is no JSON object.
std::optional<LitellmTable> read_litellm_table(std::string_view json,
                                               const std::vector<std::string>& accepted,
                                               std::string& error);

// Adds the table's models to a provider's `models`: a model already there wins, and so does its
// family: a dated, -latest or numbered entry (gpt-4o-2024-08-06) is left out when `models` prices
// the name it resolves to.
void add_litellm_models(std::map<std::string, ModelPrice>& models,
                        const std::map<std::string, ModelPrice>& table);

// One price that differs between the catalog and the table, for a model both list.
struct PriceDifference {
  std::string model, field, catalog, litellm;  // amounts as the catalog writes them, "-" unset
};

// Every difference, model by model (the models both list), field by field. Prices with a
// fallback compare as they apply (a cached_input left out costs input; a tool call the model does
// not price costs the endpoint's `each`, given by tool name in `per_call_defaults`); per_second
// and per_second_audio compare as the rates without and with audio; tool calls only for the
// tools the table prices.
std::vector<PriceDifference> compare_prices(
    const std::map<std::string, ModelPrice>& catalog,
    const std::map<std::string, ModelPrice>& table,
    const std::map<std::string, std::int64_t>& per_call_defaults = {});

// The models as one provider of a catalog file's `providers:` ("  NAME:\n    models:\n", one
// line per model), without a dated or numbered entry priced exactly as its family.
std::string litellm_models_yaml(const std::string& provider,
                                const std::map<std::string, ModelPrice>& models);

}  // namespace rules
