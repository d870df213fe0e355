// LiteLLM's model_prices_and_context_window.json: {"model": {"input_cost_per_token": 3e-06, ...}}.
// Numbers are read as their source text and converted with integer arithmetic, so "1.5e-07" per
// token becomes exactly 150000 micro-units per 1M tokens.
#include <rapidjson/document.h>

#include <fstream>
#include <sstream>

#include "rules/config_sections.hpp"
#include "rules/json_reader.hpp"

namespace rules::detail {
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

}  // namespace

std::optional<std::int64_t> litellm_price_per_million(std::string_view per_token_text) {
  return scaled_decimal(per_token_text, k_per_token_scale);
}

void import_litellm_prices(const std::string& path, const Mark& mark,
                           std::map<std::string, ModelPrice>& models,
                           std::vector<Diagnostic>& errors) {
  auto fail = [&](std::string message) {
    errors.push_back(Diagnostic{mark.file, mark.line, mark.col, std::move(message)});
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read prices_file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  const auto read = read_json(doc, text.str(), {.numbers_as_strings = true});
  if (!read.ok() || !doc.IsObject())
    return fail("prices_file '" + path + "' is not a JSON object: " +
                (!read.ok() ? read.message : std::string("top level is not an object")));
  const std::map<std::string, std::int64_t ModelPrice::*> k_fields = {
      {"input_cost_per_token", &ModelPrice::input},
      {"output_cost_per_token", &ModelPrice::output},
      {"cache_read_input_token_cost", &ModelPrice::cached_input},
      {"cache_creation_input_token_cost", &ModelPrice::cache_write},
      {"input_cost_per_token_above_200k_tokens", &ModelPrice::input_long},
      {"output_cost_per_token_above_200k_tokens", &ModelPrice::output_long},
      {"cache_read_input_token_cost_above_200k_tokens", &ModelPrice::cached_input_long},
  };
  std::map<std::string, ModelPrice> imported;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    const std::string name = it->name.GetString();
    if (name == "sample_spec" || !it->value.IsObject()) continue;
    ModelPrice price;
    price.mark = mark;
    bool priced = false, ok = true;
    for (auto field = it->value.MemberBegin(); field != it->value.MemberEnd(); ++field) {
      const std::string key = field->name.GetString();
      if (!field->value.IsString()) continue;  // numbers arrive as strings; others do not price
      const std::string_view value = field->value.GetString();
      if (auto target = k_fields.find(key); target != k_fields.end()) {
        const auto micros = scaled_decimal(value, k_per_token_scale);
        if (!micros) {
          fail("prices_file '" + path + "': model '" + name + "' has an invalid " + key + " '" +
               std::string(value) + "'");
          ok = false;
          continue;
        }
        price.*(target->second) = *micros;
        priced = true;
      } else if (key == "max_output_tokens" || key == "max_tokens") {
        const auto tokens = scaled_decimal(value, 0);
        if (tokens && (key == "max_output_tokens" || price.max_output == 0))
          price.max_output = *tokens;
      }
    }
    if (price.input_long >= 0 || price.output_long >= 0) price.long_context_threshold = 200000;
    if (!ok || !priced) continue;
    imported[name] = price;
    // "gemini/gemini-2.5-pro": requests name the bare model.
    if (const auto slash = name.rfind('/'); slash != std::string::npos)
      imported.emplace(name.substr(slash + 1), price);
  }
  for (auto& [name, price] : imported) models.emplace(name, price);  // YAML models win
}

}  // namespace rules::detail
