// Pricing a request before it is sent: a chat completion to the shipped catalog's OpenAI
// endpoint with the input as its JSON body (the model, max_tokens, n and messages a client
// chooses), through the estimator and the request values it reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/catalog_support.hpp"
#include "rules/estimator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rules::HeaderList headers{{"Content-Type", "application/json"}};
  rules::RequestView view;
  view.method = "POST";
  view.host = "api.openai.com";
  view.path = "/v1/chat/completions";
  view.headers = &headers;
  view.body = std::string_view(reinterpret_cast<const char*>(data), size);
  const auto priced = rules::price_request(fuzz::catalog(), view);
  if (!priced.error && (priced.estimate.micros < 0 || priced.estimated_tokens < 0))
    __builtin_trap();
  return 0;
}
