#include "rules/usage_fields.hpp"

#include <rapidjson/pointer.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <unordered_map>

#include "rules/money.hpp"

namespace rules {
namespace {

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  const auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

const rapidjson::Value* member(const rapidjson::Value* obj, const char* name) {
  return obj ? member(*obj, name) : nullptr;
}

std::int64_t minus(std::int64_t a, std::int64_t b) {
  return a > b ? a - b : 0;
}

}  // namespace

void UsageFields::fill_from(const UsageFields& base) {
  if (!input) input = base.input;
  if (!cached_input) cached_input = base.cached_input;
  if (!cache_write) cache_write = base.cache_write;
  if (!output) output = base.output;
  if (!reasoning) reasoning = base.reasoning;
  if (!cache_write_1h) cache_write_1h = base.cache_write_1h;
}

TokenCounts UsageFields::normalize(UsageConvention convention) const {
  TokenCounts t;
  t.input = input.value_or(0);
  t.cached_input = cached_input.value_or(0);
  t.cache_write = cache_write.value_or(0);
  t.output = output.value_or(0);
  t.reasoning = reasoning.value_or(0);
  // The 1-hour writes are part of the cache writes reported: billed apart, never twice.
  t.cache_write_1h = std::min(cache_write_1h.value_or(0), t.cache_write);
  t.cache_write -= t.cache_write_1h;
  switch (convention) {
    case UsageConvention::exclusive:
      break;
    case UsageConvention::openai:
      // Reasoning is part of completion_tokens: split it out, never count it twice.
      t.input = minus(t.input, t.cached_input);
      t.output = minus(t.output, t.reasoning);
      break;
    case UsageConvention::gemini:
      t.input = minus(t.input, t.cached_input);
      break;
  }
  return t;
}

std::optional<std::int64_t> json_count(const rapidjson::Value* v) {
  if (!v) return std::nullopt;
  if (v->IsInt64()) {
    return v->GetInt64() >= 0 ? std::optional<std::int64_t>(v->GetInt64()) : std::nullopt;
  }
  if (!v->IsString()) return std::nullopt;
  const char* begin = v->GetString();
  const char* end = begin + v->GetStringLength();
  std::int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(begin, end, n);
  if (ec != std::errc{} || ptr != end || n < 0) return std::nullopt;
  return n;
}

std::optional<std::int64_t> json_micros(const rapidjson::Value* v) {
  if (!v) return std::nullopt;
  if (v->IsInt64()) {
    const std::int64_t n = v->GetInt64();
    if (n > INT64_MAX / k_micro || n < INT64_MIN / k_micro) return std::nullopt;
    return n * k_micro;
  }
  if (!v->IsString()) return std::nullopt;
  return parse_micros(std::string_view(v->GetString(), v->GetStringLength()));
}

const rapidjson::Value* json_at(const rapidjson::Value& doc, std::string_view pointer) {
  if (pointer.empty()) return &doc;
  // Parsed once per thread and text: the pointers come from the config and the catalog (a few
  // hundred at most), and parsing one allocates its tokens. Should texts keep coming (reloads
  // over weeks), the cache starts again past k_max.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr std::size_t k_max = 4096;
  thread_local std::unordered_map<std::string, rapidjson::Pointer, Hash, std::equal_to<>> parsed;
  auto found = parsed.find(pointer);
  if (found == parsed.end()) {
    if (parsed.size() >= k_max) parsed.clear();
    found = parsed.emplace(std::string(pointer), rapidjson::Pointer(pointer.data(), pointer.size()))
                .first;
  }
  if (!found->second.IsValid()) return nullptr;
  return found->second.Get(doc);
}

bool has_token_pointers(const UsageSpec& spec) {
  return !spec.input.empty() || !spec.cached_input.empty() || !spec.cache_write.empty() ||
         !spec.cache_write_1h.empty() || !spec.output.empty() || !spec.reasoning.empty();
}

UsageFields pointer_usage(const rapidjson::Value& doc, const UsageSpec& spec) {
  const auto read = [&](const std::string& ptr) -> std::optional<std::int64_t> {
    return ptr.empty() ? std::nullopt : json_count(json_at(doc, ptr));
  };
  UsageFields f;
  f.input = read(spec.input);
  f.cached_input = read(spec.cached_input);
  f.cache_write = read(spec.cache_write);
  f.output = read(spec.output);
  f.reasoning = read(spec.reasoning);
  f.cache_write_1h = read(spec.cache_write_1h);
  return f;
}

std::optional<UsageFields> builtin_usage(const rapidjson::Value& doc, UsageConvention& convention) {
  if (const auto* meta = member(doc, "usageMetadata"); meta && meta->IsObject()) {
    UsageFields f;
    f.input = json_count(member(meta, "promptTokenCount"));
    // Tool-use prompt tokens are billed as input on top of the prompt.
    if (const auto tool = json_count(member(meta, "toolUsePromptTokenCount")); tool && f.input)
      *f.input += *tool;
    f.cached_input = json_count(member(meta, "cachedContentTokenCount"));
    f.output = json_count(member(meta, "candidatesTokenCount"));
    f.reasoning = json_count(member(meta, "thoughtsTokenCount"));
    convention = UsageConvention::gemini;
    if (f.any()) return f;
    return std::nullopt;
  }
  const auto* usage = member(doc, "usage");
  if (!usage || !usage->IsObject()) return std::nullopt;
  UsageFields f;
  if (member(usage, "prompt_tokens") || member(usage, "completion_tokens")) {
    // OpenAI chat completions, completions, embeddings.
    f.input = json_count(member(usage, "prompt_tokens"));
    f.cached_input = json_count(member(member(usage, "prompt_tokens_details"), "cached_tokens"));
    f.output = json_count(member(usage, "completion_tokens"));
    f.reasoning =
        json_count(member(member(usage, "completion_tokens_details"), "reasoning_tokens"));
    convention = UsageConvention::openai;
  } else if (member(usage, "cache_creation_input_tokens") ||
             member(usage, "cache_read_input_tokens")) {
    // Anthropic messages.
    f.input = json_count(member(usage, "input_tokens"));
    f.cache_write = json_count(member(usage, "cache_creation_input_tokens"));
    f.cached_input = json_count(member(usage, "cache_read_input_tokens"));
    f.cache_write_1h =
        json_count(member(member(usage, "cache_creation"), "ephemeral_1h_input_tokens"));
    f.output = json_count(member(usage, "output_tokens"));
    convention = UsageConvention::exclusive;
  } else {
    // OpenAI responses and images (and an Anthropic usage without cache fields, where the
    // two conventions agree because there is nothing to subtract).
    f.input = json_count(member(usage, "input_tokens"));
    f.cached_input = json_count(member(member(usage, "input_tokens_details"), "cached_tokens"));
    f.output = json_count(member(usage, "output_tokens"));
    f.reasoning = json_count(member(member(usage, "output_tokens_details"), "reasoning_tokens"));
    convention = UsageConvention::openai;
  }
  if (!f.any()) return std::nullopt;
  return f;
}

bool json_key_has_object(std::string_view text, std::string_view quoted_key) {
  for (std::size_t at = text.find(quoted_key); at != std::string_view::npos;
       at = text.find(quoted_key, at + 1)) {
    std::size_t i = at + quoted_key.size();
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
      ++i;
    if (i == text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() &&
           (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
      ++i;
    if (i < text.size() && text[i] == '{') return true;
  }
  return false;
}

UsageConvention convention_for(std::string_view stream_format, std::string_view error_style) {
  const std::string_view family = stream_format.empty() ? error_style : stream_format;
  if (family.starts_with("anthropic")) return UsageConvention::exclusive;
  if (family.starts_with("gemini")) return UsageConvention::gemini;
  if (family.starts_with("openai")) return UsageConvention::openai;
  return UsageConvention::exclusive;
}

}  // namespace rules
