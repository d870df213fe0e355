#include "rules/config_sections.hpp"
#include "rules/cost.hpp"

namespace rules::detail {

std::optional<ModelPrice> parse_model_price(YamlReader& r, const YAML::Node& node,
                                            const std::string& what) {
  if (!r.expect_map(node, "model '" + what + "'",
                    {"input",
                     "cached_input",
                     "cache_write",
                     "output",
                     "max_output",
                     "cache_write_1h",
                     "cache_write_long",
                     "per_second_size",
                     "per_call",
                     "long_context_threshold",
                     "input_long",
                     "cached_input_long",
                     "output_long",
                     "per_second",
                     "per_second_audio",
                     "per_image",
                     "per_item",
                     "audio_input",
                     "audio_cached_input",
                     "audio_output",
                     "image_input",
                     "image_cached_input",
                     "tiers"}))
    return std::nullopt;
  ModelPrice price;
  price.mark = r.mark(node);
  bool ok = true;
  auto amount = [&](const char* key, std::int64_t& into) {
    if (!node[key]) return;
    if (auto value = r.amount(node[key], key))
      into = *value;
    else
      ok = false;
  };
  auto whole = [&](const char* key, std::int64_t& into) {
    if (!node[key]) return;
    if (auto value = r.integer(node[key], key))
      into = *value;
    else
      ok = false;
  };
  amount("input", price.input);
  amount("cached_input", price.cached_input);
  amount("cache_write", price.cache_write);
  amount("output", price.output);
  whole("max_output", price.max_output);
  whole("long_context_threshold", price.long_context_threshold);
  amount("input_long", price.input_long);
  amount("cached_input_long", price.cached_input_long);
  amount("output_long", price.output_long);
  amount("per_second", price.per_second);
  amount("per_second_audio", price.per_second_audio);
  amount("per_item", price.per_item);
  amount("audio_input", price.audio_input);
  amount("audio_cached_input", price.audio_cached_input);
  amount("audio_output", price.audio_output);
  amount("image_input", price.image_input);
  amount("image_cached_input", price.image_cached_input);
  amount("cache_write_1h", price.cache_write_1h);
  amount("cache_write_long", price.cache_write_long);
  auto prices = [&](const char* key, const char* what, std::map<std::string, std::int64_t>& into) {
    const auto& map = node[key];
    if (!map) return;
    if (!map.IsMap()) {
      r.error(map, "'" + std::string(key) + "' must be a mapping of " + what + " to a price");
      ok = false;
      return;
    }
    for (auto it = map.begin(); it != map.end(); ++it)
      if (auto value = r.amount(it->second, it->first.Scalar()))
        into[it->first.Scalar()] = *value;
      else
        ok = false;
  };
  prices("per_image", "size or size/quality", price.per_image);
  prices("per_second_size", "size", price.per_second_size);
  prices("per_call", "tool name", price.per_call);
  if (price.long_context_threshold > 0 && price.input_long < 0 && price.output_long < 0) {
    r.error(node["long_context_threshold"],
            "model '" + what + "' has a long_context_threshold but no input_long or output_long");
    ok = false;
  }
  // tiers: { flex: { input, cached_input, output }, priority: {...} } (OpenAI's service tiers).
  if (const auto& tiers = node["tiers"]) {
    if (!tiers.IsMap()) {
      r.error(tiers, "'tiers' must be a mapping of a service tier (flex, priority) to its prices");
      ok = false;
    } else {
      for (auto it = tiers.begin(); it != tiers.end(); ++it) {
        const std::string tier = it->first.Scalar();
        const YAML::Node t = it->second;  // a copy: `it->` is a proxy that dies here
        if (!r.expect_map(t, "tier '" + tier + "' of model '" + what + "'",
                          {"input", "cached_input", "output"})) {
          ok = false;
          continue;
        }
        if (!t["input"] || !t["output"]) {
          r.error(t,
                  "tier '" + tier + "' of model '" + what + "' needs an input and an output price");
          ok = false;
          continue;
        }
        std::int64_t input = 0, cached = -1, output = 0;
        const auto in = r.amount(t["input"], "input");
        const auto out = r.amount(t["output"], "output");
        std::optional<std::int64_t> cache;
        if (t["cached_input"]) cache = r.amount(t["cached_input"], "cached_input");
        if (!in || !out || (t["cached_input"] && !cache)) {
          ok = false;
          continue;
        }
        input = *in;
        output = *out;
        if (cache) cached = *cache;
        price.tiers[tier] =
            std::make_shared<const ModelPrice>(tier_price(price, input, cached, output));
      }
    }
  }
  if (!ok) return std::nullopt;
  return price;
}

}  // namespace rules::detail
