#include "rules/litellm_prices.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <functional>
#include <sstream>

#include "rules/config_sections.hpp"
#include "rules/cost.hpp"
#include "rules/json_reader.hpp"
#include "rules/model_names.hpp"

namespace rules {
namespace {

// Decimal or scientific text times 10^scale, rounded up (a price is never under-counted);
// nullopt when malformed, negative or out of range.
std::optional<std::int64_t> scaled_decimal(std::string_view text, int scale) {
  std::string digits;
  int exponent = scale;
  std::size_t i = 0;
  bool dot = false;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.' && !dot)
      dot = true;
    else if (text[i] >= '0' && text[i] <= '9') {
      digits += text[i];
      if (dot) --exponent;
    } else
      return std::nullopt;
  }
  if (digits.empty()) return std::nullopt;
  if (i < text.size()) {
    auto rest = text.substr(i + 1);
    bool negative = false;
    if (!rest.empty() && (rest[0] == '-' || rest[0] == '+'))
      negative = rest[0] == '-', rest.remove_prefix(1);
    if (rest.empty() || rest.size() > 4) return std::nullopt;
    int e = 0;
    for (char c : rest) {
      if (c < '0' || c > '9') return std::nullopt;
      e = e * 10 + (c - '0');
    }
    exponent += negative ? -e : e;
  }
  const auto first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  digits.erase(0, first);
  bool remainder = false;
  while (exponent < 0 && !digits.empty()) {
    remainder |= digits.back() != '0';
    digits.pop_back();
    ++exponent;
  }
  if (exponent < 0) digits.clear();
  if (digits.size() + static_cast<std::size_t>(exponent) > 18) return std::nullopt;
  std::int64_t value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  for (int k = 0; k < exponent; ++k) value *= 10;
  return value + (remainder ? 1 : 0);
}

// Per-token cost -> micro-units per 1M tokens: x * 1e6 tokens * 1e6 micro = x * 1e12.
constexpr int k_per_token_scale = 12;
// Per-second, per-image, per-character, per-call cost -> micro-units: x * 1e6.
constexpr int k_per_unit_scale = 6;

struct Field {
  std::int64_t ModelPrice::*target;
  int scale;
  std::int64_t threshold = 0;  // a long-context field: the tier it starts
};

const std::map<std::string, Field, std::less<>>& fields() {
  static const std::map<std::string, Field, std::less<>> k_fields = {
      {"input_cost_per_token", {&ModelPrice::input, k_per_token_scale}},
      {"output_cost_per_token", {&ModelPrice::output, k_per_token_scale}},
      {"cache_read_input_token_cost", {&ModelPrice::cached_input, k_per_token_scale}},
      {"cache_creation_input_token_cost", {&ModelPrice::cache_write, k_per_token_scale}},
      {"cache_creation_input_token_cost_above_1hr",
       {&ModelPrice::cache_write_1h, k_per_token_scale}},
      {"input_cost_per_token_above_200k_tokens",
       {&ModelPrice::input_long, k_per_token_scale, 200000}},
      {"output_cost_per_token_above_200k_tokens",
       {&ModelPrice::output_long, k_per_token_scale, 200000}},
      {"cache_read_input_token_cost_above_200k_tokens",
       {&ModelPrice::cached_input_long, k_per_token_scale, 200000}},
      {"cache_creation_input_token_cost_above_200k_tokens",
       {&ModelPrice::cache_write_long, k_per_token_scale, 200000}},
      {"input_cost_per_token_above_272k_tokens",
       {&ModelPrice::input_long, k_per_token_scale, 272000}},
      {"output_cost_per_token_above_272k_tokens",
       {&ModelPrice::output_long, k_per_token_scale, 272000}},
      {"cache_read_input_token_cost_above_272k_tokens",
       {&ModelPrice::cached_input_long, k_per_token_scale, 272000}},
      {"cache_creation_input_token_cost_above_272k_tokens",
       {&ModelPrice::cache_write_long, k_per_token_scale, 272000}},
      // Video: LiteLLM lists one rate per second (Veo's is the rate with audio).
      {"output_cost_per_second", {&ModelPrice::per_second, k_per_unit_scale}},
      {"output_cost_per_video_per_second", {&ModelPrice::per_second, k_per_unit_scale}},
      {"input_cost_per_character", {&ModelPrice::per_item, k_per_unit_scale}},
  };
  return k_fields;
}

// "input_cost_per_token_flex" -> {"flex", 0}: a service tier's input (0), cached input (1) or
// output (2) price; nullopt for any other key.
std::optional<std::pair<std::string, int>> service_tier_field(std::string_view key) {
  static constexpr std::pair<std::string_view, int> k_kinds[] = {
      {"input_cost_per_token_", 0},
      {"cache_read_input_token_cost_", 1},
      {"output_cost_per_token_", 2}};
  for (const auto& [prefix, kind] : k_kinds) {
    if (!key.starts_with(prefix)) continue;
    const auto tier = key.substr(prefix.size());
    if (tier == "flex" || tier == "priority") return std::pair{std::string(tier), kind};
  }
  return std::nullopt;
}

// search_context_cost_per_query: the provider's web search tool, by the name its catalog
// endpoint charges it under.
std::string_view search_tool_of(std::string_view litellm_provider) {
  if (litellm_provider == "anthropic") return "web_search";
  if (litellm_provider == "gemini") return "google_search";
  return {};
}

// "hd/1024-x-1792/dall-e-3" -> {"dall-e-3", "1024x1792/hd"}; "256-x-256/dall-e-2" ->
// {"dall-e-2", "256x256"}; nullopt for any other name.
std::optional<std::pair<std::string, std::string>> sized_image(std::string_view name) {
  std::string_view quality;
  auto slash = name.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  if (name.substr(0, slash).find("-x-") == std::string_view::npos) {
    quality = name.substr(0, slash);
    name.remove_prefix(slash + 1);
    slash = name.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
  }
  const auto size = name.substr(0, slash);
  const auto x = size.find("-x-");
  if (x == std::string_view::npos) return std::nullopt;
  const auto w = scaled_decimal(size.substr(0, x), 0), h = scaled_decimal(size.substr(x + 3), 0);
  if (!w || !h || size.substr(0, x).find('.') != std::string_view::npos) return std::nullopt;
  std::string key = std::to_string(*w) + "x" + std::to_string(*h);
  if (!quality.empty()) key += "/" + std::string(quality);
  return std::pair{std::string(name.substr(slash + 1)), key};
}

std::string text_of(const rapidjson::Value& v) {
  return v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : std::string();
}

// Reads one entry's prices; false (with a problem noted) when a price is malformed.
bool read_entry(const std::string& name, const rapidjson::Value& entry, std::string_view provider,
                ModelPrice& price, std::vector<std::string>& problems, bool& priced) {
  bool ok = true;
  // max_tokens is the output maximum of a model that writes text; of an embedding or video model
  // it bounds the input.
  const auto mode_it = entry.FindMember("mode");
  const std::string mode = mode_it == entry.MemberEnd() ? "" : text_of(mode_it->value);
  const bool generates_text =
      mode.empty() || mode == "chat" || mode == "completion" || mode == "responses";
  auto bad = [&](std::string_view key, const std::string& value) {
    problems.push_back("model '" + name + "' has an invalid " + std::string(key) + " '" + value +
                       "'");
    ok = false;
  };
  // Service tiers (OpenAI flex and priority): input, cached_input, output per tier. OpenAI's
  // entries only: the catalog reads the tier of OpenAI's requests and answers, not Gemini's.
  std::map<std::string, std::array<std::int64_t, 3>> tiers;
  for (auto field = entry.MemberBegin(); field != entry.MemberEnd(); ++field) {
    const std::string_view key(field->name.GetString(), field->name.GetStringLength());
    if (const auto tier = service_tier_field(key)) {
      if (provider != "openai") continue;
      if (!field->value.IsString()) continue;
      const std::string value = text_of(field->value);
      const auto micros = scaled_decimal(value, k_per_token_scale);
      if (!micros) {
        bad(key, value);
        continue;
      }
      auto [it, fresh] = tiers.try_emplace(tier->first, std::array<std::int64_t, 3>{-1, -1, -1});
      it->second[tier->second] = *micros;
      continue;
    }
    if (key == "search_context_cost_per_query" && field->value.IsObject()) {
      const auto tool = search_tool_of(provider);
      if (tool.empty()) continue;
      // The dearest context size: never under-count.
      std::int64_t dearest = -1;
      for (auto size = field->value.MemberBegin(); size != field->value.MemberEnd(); ++size) {
        const auto micros = scaled_decimal(text_of(size->value), k_per_unit_scale);
        if (!micros) {
          bad(key, text_of(size->value));
          continue;
        }
        dearest = std::max(dearest, *micros);
      }
      if (dearest >= 0) price.per_call[std::string(tool)] = dearest;
      continue;
    }
    if (!field->value.IsString()) continue;  // numbers arrive as strings; others do not price
    const std::string value = text_of(field->value);
    if (key == "max_output_tokens" || (key == "max_tokens" && generates_text)) {
      const auto tokens = scaled_decimal(value, 0);
      if (tokens && (key == "max_output_tokens" || price.max_output == 0))
        price.max_output = *tokens;
      continue;
    }
    if (key == "output_cost_per_image") {
      if (const auto micros = scaled_decimal(value, k_per_unit_scale))
        price.per_image["any"] = *micros, priced = true;
      else
        bad(key, value);
      continue;
    }
    if (key == "output_cost_per_second_1080p") {
      if (const auto micros = scaled_decimal(value, k_per_unit_scale))
        price.per_second_size["1080p"] = *micros, priced = true;
      else
        bad(key, value);
      continue;
    }
    const auto target = fields().find(key);
    if (target == fields().end()) continue;
    const auto micros = scaled_decimal(value, target->second.scale);
    if (!micros) {
      bad(key, value);
      continue;
    }
    price.*(target->second.target) = *micros;
    // The 200K tier is the one a model with both would bill first.
    if (target->second.threshold && (price.long_context_threshold == 0 ||
                                     target->second.threshold < price.long_context_threshold))
      price.long_context_threshold = target->second.threshold;
    priced = true;
  }
  // A tier with both an input and an output price (LiteLLM lists some with one of them only).
  for (const auto& [tier, p] : tiers)
    if (p[0] >= 0 && p[2] >= 0)
      price.tiers[tier] = std::make_shared<const ModelPrice>(tier_price(price, p[0], p[1], p[2]));
  return ok;
}

// The price of one sized image entry: its per-image cost. A per-pixel cost is left out: LiteLLM
// derives it from the per-image price with a rounding (dall-e-3's 0.04 comes back as 0.040001).
std::optional<std::int64_t> image_price(const rapidjson::Value& entry) {
  for (const char* key : {"input_cost_per_image", "output_cost_per_image"})
    if (const auto it = entry.FindMember(key); it != entry.MemberEnd())
      if (const auto micros = scaled_decimal(text_of(it->value), k_per_unit_scale);
          micros && *micros > 0)
        return micros;
  return std::nullopt;
}

std::string amount_text(std::int64_t micros) {
  return micros < 0 ? "-" : format_micros(micros);
}

std::int64_t pick(std::int64_t preferred, std::int64_t fallback) {
  return preferred >= 0 ? preferred : fallback;
}

// The prices of a model as compared and written: name, value (-1 unset), whether an amount.
struct Scalar {
  const char* name;
  std::int64_t value;
  bool amount;
};

std::vector<Scalar> scalars(const ModelPrice& p, bool effective) {
  const bool long_tier = p.long_context_threshold > 0;
  if (effective)
    return {
        {"input", p.input, true},
        {"cached_input", pick(p.cached_input, p.input), true},
        {"cache_write", pick(p.cache_write, p.input), true},
        {"cache_write_1h", pick(p.cache_write_1h, pick(p.cache_write, p.input)), true},
        {"output", p.output, true},
        {"max_output", p.max_output > 0 ? p.max_output : -1, false},
        {"long_context_threshold", long_tier ? p.long_context_threshold : -1, false},
        {"input_long", long_tier ? pick(p.input_long, p.input) : -1, true},
        {"cached_input_long",
         long_tier ? pick(p.cached_input_long, pick(p.cached_input, pick(p.input_long, p.input)))
                   : -1,
         true},
        {"cache_write_long",
         long_tier ? pick(p.cache_write_long, pick(p.cache_write, pick(p.input_long, p.input)))
                   : -1,
         true},
        {"output_long", long_tier ? pick(p.output_long, p.output) : -1, true},
        {"per_second", pick(p.per_second, p.per_second_audio), true},
        {"per_second_audio", pick(p.per_second_audio, p.per_second), true},
        {"per_item", p.per_item, true},
    };
  const bool tokens = p.per_image.empty() && p.per_second < 0 && p.per_second_audio < 0 &&
                      p.per_item < 0 && p.per_second_size.empty();
  return {
      {"input", tokens || p.input > 0 ? p.input : -1, true},
      {"cached_input", p.cached_input, true},
      {"cache_write", p.cache_write, true},
      {"cache_write_1h", p.cache_write_1h, true},
      {"output", tokens || p.output > 0 ? p.output : -1, true},
      {"max_output", p.max_output > 0 ? p.max_output : -1, false},
      {"long_context_threshold", long_tier ? p.long_context_threshold : -1, false},
      {"input_long", p.input_long, true},
      {"cached_input_long", p.cached_input_long, true},
      {"cache_write_long", p.cache_write_long, true},
      {"output_long", p.output_long, true},
      {"per_second", p.per_second, true},
      {"per_second_audio", p.per_second_audio, true},
      {"per_item", p.per_item, true},
  };
}

const std::pair<const char*, std::map<std::string, std::int64_t> ModelPrice::*> k_maps[] = {
    {"per_second_size", &ModelPrice::per_second_size},
    {"per_image", &ModelPrice::per_image},
    {"per_call", &ModelPrice::per_call},
};

// What a service tier's entry states: input, cached_input, output.
std::array<std::int64_t, 3> tier_scalars(const ModelPrice& tier) {
  return {tier.input, tier.cached_input, tier.output};
}
constexpr const char* k_tier_fields[] = {"input", "cached_input", "output"};

// `b` without tiers matches `a` whatever a's tiers (LiteLLM lists a family's tiers on the family
// entry only: a snapshot left out of the YAML resolves to the family and gets them).
bool same_prices(const ModelPrice& a, const ModelPrice& b) {
  const auto sa = scalars(a, false), sb = scalars(b, false);
  for (std::size_t i = 0; i < sa.size(); ++i)
    if (sa[i].value != sb[i].value) return false;
  for (const auto& [name, map] : k_maps)
    if (a.*map != b.*map) return false;
  if (b.tiers.empty()) return true;
  if (a.tiers.size() != b.tiers.size()) return false;
  for (const auto& [tier, price] : a.tiers) {
    const auto other = b.tiers.find(tier);
    if (other == b.tiers.end() || tier_scalars(*price) != tier_scalars(*other->second))
      return false;
  }
  return true;
}

bool plain_yaml_key(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

std::string yaml_key(std::string_view name) {
  if (plain_yaml_key(name)) return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<std::string> litellm_providers_of(const Provider& provider) {
  if (!provider.litellm_providers.empty()) return provider.litellm_providers;
  std::vector<std::string> out;
  auto add = [&](std::initializer_list<const char*> names) {
    for (const char* name : names)
      if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
  };
  for (const auto& host : provider.hosts) {
    if (host == "api.openai.com") add({"openai", "text-completion-openai"});
    if (host == "api.anthropic.com") add({"anthropic"});
    if (host == "generativelanguage.googleapis.com") add({"gemini"});
    if (host == "aiplatform.googleapis.com" || host.ends_with("-aiplatform.googleapis.com"))
      add({"vertex_ai-video-models"});
  }
  if (out.empty()) out.push_back(provider.name);
  return out;
}

std::optional<LitellmTable> read_litellm_table(std::string_view json,
                                               const std::vector<std::string>& accepted,
                                               std::string& error) {
  rapidjson::Document doc;
  const auto read = read_json(doc, json, {.numbers_as_strings = true});
  if (!read.ok() || !doc.IsObject()) {
    error = !read.ok() ? read.message : std::string("top level is not an object");
    return std::nullopt;
  }
  LitellmTable table;
  std::map<std::string, ModelPrice> bare, prefixed;
  std::map<std::string, std::map<std::string, std::int64_t>> images;  // model -> per_image
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string name(it->name.GetString(), it->name.GetStringLength());
    if (name == "sample_spec" || !it->value.IsObject()) continue;
    const auto provider = it->value.FindMember("litellm_provider");
    if (provider == it->value.MemberEnd()) continue;
    const std::string litellm_provider = text_of(provider->value);
    if (std::find(accepted.begin(), accepted.end(), litellm_provider) == accepted.end()) continue;
    if (const auto sized = sized_image(name)) {
      if (const auto price = image_price(it->value)) images[sized->first][sized->second] = *price;
      continue;
    }
    ModelPrice price;
    bool priced = false;
    if (!read_entry(name, it->value, litellm_provider, price, table.problems, priced) || !priced)
      continue;
    const auto slash = name.rfind('/');
    if (slash == std::string::npos)
      bare[name] = std::move(price);
    else
      prefixed[name.substr(slash + 1)] = std::move(price);
  }
  table.models = std::move(bare);
  for (auto& [name, price] : prefixed) table.models[name] = std::move(price);
  for (auto& [name, sizes] : images) table.models[name].per_image = std::move(sizes);
  return table;
}

void add_litellm_models(std::map<std::string, ModelPrice>& models,
                        const std::map<std::string, ModelPrice>& table) {
  const auto own = models;  // the provider's own entries, before any import
  for (const auto& [name, price] : table) {
    if (own.contains(name)) continue;
    if (const auto family = model_family(name);
        family && resolve_model_name(own, std::string(*family)))
      continue;  // a snapshot or alias of a model priced here: its family's price wins
    models.emplace(name, price);
  }
}

std::vector<PriceDifference> compare_prices(
    const std::map<std::string, ModelPrice>& catalog,
    const std::map<std::string, ModelPrice>& table,
    const std::map<std::string, std::int64_t>& per_call_defaults) {
  std::vector<PriceDifference> out;
  for (const auto& [name, mine] : catalog) {
    const auto theirs = table.find(name);
    if (theirs == table.end()) continue;
    const auto a = scalars(mine, true), b = scalars(theirs->second, true);
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i].value != b[i].value)
        out.push_back({name, a[i].name,
                       a[i].amount ? amount_text(a[i].value)
                                   : (a[i].value < 0 ? "-" : std::to_string(a[i].value)),
                       b[i].amount ? amount_text(b[i].value)
                                   : (b[i].value < 0 ? "-" : std::to_string(b[i].value))});
    for (const auto& [map_name, map] : k_maps) {
      std::map<std::string, std::pair<std::int64_t, std::int64_t>> keys;
      const bool calls = map == &ModelPrice::per_call;
      // Tool calls: the tools the table prices for this model, at the price that applies here
      // (the model's, else the endpoint's); the table prices tools for some models only.
      if (calls)
        for (const auto& [key, value] : theirs->second.per_call) {
          const auto own = mine.per_call.find(key);
          const auto fallback = per_call_defaults.find(key);
          keys[key] = {own != mine.per_call.end()            ? own->second
                       : fallback != per_call_defaults.end() ? fallback->second
                                                             : -1,
                       -1};
        }
      else
        for (const auto& [key, value] : mine.*map) keys[key] = {value, -1};
      for (const auto& [key, value] : theirs->second.*map) {
        auto [entry, fresh] = keys.try_emplace(key, std::pair{std::int64_t{-1}, value});
        if (!fresh) entry->second.second = value;
      }
      for (const auto& [key, values] : keys)
        if (values.first != values.second)
          out.push_back({name, std::string(map_name) + "." + key, amount_text(values.first),
                         amount_text(values.second)});
    }
    std::map<std::string, std::pair<std::array<std::int64_t, 3>, std::array<std::int64_t, 3>>>
        tiers;
    const std::array<std::int64_t, 3> none{-1, -1, -1};
    for (const auto& [tier, price] : mine.tiers) tiers[tier] = {tier_scalars(*price), none};
    for (const auto& [tier, price] : theirs->second.tiers) {
      auto [entry, fresh] = tiers.try_emplace(tier, std::pair{none, tier_scalars(*price)});
      if (!fresh) entry->second.second = tier_scalars(*price);
    }
    for (const auto& [tier, values] : tiers)
      for (std::size_t i = 0; i < 3; ++i)
        if (values.first[i] != values.second[i])
          out.push_back({name, "tiers." + tier + "." + k_tier_fields[i],
                         amount_text(values.first[i]), amount_text(values.second[i])});
  }
  return out;
}

std::string litellm_models_yaml(const std::string& provider,
                                const std::map<std::string, ModelPrice>& models) {
  std::string out = "  " + yaml_key(provider) + ":\n    models:\n";
  for (const auto& [name, price] : models) {
    if (const auto family = model_family(name)) {
      const auto base = models.find(std::string(*family));
      if (base != models.end() && same_prices(base->second, price)) continue;
    }
    std::string line;
    auto add = [&](const std::string& item) { line += (line.empty() ? "" : ", ") + item; };
    for (const auto& s : scalars(price, false))
      if (s.value >= 0)
        add(std::string(s.name) + ": " +
            (s.amount ? format_micros(s.value) : std::to_string(s.value)));
    for (const auto& [map_name, map] : k_maps) {
      if ((price.*map).empty()) continue;
      std::string inner;
      for (const auto& [key, value] : price.*map)
        inner += (inner.empty() ? "" : ", ") + yaml_key(key) + ": " + format_micros(value);
      add(std::string(map_name) + ": { " + inner + " }");
    }
    if (!price.tiers.empty()) {
      std::string inner;
      for (const auto& [tier, p] : price.tiers) {
        std::string fields;
        const auto values = tier_scalars(*p);
        for (std::size_t i = 0; i < 3; ++i)
          if (values[i] >= 0)
            fields += (fields.empty() ? "" : ", ") + std::string(k_tier_fields[i]) + ": " +
                      format_micros(values[i]);
        inner += (inner.empty() ? "" : ", ") + yaml_key(tier) + ": { " + fields + " }";
      }
      add("tiers: { " + inner + " }");
    }
    out += "      " + yaml_key(name) + ": { " + line + " }\n";
  }
  return out;
}

namespace detail {

std::optional<std::int64_t> litellm_price_per_million(std::string_view per_token_text) {
  return scaled_decimal(per_token_text, k_per_token_scale);
}

void import_litellm_prices(const std::string& path, const Mark& mark, Provider& provider,
                           std::vector<Diagnostic>& errors) {
  auto fail = [&](std::string message) {
    errors.push_back(Diagnostic{mark.file, mark.line, mark.col, std::move(message)});
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read prices_file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto table = read_litellm_table(text.str(), litellm_providers_of(provider), error);
  if (!table) return fail("prices_file '" + path + "' is not a JSON object: " + error);
  for (const auto& problem : table->problems) fail("prices_file '" + path + "': " + problem);
  for (auto& [name, price] : table->models) price.mark = mark;
  add_litellm_models(provider.models, table->models);
}

}  // namespace detail
}  // namespace rules
