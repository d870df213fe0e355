#pragma once
// Step 2 of the pipeline: the worst-case cost of one request, before it is sent. Output is priced
// at its maximum (max_tokens, else the model's max_output), input from the request's bytes at a
// conservative bytes-per-token: the estimate is meant to be >= the provider's bill.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"
#include "rules/money.hpp"
#include "rules/request_view.hpp"

namespace rules {

struct Priced {
  const Provider* provider = nullptr;  // nullptr: the host is no provider's (tunnel, free)
  const Endpoint* endpoint = nullptr;  // nullptr: no endpoint matched -> default_cost
  std::string endpoint_name;           // "default" when no endpoint matched
  std::string model;                   // "" when the endpoint has none
  Money estimate;                      // in provider->currency
  std::int64_t estimated_tokens = 0;   // input+output tokens (token rate limits)
  bool streaming = false;              // body says "stream": true (or path says stream)
  std::string explanation;             // which fields were used, human-readable, one line each
  std::optional<std::string> error;    // set: refuse this request with this message
  // The entry of the provider's models the model was priced as, when not the model itself
  // (a dated or -latest name, or unknown_model: dearest | price_as); "" otherwise.
  std::string priced_as;
  bool unpriced_model = false;  // the model is not listed: unknown_model priced (or refused) it
  // The service tier the request asks for (Endpoint::service_tier), as written; "" when none.
  std::string service_tier;

  // Token pricing, for output_cap: the price used, the input tokens estimated, the output
  // maximum per choice and the multiplier (n) it is taken by.
  const ModelPrice* price = nullptr;
  std::int64_t input_tokens = 0, output_tokens = 0, multiplier = 1;
  const ValueRef* output_named_at = nullptr;  // where the request named its output maximum
  // Per-image pricing: the price of one image of the size and quality the request asked for
  // (the dearest consistent with it), at which the images the response holds are charged.
  std::optional<std::int64_t> image_price;

  // Built-in tools the request lists (Endpoint::tools): the calls held and the price of one, at
  // which the calls the answer reports are charged.
  struct ToolHold {
    const ToolCharge* tool = nullptr;
    std::int64_t calls = 0, each = 0;
  };
  std::vector<ToolHold> tools;
  // pricing: batch with a file: the input file the batch names, and the share of the price of
  // its requests that a batch costs. The estimate is the provider's batch_estimate (error set
  // when it has none) until the hooks find the price of the upload.
  std::string batch_file;
  int batch_percent = 100;
};

// A batch input file (OpenAI's JSONL: one {"custom_id", "method", "url", "body"} per line), each
// line priced as a request to `provider`, at full price. `error` names the first line that
// cannot be priced.
struct BatchFilePrice {
  std::int64_t micros = 0;
  std::int64_t requests = 0;
  std::optional<std::string> error;
};
BatchFilePrice price_batch_file(const Config& config, const Provider& provider,
                                std::string_view jsonl);

// `micros` at `percent` %, rounded up.
std::int64_t percent_of(std::int64_t micros, int percent);

// Matches provider (by host) + endpoint (method, path pattern) + model, and estimates the cost.
Priced price_request(const Config& config, const RequestView& request);

}  // namespace rules
