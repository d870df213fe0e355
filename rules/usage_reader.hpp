#pragma once
// Reads what a provider says an exchange cost, from the response headers and the decoded body
// (JSON or SSE, in any byte splits): token usage priced at the model, or the provider's own cost,
// plus balance and rate-limit reports.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"
#include "rules/cost.hpp"
#include "rules/request_view.hpp"
#include "rules/sse_parser.hpp"
#include "rules/usage_fields.hpp"

namespace rules {

struct UsageResult {
  // Usage (or the provider's cost) was found and is final. When false, `tokens` may still hold
  // the partial counts of a stream that was cut, and actual_micros is empty: charge the estimate.
  bool usage_seen = false;
  TokenCounts tokens;
  std::optional<std::int64_t> actual_micros;  // tokens priced at the model, or the provider's cost
  std::optional<std::int64_t> balance;        // provider balance (micro-units), body or header
  std::optional<std::int64_t> refill_per_minute;
  std::optional<std::int64_t> refill_in_ms;  // Keepa refillIn
  // remaining_tokens, remaining_requests, reset_tokens, reset_requests as reported, plus every
  // x-ratelimit-* / anthropic-ratelimit-* header under its own (lower-case) name.
  std::map<std::string, std::string> rate_limits;
  std::string model;  // model reported by the provider, if any
  // The service tier the answer says it was processed in (UsageSpec::service_tier), if any.
  std::string service_tier;
  // The tier whose prices actual_micros is at: the answer's, else the one asked, when the model
  // prices it apart; "" for the standard prices.
  std::string priced_tier;
  std::string id;  // the top-level "id" of a JSON answer (a file's, a batch's, a message's)
  // Built-in tool calls the answer reports (by tool charge name) and what they cost, included
  // in actual_micros.
  std::map<std::string, std::int64_t> tool_calls;
  std::int64_t tool_micros = 0;
  int status = 0;
};

// One per response. Pointer rule for streams: the endpoint's usage pointers are evaluated against
// the usage-bearing object, chosen so that the same pointers serve the JSON and the streamed form:
// openai-sse -> the final usage chunk; openai-responses-sse -> `response` of response.completed;
// anthropic-sse -> the last message_delta, each field missing there taken from message_start's
// `message`; gemini-sse and Gemini JSON-array streams -> the last chunk carrying usage.
class UsageReader {
 public:
  // endpoint may be nullptr (default_cost path: only provider-level usage/balance apply).
  // `model` is the model the request was priced for (used when the response names none or an
  // unknown one). `streaming`: the request asked for a stream (SSE); the response's Content-Type,
  // not this, decides whether the body is read as JSON or SSE.
  UsageReader(const Provider& provider, const Endpoint* endpoint, std::string model,
              bool streaming);

  void on_headers(const ResponseHeadView& head);
  void on_body(std::string_view decoded);
  UsageResult finish();

  // Price of one image on a per_image endpoint without token usage (the estimator knows the size
  // and quality asked for); default: the dearest image price the model lists.
  // Images counted in a response without usage are charged at this price each (the estimate's,
  // for the size and quality asked); without it, at the model's dearest per-image price.
  void set_image_price(std::int64_t micros) { image_price_ = micros; }
  // The service tier the request asked for (Priced::service_tier): the tier priced when the
  // answer names none.
  void set_service_tier(std::string tier) { requested_tier_ = std::move(tier); }
  // A built-in tool the request listed: the calls the answer reports are charged at `each`.
  void charge_tool(const ToolCharge& tool, std::int64_t each) {
    tools_.push_back({&tool, each, std::nullopt});
  }
  // Bound on a non-streamed JSON body kept for parsing at finish; past it only the tail is kept.
  static constexpr std::size_t k_max_json_bytes = 8u << 20;
  static constexpr std::size_t k_tail_bytes = 256u << 10;

 private:
  enum class Mode { unknown, json, sse };
  struct SseSink {
    UsageReader* reader;
    void operator()(const SseEvent& e) const { reader->on_event(e); }
  };

  void on_event(const SseEvent& e);
  bool on_gemini_chunk(const SseEvent& e);
  void on_chat_chunk(const SseEvent& e);
  void take_usage(const rapidjson::Value& doc, UsageFields& into,
                  UsageConvention& convention) const;
  void read_json_body(UsageResult& r);
  void read_json_tail(UsageResult& r);
  void read_provider_fields(const rapidjson::Value& root, UsageResult& r);
  void price(UsageResult& r);
  // Counts the calls of the charged tools that `obj` reports (an answer, a streamed event's
  // message or response, a Gemini chunk).
  void observe_tools(const rapidjson::Value& obj);
  void price_seconds(const rapidjson::Value& root, UsageResult& r);
  // The price of the model billed, at tier() unless `at_tier` is false.
  const ModelPrice* model_price(bool at_tier = true) const;
  // The tier the answer names, else the one asked.
  const std::string& tier() const;
  // Reads the answer's service tier from `obj` (the usage-bearing object) into `into`.
  void take_tier(const rapidjson::Value& obj, std::string& into) const;
  const UsageSpec& token_spec() const;

  const Provider* provider_;
  const Endpoint* endpoint_;
  std::string requested_model_;
  std::string requested_tier_;
  Mode mode_ = Mode::unknown;
  UsageResult result_;
  std::optional<std::int64_t> image_price_;
  std::optional<std::int64_t> header_cost_;
  std::int64_t image_count_ = 0;  // data[] of an image response without usage
  struct ToolTally {
    const ToolCharge* tool;
    std::int64_t each;
    std::optional<std::int64_t> calls;
  };
  std::vector<ToolTally> tools_;

  std::string body_;  // JSON bodies, parsed once at finish
  bool body_overflow_ = false;
  std::string head_;  // first bytes of a body past the bound

  SseParser sse_;
  bool final_usage_ = false;  // the stream's terminal usage event arrived
  UsageFields fields_;        // counts of the usage-bearing object
  UsageConvention convention_ = UsageConvention::exclusive;
  UsageFields anthropic_start_;   // message_start counts, under the message_delta ones
  std::string last_gemini_;       // raw data of the last event with usageMetadata
  bool gemini_finished_ = false;  // some event carried a finishReason
};

}  // namespace rules
