#pragma once
// The pricing part of the config model: endpoints, cost models, model prices, usage pointers.
// Owned by rules/; the proxy and budget modules only pass these around.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rules {

// Where a value was written, so that later stages can still report FILE:LINE:COL.
struct Mark {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
};

// A reference to a value of a request or response: "body:/json/pointer", "query:name",
// "header:name", "path:name" (a {name} capture of the endpoint's path pattern),
// "subprotocol:PREFIX" (the rest of the Sec-WebSocket-Protocol entry that starts with PREFIX, as
// browsers pass an OpenAI Realtime key: openai-insecure-api-key.KEY); any other text is a
// literal (e.g. `model: gpt-4o` on an endpoint that serves one model).
struct ValueRef {
  enum class Source { none, body, query, header, path, subprotocol, literal };
  Source source = Source::none;
  std::string key;   // JSON pointer for body; name otherwise
  std::string text;  // as written, for messages

  bool empty() const { return source == Source::none; }
};

// Where the actual usage is found in a response (JSON pointers into the body, or into the
// usage-bearing SSE event when streaming).
struct UsageSpec {
  std::string input, cached_input, cache_write, output, reasoning;  // token counts
  // Of cache_write, the tokens written for one hour (Anthropic's cache_creation breakdown).
  std::string cache_write_1h;
  // per_second endpoints: the seconds and size of the video the answer describes (OpenAI's video
  // job), which settle the request at what was made rather than what was asked.
  std::string seconds, size;
  // The service tier the provider says it processed the request in (OpenAI's "service_tier":
  // "default", "flex", "priority"), which picks the model's tier prices for the settlement.
  std::string service_tier;
  ValueRef cost;  // actual cost directly in the provider's currency (Keepa tokensConsumed)
};

struct ModelPrice {
  // micro-units of the provider currency per 1M tokens (USD 0.15 / 1M -> 150000)
  std::int64_t input = 0, cached_input = -1, cache_write = -1, output = 0;
  std::int64_t max_output = 0;  // tokens
  // Long-context tier: above this many prompt tokens the *_long prices apply (0 = no tier).
  std::int64_t long_context_threshold = 0;
  std::int64_t input_long = -1, cached_input_long = -1, output_long = -1;
  // Cache writes kept one hour (Anthropic: 2x input; default: cache_write), and cache writes in
  // the long-context tier (default: cache_write).
  std::int64_t cache_write_1h = -1, cache_write_long = -1;
  // Video priced per second by size ("1280x720" -> micro-units per second; sora-2-pro's
  // high-resolution sizes cost more); a size not listed is priced at per_second.
  std::map<std::string, std::int64_t> per_second_size;
  // Built-in tools billed per call (web search, file search, code interpreter containers,
  // grounding), by the name of the endpoint's tool charge; micro-units per call.
  std::map<std::string, std::int64_t> per_call;
  // Per-second (video) and per-image prices, micro-units.
  std::int64_t per_second = -1, per_second_audio = -1;
  std::map<std::string, std::int64_t> per_image;  // key "size" or "size/quality"
  // Price of one item on a per_item endpoint that names a model (TTS: per character), micro-units.
  std::int64_t per_item = -1;
  // Realtime models (rules/realtime_cost.hpp) price each modality, per 1M tokens; -1 falls back to
  // the text price of its kind (audio_cached_input and image_cached_input to audio_input and
  // image_input). A model with audio prices is a realtime (or audio) model.
  std::int64_t audio_input = -1, audio_cached_input = -1, audio_output = -1;
  std::int64_t image_input = -1, image_cached_input = -1;
  bool has_audio_prices() const { return audio_input >= 0 || audio_output >= 0; }
  // Service tiers billed apart (OpenAI flex and priority processing), by the name the request and
  // the answer use: the whole price as that tier bills it (made at config load from the tier's
  // input, cached_input and output; the *_long prices scaled as those are). Not nested further.
  std::map<std::string, std::shared_ptr<const ModelPrice>, std::less<>> tiers;
  // The price of `tier` when the model lists it; else this one (the standard tier: "default",
  // "auto", "", or a tier the model does not price).
  const ModelPrice& at_tier(std::string_view tier) const {
    if (tiers.empty() || tier.empty()) return *this;
    const auto it = tiers.find(tier);
    return it == tiers.end() ? *this : *it->second;
  }
  Mark mark;
};

// websocket: { format: openai-realtime | gemini-live }: the endpoint is a WebSocket session metered
// per response (DESIGN §12).
struct WebSocketSpec {
  std::string format;                     // "" = not a websocket endpoint
  std::uint64_t max_message = 16u << 20;  // bytes of one message, all fragments (1009 past it)
};

struct StreamSpec {
  std::string format;  // openai-sse | openai-responses-sse | anthropic-sse | gemini-sse
  bool inject_include_usage = false;  // include_usage: inject
};

// A built-in tool the provider bills per call on top of the tokens (web search, file search, code
// interpreter containers, Gemini grounding): held for every tool of these types the request
// lists, settled from the calls the answer reports.
struct ToolCharge {
  // How an answer reports the calls: output items of a type (OpenAI Responses: web_search_call),
  // distinct values of a field of those items (code_interpreter_call/container_id: containers),
  // a count at a JSON pointer of the usage-bearing object (Anthropic
  // /usage/server_tool_use/web_search_requests), or Gemini's grounding metadata (one per grounded
  // prompt, or one per search query).
  enum class Count { output_items, output_distinct, pointer, grounded_prompts, grounded_queries };
  std::string name;                // the price's name: ModelPrice::per_call[name], else `each`
  std::vector<std::string> types;  // a tools[] element asks for it by `type` or by a key of these
  // Price per call, micro-units, by the variant the tool element names at `variant` ("" when it
  // names none, or no variant is read); empty: only models' per_call prices it.
  std::map<std::string, std::int64_t> each;
  std::string variant;       // JSON pointer into the tool element (/container/memory_limit)
  std::int64_t reserve = 1;  // calls held per tool listed, unless max_uses says otherwise
  std::string max_uses;      // JSON pointer into the tool element bounding its calls (/max_uses)
  Count count = Count::output_items;
  std::string count_key;   // output item type, "type/field" for distinct, or a JSON pointer
  std::string count_text;  // as written, for messages
};

// pricing: batch — a batch of requests priced as the sum of its requests at `percent` of their
// price (the providers bill batches at half price): inline (Anthropic: each element of
// `requests`, its `params` priced as `endpoint`), or from an uploaded file (OpenAI: `file` names
// an input file tollgate priced when it saw the upload; else the provider's batch_estimate).
struct BatchSpec {
  ValueRef requests;
  std::string params;    // JSON pointer into each element of `requests`: the request's body
  std::string endpoint;  // the endpoint of this provider each request is priced as
  ValueRef file;
  int percent = 50;
};

// How an endpoint's price is computed (DESIGN §4).
enum class Pricing { flat, per_item, tokens, per_second, per_image, batch };
// The config's spelling of each kind, for errors and explanations.
std::string_view pricing_name(Pricing pricing);
std::optional<Pricing> parse_pricing(std::string_view name);

struct Endpoint {
  std::string name;
  std::string method;  // empty = any
  std::string path;    // pattern: literal, {name} captures, trailing * for any rest
  Pricing pricing = Pricing::flat;
  std::optional<std::int64_t> cost;  // flat cost, micro-units
  // per_item
  ValueRef per_item;
  std::string separator = ",";
  std::int64_t each = 0;        // micro-units
  std::string count = "items";  // items: list length / comma count | chars: characters of a string
  // tokens
  ValueRef model;
  std::string default_model;  // what a request that names no model gets (the API's default)
  std::vector<ValueRef> input_estimate;
  std::vector<ValueRef> output_max;
  ValueRef multiplier;
  StreamSpec stream;
  UsageSpec usage;
  // per_image: the size and quality asked for (absent: the dearest the model lists).
  ValueRef size, quality;
  // per_second: first present of `seconds`, else default_seconds; audio on unless `audio` is false.
  std::vector<ValueRef> seconds;
  std::int64_t default_seconds = 8;
  ValueRef audio;
  // Built-in tools billed per call (tools: [...]), read from body:/tools; max_tool_calls bounds
  // the calls of all of them together (OpenAI Responses' max_tool_calls).
  std::vector<ToolCharge> tools;
  ValueRef max_tool_calls;
  // The service tier the request asks for (OpenAI: body:/service_tier): a tier the model prices
  // (ModelPrice::tiers) is estimated at that tier's price.
  ValueRef service_tier;
  BatchSpec batch;
  // batch_input: a multipart upload (POST /v1/files) whose purpose is "batch": its JSONL
  // requests are priced and remembered under the file id of the answer, for pricing: batch.
  bool batch_input = false;
  // output_cap: inject — write an output maximum (at the first body pointer of output_max) into
  // a request that names none or more than the tightest budget affords; default_output_max
  // bounds it further (0: the model's max_output only).
  bool inject_output_cap = false;
  std::int64_t default_output_max = 0;
  WebSocketSpec websocket;
  // max_duration: a websocket session is closed (1008) when it has lasted this long (0 = no limit).
  std::chrono::milliseconds max_duration{0};
  Mark mark;
};

}  // namespace rules
