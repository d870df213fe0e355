#include "rules/usage_reader.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "rules/json_reader.hpp"
#include "rules/money.hpp"

namespace rules {
namespace {

constexpr std::size_t k_head_bytes = 64u << 10;

bool icontains(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) == b;
                     }) != haystack.end();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view skip_ws(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  return s;
}

// What follows a quoted key in JSON text: the start of its value, or empty when `at` is not
// followed by ':'.
std::string_view value_after_key(std::string_view text, std::size_t at, std::size_t key_size) {
  std::string_view rest = skip_ws(text.substr(at + key_size));
  if (rest.empty() || rest.front() != ':') return {};
  return skip_ws(rest.substr(1));
}

// The "type" of an SSE data object when the event carries no `event:` line.
std::string_view json_type(std::string_view data) {
  const std::size_t at = data.find("\"type\"");
  if (at == std::string_view::npos) return {};
  std::string_view v = value_after_key(data, at, 6);
  if (v.empty() || v.front() != '"') return {};
  v.remove_prefix(1);
  return v.substr(0, v.find('"'));
}

// A provider's answer nested past the limit reads as no usage at all: the request is then charged
// its estimate, as for an answer without usage.
bool parse(rapidjson::Document& doc, std::string_view text) {
  return read_json(doc, text, {.numbers_as_strings = true}).ok();
}

// Parses the one JSON value that starts `text` (ignoring what follows it).
bool parse_value(rapidjson::Document& doc, std::string_view text) {
  return read_json(doc, text, {.numbers_as_strings = true, .stop_when_done = true}).ok();
}

std::string string_at(const rapidjson::Value& doc, const char* name) {
  if (!doc.IsObject()) return {};
  const auto it = doc.FindMember(name);
  if (it == doc.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

}  // namespace

UsageReader::UsageReader(const Provider& provider, const Endpoint* endpoint, std::string model,
                         [[maybe_unused]] bool streaming)
    : provider_(&provider), endpoint_(endpoint), requested_model_(std::move(model)) {}

const UsageSpec& UsageReader::token_spec() const {
  return endpoint_ && has_token_pointers(endpoint_->usage) ? endpoint_->usage : provider_->usage;
}

void UsageReader::on_headers(const ResponseHeadView& head) {
  result_.status = head.status;
  const std::string_view type = head.header("content-type");
  if (!type.empty()) mode_ = icontains(type, "text/event-stream") ? Mode::sse : Mode::json;

  if (provider_->balance && !provider_->balance->header.empty())
    if (const auto v = head.header(provider_->balance->header); !v.empty())
      if (const auto micros = parse_micros(v)) result_.balance = micros;

  const ValueRef& cost =
      endpoint_ && !endpoint_->usage.cost.empty() ? endpoint_->usage.cost : provider_->usage.cost;
  if (cost.source == ValueRef::Source::header)
    if (const auto v = head.header(cost.key); !v.empty()) header_cost_ = parse_micros(v);

  const RateLimitHeaders& names = provider_->rate_limit_headers;
  const std::pair<const char*, const std::string*> configured[] = {
      {"remaining_tokens", &names.remaining_tokens},
      {"remaining_requests", &names.remaining_requests},
      {"reset_tokens", &names.reset_tokens},
      {"reset_requests", &names.reset_requests}};
  for (const auto& [key, header] : configured)
    if (!header->empty())
      if (const auto v = head.header(*header); !v.empty())
        result_.rate_limits[key] = std::string(v);

  if (!head.headers) return;
  static const std::pair<std::string_view, const char*> k_anthropic[] = {
      {"anthropic-ratelimit-tokens-remaining", "remaining_tokens"},
      {"anthropic-ratelimit-requests-remaining", "remaining_requests"},
      {"anthropic-ratelimit-tokens-reset", "reset_tokens"},
      {"anthropic-ratelimit-requests-reset", "reset_requests"}};
  for (const auto& [name, value] : *head.headers) {
    const std::string key = lower(name);
    if (!key.starts_with("x-ratelimit-") && !key.starts_with("anthropic-ratelimit-")) continue;
    result_.rate_limits[key] = value;
    for (const auto& [header, normal] : k_anthropic)
      if (key == header) result_.rate_limits.try_emplace(normal, value);
  }
}

void UsageReader::on_body(std::string_view decoded) {
  if (decoded.empty()) return;
  if (mode_ == Mode::unknown) {
    const std::string_view start = skip_ws(decoded);
    if (start.empty()) return;  // whitespace only: decide on the next bytes
    mode_ = start.front() == '{' || start.front() == '[' ? Mode::json : Mode::sse;
  }
  if (mode_ == Mode::sse) {
    sse_.feed(decoded, SseSink{this});
    return;
  }
  if (!body_overflow_ && body_.size() + decoded.size() <= k_max_json_bytes) {
    body_.append(decoded);
    return;
  }
  if (!body_overflow_) {
    // Past the bound keep the head (Keepa's counters come first) and a rolling tail (usage
    // comes last in OpenAI, Anthropic and Gemini bodies).
    body_overflow_ = true;
    head_ = body_.substr(0, k_head_bytes);
  }
  body_.append(decoded);
  if (body_.size() > 2 * k_tail_bytes) body_.erase(0, body_.size() - k_tail_bytes);
}

void UsageReader::take_usage(const rapidjson::Value& doc, UsageFields& into,
                             UsageConvention& convention) const {
  const UsageSpec& spec = token_spec();
  if (has_token_pointers(spec)) {
    into = pointer_usage(doc, spec);
    convention = convention_for(endpoint_ ? endpoint_->stream.format : std::string_view{},
                                provider_->error_style);
    return;
  }
  if (auto found = builtin_usage(doc, convention)) into = *found;
}

void UsageReader::on_event(const SseEvent& e) {
  // A known format needs one cheap test per event; only an unknown one pays for all of them.
  const std::string_view format = endpoint_ ? endpoint_->stream.format : std::string_view{};
  if (format == "openai-sse") {
    on_chat_chunk(e);
    return;
  }
  if (format == "gemini-sse") {
    on_gemini_chunk(e);
    return;
  }
  std::string_view name = e.event;
  if (name.empty()) name = json_type(e.data);
  if (name == "message_start" || name == "message_delta") {
    ScratchDocument<> scratch;
    rapidjson::Document& doc = *scratch;
    if (!parse(doc, e.data)) return;
    UsageConvention ignored{};
    if (name == "message_start") {
      const rapidjson::Value* message = json_at(doc, "/message");
      if (!message) return;
      take_usage(*message, anthropic_start_, ignored);
      observe_tools(*message);
      if (auto model = string_at(*message, "model"); !model.empty())
        result_.model = std::move(model);
    } else {
      observe_tools(doc);
      UsageFields delta;
      take_usage(doc, delta, ignored);
      if (!delta.any()) return;
      fields_ = delta;  // cumulative: the last one wins, never a sum
      final_usage_ = true;
    }
    convention_ = UsageConvention::exclusive;
    return;
  }
  if (name == "response.completed" || name == "response.incomplete" || name == "response.failed") {
    ScratchDocument<> scratch;
    rapidjson::Document& doc = *scratch;
    if (!parse(doc, e.data)) return;
    const rapidjson::Value* response = json_at(doc, "/response");
    if (!response) return;
    observe_tools(*response);
    take_tier(*response, result_.service_tier);
    UsageFields found;
    take_usage(*response, found, convention_);
    if (auto model = string_at(*response, "model"); !model.empty())
      result_.model = std::move(model);
    if (!found.any()) return;
    fields_ = found;
    final_usage_ = true;
    return;
  }
  if (!on_gemini_chunk(e)) on_chat_chunk(e);
}

bool UsageReader::on_gemini_chunk(const SseEvent& e) {
  if (!tools_.empty() && e.data.find("\"groundingMetadata\"") != std::string_view::npos) {
    ScratchDocument<> scratch;
    rapidjson::Document& doc = *scratch;
    if (parse(doc, e.data)) observe_tools(doc);
  }
  if (e.data.find("\"usageMetadata\"") == std::string_view::npos) return false;
  // Running totals: keep the last event's text and parse it once at finish.
  last_gemini_.assign(e.data);
  if (e.data.find("\"finishReason\"") != std::string_view::npos) gemini_finished_ = true;
  return true;
}

void UsageReader::on_chat_chunk(const SseEvent& e) {
  if (json_key_has_object(e.data, "\"usage\"")) {
    ScratchDocument<> scratch;
    rapidjson::Document& doc = *scratch;
    if (!parse(doc, e.data)) return;
    UsageFields found;
    take_usage(doc, found, convention_);
    if (!found.any()) return;
    fields_ = found;
    final_usage_ = true;
    if (auto model = string_at(doc, "model"); !model.empty()) result_.model = std::move(model);
    take_tier(doc, result_.service_tier);
  }
}

void UsageReader::read_provider_fields(const rapidjson::Value& root, UsageResult& r) {
  const ValueRef& cost =
      endpoint_ && !endpoint_->usage.cost.empty() ? endpoint_->usage.cost : provider_->usage.cost;
  if (cost.source == ValueRef::Source::body)
    if (const auto micros = json_micros(json_at(root, cost.key))) r.actual_micros = micros;
  if (!provider_->balance) return;
  const BalanceConfig& b = *provider_->balance;
  if (!b.body_pointer.empty())
    if (const auto micros = json_micros(json_at(root, b.body_pointer))) r.balance = micros;
  if (!b.refill_body_pointer.empty())
    if (const auto micros = json_micros(json_at(root, b.refill_body_pointer)))
      r.refill_per_minute = micros;
  if (const auto ms = json_count(json_at(root, "/refillIn"))) r.refill_in_ms = ms;
}

void UsageReader::read_json_body(UsageResult& r) {
  if (body_overflow_) {
    read_json_tail(r);
    return;
  }
  ScratchDocument<> scratch;
  rapidjson::Document& doc = *scratch;
  if (!parse(doc, body_)) return;
  const rapidjson::Value* root = &doc;
  if (doc.IsArray()) {
    // Gemini streamGenerateContent without alt=sse: an array of running totals, take the last.
    root = nullptr;
    for (const auto& chunk : doc.GetArray()) observe_tools(chunk);
    for (auto it = doc.End(); it != doc.Begin();) {
      --it;
      if (it->IsObject() && (it->HasMember("usageMetadata") || it->HasMember("usage"))) {
        root = &*it;
        break;
      }
    }
    if (!root) return;
  }
  if (!root->IsObject()) return;
  if (!doc.IsArray()) observe_tools(*root);
  if (const auto id = string_at(*root, "id"); !id.empty()) r.id = id;
  take_tier(*root, r.service_tier);
  take_usage(*root, fields_, convention_);
  final_usage_ = fields_.any();
  if (!final_usage_) price_seconds(*root, r);
  if (auto model = string_at(*root, "model"); !model.empty())
    r.model = std::move(model);
  else if (auto version = string_at(*root, "modelVersion"); !version.empty())
    r.model = std::move(version);
  read_provider_fields(*root, r);
  if (!final_usage_ && endpoint_ && endpoint_->pricing == Pricing::per_image)
    if (const rapidjson::Value* data = json_at(*root, "/data"); data && data->IsArray())
      image_count_ = static_cast<std::int64_t>(data->Size());
}

// A body past the bound: only top-level provider counters in the head and the last usage object
// in the tail are recovered, by finding their keys in the text.
void UsageReader::read_json_tail(UsageResult& r) {
  rapidjson::Document synthetic(rapidjson::kObjectType);
  auto& alloc = synthetic.GetAllocator();
  const auto lift = [&](std::string_view text, std::string_view pointer, bool last) {
    // Only single-segment pointers ("/tokensLeft") can be found this way.
    if (pointer.size() < 2 || pointer.front() != '/' ||
        pointer.find('/', 1) != std::string_view::npos)
      return;
    std::string key;
    key.reserve(pointer.size() + 1);
    key.push_back('"');
    key.append(pointer.substr(1));
    key.push_back('"');
    const std::size_t at = last ? text.rfind(key) : text.find(key);
    if (at == std::string_view::npos) return;
    rapidjson::Document value;
    if (!parse_value(value, value_after_key(text, at, key.size()))) return;
    rapidjson::Value name(key.data() + 1, static_cast<rapidjson::SizeType>(key.size() - 2), alloc);
    synthetic.RemoveMember(name);
    synthetic.AddMember(name, rapidjson::Value(value, alloc), alloc);
  };
  const ValueRef& cost =
      endpoint_ && !endpoint_->usage.cost.empty() ? endpoint_->usage.cost : provider_->usage.cost;
  if (cost.source == ValueRef::Source::body) lift(head_, cost.key, false);
  if (provider_->balance) {
    lift(head_, provider_->balance->body_pointer, false);
    lift(head_, provider_->balance->refill_body_pointer, false);
    lift(head_, "/refillIn", false);
  }
  lift(body_, "/usage", true);
  lift(body_, "/usageMetadata", true);
  read_provider_fields(synthetic, r);
  take_usage(synthetic, fields_, convention_);
  final_usage_ = fields_.any();
}

const ModelPrice* UsageReader::model_price(bool at_tier) const {
  // The model the provider says it billed, when listed; else the requested one as it was
  // priced before the request (unknown_model included). At the tier the answer names, else at
  // the one the request asked for.
  const ModelPrice* price = nullptr;
  if (!result_.model.empty())
    if (const auto entry = provider_->resolve_model(result_.model))
      price = &provider_->models.find(*entry)->second;
  if (!price) price = provider_->price_for_model(requested_model_, endpoint_);
  if (!price || !at_tier) return price;
  return &price->at_tier(tier());
}

const std::string& UsageReader::tier() const {
  return result_.service_tier.empty() ? requested_tier_ : result_.service_tier;
}

void UsageReader::take_tier(const rapidjson::Value& obj, std::string& into) const {
  const std::string& pointer = endpoint_ && !endpoint_->usage.service_tier.empty()
                                   ? endpoint_->usage.service_tier
                                   : provider_->usage.service_tier;
  if (pointer.empty()) return;
  if (const rapidjson::Value* v = json_at(obj, pointer); v && v->IsString() && v->GetStringLength())
    into.assign(v->GetString(), v->GetStringLength());
}

namespace {

// Calls of one tool charge that `obj` reports; nullopt when it reports none of this kind.
std::optional<std::int64_t> tool_count(const ToolCharge& tool, const rapidjson::Value& obj) {
  using Count = ToolCharge::Count;
  if (!obj.IsObject()) return std::nullopt;
  if (tool.count == Count::pointer) return json_count(json_at(obj, tool.count_key));
  if (tool.count == Count::output_items || tool.count == Count::output_distinct) {
    const rapidjson::Value* output = json_at(obj, "/output");
    if (!output || !output->IsArray()) return std::nullopt;
    const auto slash = tool.count_key.find('/');
    const std::string type = tool.count_key.substr(0, slash);
    const std::string field =
        slash == std::string::npos ? std::string() : tool.count_key.substr(slash + 1);
    std::int64_t items = 0;
    std::vector<std::string> distinct;
    for (const auto& item : output->GetArray()) {
      if (string_at(item, "type") != type) continue;
      ++items;
      if (const auto value = string_at(item, field.c_str());
          !field.empty() && !value.empty() &&
          std::find(distinct.begin(), distinct.end(), value) == distinct.end())
        distinct.push_back(value);
    }
    return tool.count == Count::output_items ? items : static_cast<std::int64_t>(distinct.size());
  }
  // Gemini: candidates[].groundingMetadata.webSearchQueries, the searches a grounded answer ran.
  const rapidjson::Value* candidates = json_at(obj, "/candidates");
  if (!candidates || !candidates->IsArray()) return std::nullopt;
  std::int64_t queries = 0, grounded = 0;
  for (const auto& candidate : candidates->GetArray()) {
    const rapidjson::Value* searched = json_at(candidate, "/groundingMetadata/webSearchQueries");
    if (!searched || !searched->IsArray() || searched->Empty()) continue;
    grounded = 1;
    queries += searched->Size();
  }
  return tool.count == Count::grounded_prompts ? grounded : queries;
}

}  // namespace

void UsageReader::observe_tools(const rapidjson::Value& obj) {
  for (auto& tally : tools_) {
    const auto n = tool_count(*tally.tool, obj);
    if (!n) continue;
    // Counts are running totals (a stream repeats them): the largest seen is the answer's.
    using Count = ToolCharge::Count;
    const bool totals = tally.tool->count == Count::grounded_prompts ||
                        tally.tool->count == Count::grounded_queries;
    tally.calls = totals && tally.calls ? std::max(*tally.calls, *n) : *n;
  }
}

// A per-second answer that describes what it makes (OpenAI's video job: "seconds", "size"):
// charged at that, rather than at what was asked.
void UsageReader::price_seconds(const rapidjson::Value& root, UsageResult& r) {
  if (!endpoint_ || endpoint_->pricing != Pricing::per_second || endpoint_->usage.seconds.empty())
    return;
  const auto seconds = json_count(json_at(root, endpoint_->usage.seconds));
  const ModelPrice* p = model_price();
  if (!seconds || !p) return;
  std::optional<std::string> size;
  if (!endpoint_->usage.size.empty())
    if (const auto* v = json_at(root, endpoint_->usage.size); v && v->IsString())
      size = v->GetString();
  const std::int64_t rate = second_price(*p, size, std::nullopt);
  if (rate < 0) return;
  r.actual_micros = *seconds * rate;
}

void UsageReader::price(UsageResult& r) {
  if (header_cost_ && !r.actual_micros) r.actual_micros = header_cost_;
  if (r.actual_micros) {
    // The provider's own count of what it charged is authoritative.
    r.usage_seen = true;
    return;
  }
  if (r.usage_seen) {
    const ModelPrice* p = model_price();
    if (!p) return;
    for (const auto& tally : tools_) {
      const std::int64_t calls = tally.calls.value_or(0);
      r.tool_calls[tally.tool->name] += calls;
      r.tool_micros = saturating_add(r.tool_micros, calls * tally.each);
    }
    r.actual_micros = saturating_add(token_cost(*p, r.tokens), r.tool_micros);
    if (p != model_price(false)) r.priced_tier = tier();
    return;
  }
  if (image_count_ > 0) {
    std::optional<std::int64_t> each = image_price_;
    if (const ModelPrice* p = model_price(); !each && p && !p->per_image.empty())
      each = std::max_element(p->per_image.begin(), p->per_image.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; })
                 ->second;
    if (each) {
      r.usage_seen = true;
      r.actual_micros = image_count_ * *each;
    }
  }
}

UsageResult UsageReader::finish() {
  if (mode_ == Mode::sse) sse_.finish(SseSink{this});
  UsageResult r = std::move(result_);
  result_ = UsageResult{};
  if (mode_ == Mode::sse) {
    if (!last_gemini_.empty() && !final_usage_) {
      ScratchDocument<> scratch;
      rapidjson::Document& doc = *scratch;
      if (parse(doc, last_gemini_)) {
        take_usage(doc, fields_, convention_);
        final_usage_ = gemini_finished_ && fields_.any();
        if (auto version = string_at(doc, "modelVersion"); !version.empty())
          r.model = std::move(version);
      }
    }
    if (anthropic_start_.any()) fields_.fill_from(anthropic_start_);
  } else if (mode_ == Mode::json) {
    read_json_body(r);
  }
  r.tokens = fields_.normalize(convention_);
  r.usage_seen = final_usage_ && fields_.any();
  result_.model = r.model;  // model_price() reads them
  result_.service_tier = r.service_tier;
  price(r);
  return r;
}

}  // namespace rules
