#include "rules/realtime_cost.hpp"

#include <algorithm>
#include <limits>
#include <string_view>

#include "rules/json_reader.hpp"
#include "rules/usage_fields.hpp"

namespace rules {
namespace {

constexpr std::int64_t k_per_price_unit = 1'000'000;  // prices are per 1M tokens

std::int64_t pick(std::int64_t preferred, std::int64_t fallback) {
  return preferred >= 0 ? preferred : fallback;
}

std::int64_t count(const rapidjson::Value* obj, const char* name) {
  return json_count(json_member(obj, name)).value_or(0);
}

std::int64_t minus(std::int64_t a, std::int64_t b) {
  return a > b ? a - b : 0;
}

__int128 term(std::int64_t tokens, std::int64_t price) {
  if (tokens <= 0 || price <= 0) return 0;
  return static_cast<__int128>(tokens) * price;
}

std::int64_t round_up_micros(__int128 pico) {
  const __int128 micros = (pico + k_per_price_unit - 1) / k_per_price_unit;
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  return micros > k_max ? k_max : static_cast<std::int64_t>(micros);
}

// Gemini's [{modality, tokenCount}] into per-modality counts.
Modalities modality_list(const rapidjson::Value* list) {
  Modalities out;
  if (!list || !list->IsArray()) return out;
  for (const auto& item : list->GetArray()) {
    const auto* modality = json_member(&item, "modality");
    const std::int64_t n = count(&item, "tokenCount");
    if (!modality || !modality->IsString()) continue;
    const std::string_view name(modality->GetString(), modality->GetStringLength());
    if (name == "AUDIO")
      out.audio += n;
    else if (name == "IMAGE")
      out.image += n;
    else
      out.text += n;  // TEXT, DOCUMENT, VIDEO: the input price
  }
  return out;
}

}  // namespace

std::int64_t RealtimePrices::dearest_input() const {
  return std::max({input, audio_input, image_input});
}

std::int64_t RealtimePrices::dearest_output() const {
  return std::max(output, audio_output);
}

RealtimePrices realtime_prices(const ModelPrice& price) {
  RealtimePrices p;
  p.input = price.input;
  p.cached_input = pick(price.cached_input, price.input);
  p.output = price.output;
  p.audio_input = pick(price.audio_input, price.input);
  p.audio_cached_input = pick(price.audio_cached_input, p.audio_input);
  p.audio_output = pick(price.audio_output, price.output);
  p.image_input = pick(price.image_input, price.input);
  p.image_cached_input = pick(price.image_cached_input, p.image_input);
  return p;
}

std::optional<RealtimeUsage> openai_realtime_usage(const rapidjson::Value& usage) {
  if (!usage.IsObject()) return std::nullopt;
  const auto input_total = json_count(json_member(&usage, "input_tokens"));
  const auto output_total = json_count(json_member(&usage, "output_tokens"));
  if (!input_total && !output_total) return std::nullopt;
  RealtimeUsage u;
  const auto* in = json_member(&usage, "input_token_details");
  u.input = {count(in, "text_tokens"), count(in, "audio_tokens"), count(in, "image_tokens")};
  const auto* cached = json_member(in, "cached_tokens_details");
  u.cached = {count(cached, "text_tokens"), count(cached, "audio_tokens"),
              count(cached, "image_tokens")};
  u.input_unsplit = minus(input_total.value_or(0), u.input.total());
  const auto* out = json_member(&usage, "output_token_details");
  // reasoning_tokens (gpt-realtime-2) are part of text_tokens: not added again.
  u.output = {count(out, "text_tokens"), count(out, "audio_tokens"), 0};
  u.output_unsplit = minus(output_total.value_or(0), u.output.total());
  return u;
}

std::optional<RealtimeUsage> openai_transcription_usage(const rapidjson::Value& usage) {
  const auto* type = json_member(&usage, "type");
  if (type && type->IsString() && std::string_view(type->GetString()) != "tokens")
    return std::nullopt;
  const auto input_total = json_count(json_member(&usage, "input_tokens"));
  const auto output_total = json_count(json_member(&usage, "output_tokens"));
  if (!input_total && !output_total) return std::nullopt;
  RealtimeUsage u;
  const auto* in = json_member(&usage, "input_token_details");
  u.input = {count(in, "text_tokens"), count(in, "audio_tokens"), 0};
  u.input_unsplit = minus(input_total.value_or(0), u.input.total());
  u.output.text = output_total.value_or(0);
  return u;
}

std::optional<std::int64_t> transcription_seconds(const rapidjson::Value& usage) {
  const auto* type = json_member(&usage, "type");
  if (!type || !type->IsString() || std::string_view(type->GetString()) != "duration")
    return std::nullopt;
  const auto* seconds = json_member(&usage, "seconds");
  if (!seconds || !seconds->IsNumber() || seconds->GetDouble() < 0) return std::nullopt;
  const double s = seconds->GetDouble();
  if (s > 1e9) return std::nullopt;
  const auto whole = static_cast<std::int64_t>(s);
  return whole + (static_cast<double>(whole) < s ? 1 : 0);
}

std::optional<RealtimeUsage> gemini_live_usage(const rapidjson::Value& meta) {
  if (!meta.IsObject()) return std::nullopt;
  const auto prompt = json_count(json_member(&meta, "promptTokenCount"));
  auto response = json_count(json_member(&meta, "responseTokenCount"));
  if (!response) response = json_count(json_member(&meta, "candidatesTokenCount"));
  const auto thoughts = json_count(json_member(&meta, "thoughtsTokenCount"));
  const auto tool = json_count(json_member(&meta, "toolUsePromptTokenCount"));
  if (!prompt && !response && !thoughts && !tool) return std::nullopt;
  RealtimeUsage u;
  u.input = modality_list(json_member(&meta, "promptTokensDetails"));
  const Modalities tool_details = modality_list(json_member(&meta, "toolUsePromptTokensDetails"));
  u.input.text += tool_details.text;
  u.input.audio += tool_details.audio;
  u.input.image += tool_details.image;
  u.input_unsplit = minus(prompt.value_or(0) + tool.value_or(0), u.input.total());
  u.cached = modality_list(json_member(&meta, "cacheTokensDetails"));
  // A cached count with no split by modality is left uncached (never under-count).
  u.output = modality_list(json_member(&meta, "responseTokensDetails"));
  if (u.output.total() == 0)
    u.output = modality_list(json_member(&meta, "candidatesTokensDetails"));
  u.output.image = 0;  // Live answers in text or audio
  u.output_unsplit = minus(response.value_or(0), u.output.total());
  // Thinking is billed as text output, on top of the response.
  u.output.text += thoughts.value_or(0);
  return u;
}

std::int64_t realtime_cost(const ModelPrice& price, const RealtimeUsage& u) {
  const RealtimePrices p = realtime_prices(price);
  auto modality = [](std::int64_t in, std::int64_t cached, std::int64_t rate,
                     std::int64_t cached_rate) {
    cached = std::clamp<std::int64_t>(cached, 0, std::max<std::int64_t>(in, 0));
    return term(in - cached, rate) + term(cached, cached_rate);
  };
  const __int128 pico =
      modality(u.input.text, u.cached.text, p.input, p.cached_input) +
      modality(u.input.audio, u.cached.audio, p.audio_input, p.audio_cached_input) +
      modality(u.input.image, u.cached.image, p.image_input, p.image_cached_input) +
      term(u.input_unsplit, p.dearest_input()) + term(u.output.text, p.output) +
      term(u.output.audio, p.audio_output) + term(u.output.image, p.output) +
      term(u.output_unsplit, p.dearest_output());
  return round_up_micros(pico);
}

std::int64_t realtime_worst_case(const ModelPrice& price, const RealtimeWorstCase& worst) {
  const RealtimePrices p = realtime_prices(price);
  const std::int64_t output_rate = worst.text_output_only ? p.output : p.dearest_output();
  const __int128 pico =
      term(worst.context.text, p.input) + term(worst.context.audio, p.audio_input) +
      term(worst.context.image, p.image_input) + term(worst.output_max, output_rate);
  return round_up_micros(pico);
}

}  // namespace rules
