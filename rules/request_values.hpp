#pragma once
// Reads the values a ValueRef points at in one request: body JSON (parsed once, on first use) or
// the fields of a multipart/form-data body, query parameters (percent-decoded), headers, path
// captures and literals.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rules/json_reader.hpp"
#include "rules/matcher.hpp"
#include "rules/pricing_model.hpp"
#include "rules/request_view.hpp"

namespace rules {

// The rest of the first entry of a Sec-WebSocket-Protocol list that starts with `prefix`
// ("realtime, openai-insecure-api-key.sk-1" with prefix "openai-insecure-api-key." -> "sk-1").
std::optional<std::string> subprotocol(std::string_view list, std::string_view prefix);

class RequestValues {
 public:
  RequestValues(const RequestView& request, const Captures& captures)
      : request_(request), captures_(captures) {}

  bool present(const ValueRef& ref);
  std::optional<std::string> text(const ValueRef& ref);
  // A whole number (JSON number or digit string); nullopt when absent or not a number.
  std::optional<std::int64_t> integer(const ValueRef& ref);
  // JSON true/false or "true"/"false"; nullopt when absent.
  std::optional<bool> boolean(const ValueRef& ref);
  // Items: JSON array length, or the non-empty parts of a string split by `separator`;
  // chars: characters (UTF-8 code points) of a string. nullopt when absent.
  std::optional<std::int64_t> count(const ValueRef& ref, const std::string& separator, bool chars);
  // Serialized size of the value (JSON text for body values) and, for an array, its length.
  std::optional<std::int64_t> bytes(const ValueRef& ref, std::int64_t& elements);
  // The JSON value a body reference points at (nullptr: absent, null, or no JSON body).
  const rapidjson::Value* value(const ValueRef& ref) {
    return ref.source == ValueRef::Source::body ? json(ref.key) : nullptr;
  }
  // True when the body is a JSON document (parsing it on first use).
  bool body_is_json();
  // Why a JSON body must not be priced (nested too deep, or a key twice: tollgate would read the
  // first, the provider the last), naming the problem; nullopt for any other body.
  std::optional<std::string> body_refusal();

 private:
  const rapidjson::Value* json(const std::string& pointer);
  std::optional<std::string> form_field(const std::string& pointer);
  std::optional<std::string> query_param(const std::string& name) const;

  const RequestView& request_;
  const Captures& captures_;
  bool parsed_ = false;
  JsonReadResult body_read_;
  ScratchDocument<> body_scratch_;
  rapidjson::Document& body_ = *body_scratch_;
};

}  // namespace rules
