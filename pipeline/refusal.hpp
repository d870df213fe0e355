#pragma once
// Local replies for refused requests, in the provider's own error shape (DESIGN §7), so that
// SDKs raise their usual error and do not retry in a loop.

#include <cstdint>
#include <optional>
#include <string>

#include "budget/enforcer.hpp"
#include "pipeline/exchange_hooks.hpp"

namespace proxy {

struct Refusal {
  budget::RefusedBy kind = budget::RefusedBy::budget;  // x-tollgate-refused
  std::string name;     // x-tollgate-budget: the budget, limit, breaker or provider name
  std::string message;  // human-readable reason
  int status = 429;
  std::optional<std::int64_t> retry_after_s;
  bool should_retry = false;
  std::optional<std::int64_t> balance_left;  // micro-units (Keepa's tokensLeft)
  // The request itself is at fault (it cannot be priced, or its JSON is hostile): the provider's
  // invalid-request error (OpenAI and Anthropic invalid_request_error, Gemini INVALID_ARGUMENT),
  // so that SDKs raise their bad-request error rather than a rate-limit one.
  bool invalid_request = false;
  // OpenAI's error `code` for an invalid request (e.g. model_not_priced); "" = null.
  std::string code;
};

// Renders a refusal for a provider with `error_style` openai | anthropic | gemini | keepa | plain.
LocalReply render_refusal(const std::string& error_style, const Refusal& refusal);

}  // namespace proxy
