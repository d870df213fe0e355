#pragma once
// Prices of realtime sessions (OpenAI Realtime, Gemini Live; DESIGN §12): token counts per
// modality as the provider reports them for one response (or turn), their exact cost, and the
// worst case of a response before it starts.
//
// Both providers count cached tokens as a subset of input ("input tokens will include cached and
// uncached tokens"), so each modality is billed (input - cached) at its price plus cached at its
// cached price: no token is billed twice. Reasoning tokens are part of the text output.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>

#include "rules/pricing_model.hpp"

namespace rules {

struct Modalities {
  std::int64_t text = 0, audio = 0, image = 0;
  std::int64_t total() const { return text + audio + image; }
  friend bool operator==(const Modalities&, const Modalities&) = default;
};

struct RealtimeUsage {
  Modalities input;   // cached included
  Modalities cached;  // a subset of input, per modality
  Modalities output;  // text (reasoning included) and audio
  // Tokens a report counts without saying of which modality: billed at the dearest price of
  // their kind (input or output). Cached tokens it does not split are billed as uncached.
  std::int64_t input_unsplit = 0, output_unsplit = 0;
  friend bool operator==(const RealtimeUsage&, const RealtimeUsage&) = default;
};

// The modality prices of a model after fallbacks, micro-units per 1M tokens.
struct RealtimePrices {
  std::int64_t input = 0, cached_input = 0, output = 0;
  std::int64_t audio_input = 0, audio_cached_input = 0, audio_output = 0;
  std::int64_t image_input = 0, image_cached_input = 0;
  std::int64_t dearest_input() const;
  std::int64_t dearest_output() const;
};
RealtimePrices realtime_prices(const ModelPrice& price);

// OpenAI Realtime: the `usage` object of a response.done event's response. nullopt when it is
// not an object or names no token count.
std::optional<RealtimeUsage> openai_realtime_usage(const rapidjson::Value& usage);

// OpenAI Realtime: the `usage` of conversation.item.input_audio_transcription.completed when it
// counts tokens (type "tokens"); nullopt for a duration (see transcription_seconds).
std::optional<RealtimeUsage> openai_transcription_usage(const rapidjson::Value& usage);
// The seconds of a transcription usage of type "duration" (rounded up), else nullopt.
std::optional<std::int64_t> transcription_seconds(const rapidjson::Value& usage);

// Gemini Live: a server message's `usageMetadata` (promptTokenCount with cached included,
// cachedContentTokenCount, responseTokenCount or candidatesTokenCount, thoughtsTokenCount,
// toolUsePromptTokenCount, and their *Details lists by modality). TEXT, DOCUMENT and VIDEO count
// as text, AUDIO as audio, IMAGE as image.
std::optional<RealtimeUsage> gemini_live_usage(const rapidjson::Value& usage_metadata);

// Exact cost in micro-units, rounded up once (never under-counted).
std::int64_t realtime_cost(const ModelPrice& price, const RealtimeUsage& usage);

// What a response may read and write at most.
struct RealtimeWorstCase {
  Modalities context;             // input tokens it reads, billed uncached
  std::int64_t output_max = 0;    // tokens
  bool text_output_only = false;  // output_modalities ["text"]: the text output price
};
std::int64_t realtime_worst_case(const ModelPrice& price, const RealtimeWorstCase& worst);

}  // namespace rules
