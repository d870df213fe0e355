#include "pipeline/refusal.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>

namespace proxy {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key_string(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string error_type(const Refusal& r) {
  return r.invalid_request ? "invalid_request" : "budget_exceeded";
}

std::string openai_body(const Refusal& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  key_string(w, "message", r.message);
  key_string(w, "type", r.invalid_request ? "invalid_request_error" : "budget_exceeded");
  w.Key("param");
  w.Null();
  w.Key("code");
  if (!r.invalid_request)
    w.String("budget_exceeded");
  else if (!r.code.empty())
    w.String(r.code.c_str(), static_cast<rapidjson::SizeType>(r.code.size()));
  else
    w.Null();
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::string anthropic_body(const Refusal& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  key_string(w, "type", "error");
  w.Key("error");
  w.StartObject();
  key_string(w, "type", r.invalid_request ? "invalid_request_error" : "rate_limit_error");
  key_string(w, "message", r.message);
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::string gemini_body(const Refusal& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.Int(r.status);
  key_string(w, "message", r.message);
  key_string(w, "status",
             r.invalid_request ? "INVALID_ARGUMENT"
             : r.status == 429 ? "RESOURCE_EXHAUSTED"
                               : "FAILED_PRECONDITION");
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

// Keepa answers every call with its token state; a refusal keeps that shape so that clients
// which read tokensLeft/refillIn to pace themselves keep working.
std::string keepa_body(const Refusal& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  w.StartObject();
  w.Key("timestamp");
  w.Int64(now_ms);
  w.Key("tokensLeft");
  w.Int64(r.balance_left ? *r.balance_left / 1'000'000 : 0);
  w.Key("refillIn");
  w.Int64(r.retry_after_s ? *r.retry_after_s * 1000 : 0);
  w.Key("tokensConsumed");
  w.Int64(0);
  w.Key("error");
  w.StartObject();
  key_string(w, "type", error_type(r));
  key_string(w, "message", r.message);
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::string plain_body(const Refusal& r) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  key_string(w, "type", error_type(r));
  key_string(w, "message", r.message);
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

}  // namespace

LocalReply render_refusal(const std::string& error_style, const Refusal& refusal) {
  LocalReply reply;
  reply.status = refusal.status;
  if (error_style == "openai")
    reply.body = openai_body(refusal);
  else if (error_style == "anthropic")
    reply.body = anthropic_body(refusal);
  else if (error_style == "gemini")
    reply.body = gemini_body(refusal);
  else if (error_style == "keepa")
    reply.body = keepa_body(refusal);
  else
    reply.body = plain_body(refusal);
  reply.headers.emplace_back("content-type", "application/json");
  reply.headers.emplace_back("x-tollgate-refused", budget::refused_by_name(refusal.kind));
  if (!refusal.name.empty()) reply.headers.emplace_back("x-tollgate-budget", refusal.name);
  if (refusal.retry_after_s)
    reply.headers.emplace_back("retry-after", std::to_string(*refusal.retry_after_s));
  // The OpenAI and Anthropic SDKs honour x-should-retry before their own retry policy.
  reply.headers.emplace_back("x-should-retry", refusal.should_retry ? "true" : "false");
  return reply;
}

}  // namespace proxy
