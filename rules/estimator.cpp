#include "rules/estimator.hpp"

#include <algorithm>

#include "rules/cost.hpp"
#include "rules/matcher.hpp"
#include "rules/money.hpp"
#include "rules/request_values.hpp"
#include "rules/usage_fields.hpp"

namespace rules {
namespace {

std::string price_text(std::int64_t micros) {
  return format_micros(micros);
}

// A `types` entry names a tool exactly, or every tool whose name starts with it when it ends
// with '*' (web_search* for web_search_preview_2025_03_11).
bool names_tool(const std::vector<std::string>& types, std::string_view name) {
  return std::any_of(types.begin(), types.end(), [&](const std::string& type) {
    return type.ends_with('*') ? name.starts_with(std::string_view(type).substr(0, type.size() - 1))
                               : name == type;
  });
}

// A tools[] element asks for a tool by its "type" (OpenAI, Anthropic) or by a key (Gemini:
// {"google_search": {}}).
bool asks_for(const rapidjson::Value& element, const ToolCharge& tool) {
  if (!element.IsObject()) return false;
  if (const auto type = element.FindMember("type");
      type != element.MemberEnd() && type->value.IsString())
    return names_tool(tool.types, {type->value.GetString(), type->value.GetStringLength()});
  for (auto it = element.MemberBegin(); it != element.MemberEnd(); ++it)
    if (names_tool(tool.types, {it->name.GetString(), it->name.GetStringLength()})) return true;
  return false;
}

class Estimate {
 public:
  Estimate(const Provider& provider, const Endpoint& endpoint, RequestValues& values,
           std::size_t body_size, bool explain, Priced& out)
      : p_(provider),
        e_(endpoint),
        v_(values),
        body_size_(body_size),
        explain_(explain),
        out_(out) {}

  void run() {
    if (!e_.websocket.format.empty()) return websocket();
    if (e_.pricing == Pricing::flat) {
      out_.estimate.micros = e_.cost.value_or(0);
      line([&] { return "flat cost " + price_text(out_.estimate.micros); });
    } else if (e_.pricing == Pricing::per_item) {
      per_item();
    } else if (e_.pricing == Pricing::batch) {
      batch();
    } else if (!resolve_model()) {
      return;
    } else if (e_.pricing == Pricing::tokens) {
      tokens();
    } else if (e_.pricing == Pricing::per_second) {
      per_second();
    } else if (e_.pricing == Pricing::per_image) {
      per_image();
    }
  }

 private:
  // One line of explanation, built only when someone reads it (`tollgate estimate`, the admin
  // API's estimate); the proxy prices every request without one.
  template <typename Make>
  void line(Make&& make) {
    if (!explain_) return;
    out_.explanation += make();
    out_.explanation += '\n';
  }
  void fail(std::string message) { out_.error = std::move(message); }

  std::int64_t multiplier() {
    if (e_.multiplier.empty()) return 1;
    const auto n = v_.integer(e_.multiplier);
    if (!n || *n < 1) return 1;
    line([&] { return "x " + std::to_string(*n) + " from " + e_.multiplier.text; });
    return *n;
  }

  bool resolve_model() {
    auto name = v_.text(e_.model);
    if ((!name || name->empty()) && !e_.default_model.empty()) {
      name = e_.default_model;
      line([&] { return "model " + *name + " (default_model: the request names none)"; });
    }
    if (!name || name->empty()) {
      fail("request to endpoint '" + e_.name + "' of provider '" + p_.name +
           "' names no model (expected at " + e_.model.text + ")");
      return false;
    }
    out_.model = *name;
    if (out_.model.starts_with("models/")) out_.model.erase(0, 7);
    const ModelPricing pricing = p_.price_model(out_.model, &e_);
    price_ = pricing.price;
    out_.unpriced_model = !pricing.listed;
    if (!price_) {
      fail("unknown model '" + out_.model + "' on endpoint '" + e_.name + "' of provider '" +
           p_.name + "': no price is configured (add it under providers." + p_.name +
           ".models, or set unknown_model)");
      return false;
    }
    if (pricing.entry != out_.model) out_.priced_as = pricing.entry;
    std::string how;
    if (!pricing.listed && pricing.entry.empty())
      how = " (not listed: unknown_model price)";
    else if (!pricing.listed && p_.unknown_model.policy == UnknownModel::Policy::dearest)
      how = " (not listed: priced as " + pricing.entry + ", the dearest of this endpoint)";
    else if (!pricing.listed)
      how = " (not listed: priced as " + pricing.entry + ", unknown_model: price_as)";
    else if (pricing.entry != out_.model)
      how = " (priced as " + pricing.entry + ")";
    line([&] { return "model " + out_.model + " from " + e_.model.text + how; });
    service_tier();
    return true;
  }

  // A service tier the request asks for and the model prices apart (OpenAI flex and priority)
  // prices the request; "auto", "default" or none: the standard prices (the answer's tier
  // settles it).
  void service_tier() {
    if (e_.service_tier.empty()) return;
    const auto tier = v_.text(e_.service_tier);
    if (!tier || tier->empty()) return;
    out_.service_tier = *tier;
    const ModelPrice& priced = price_->at_tier(*tier);
    if (&priced == price_) return;
    price_ = &priced;
    line(
        [&] { return "service tier " + *tier + " from " + e_.service_tier.text + ": its prices"; });
  }

  // A websocket handshake (DESIGN §12): every response of the session is reserved on its own,
  // before it starts. The handshake reserves the smallest amount there is, so that it is refused
  // only where a budget has nothing left (and by breakers and rate limits, as any request is).
  // The model may come later (Gemini's setup message, OpenAI's session.created).
  void websocket() {
    if (!e_.model.empty() && v_.present(e_.model)) {
      if (!resolve_model()) return;
      out_.price = price_;
    }
    out_.estimate.micros = 1;
    line([&] {
      return "websocket session (" + e_.websocket.format +
             "): the handshake reserves 0.000001, each response its own worst case";
    });
  }

  void per_item() {
    const auto items = v_.count(e_.per_item, e_.separator, e_.count == "chars");
    const std::int64_t n = items.value_or(0);
    std::int64_t each = e_.each;
    if (!e_.model.empty()) {
      if (auto name = v_.text(e_.model)) {
        out_.model = *name;
        const auto* price = p_.price_for_model(*name, &e_);
        if (price && price->per_item >= 0) each = price->per_item;
      }
    }
    out_.estimate.micros = saturating_mul(n, each);
    line([&] {
      return std::to_string(n) + (e_.count == "chars" ? " characters" : " items") + " at " +
             e_.per_item.text + (items ? "" : " (absent)") + " x " + price_text(each);
    });
  }

  void tokens() {
    std::int64_t bytes = 0, messages = 0;
    if (e_.input_estimate.empty()) {
      bytes = static_cast<std::int64_t>(body_size_);
      line([&] { return "input: whole body, " + std::to_string(bytes) + " bytes"; });
    }
    for (const auto& ref : e_.input_estimate) {
      std::int64_t elements = 0;
      if (auto n = v_.bytes(ref, elements)) {
        bytes += *n;
        messages += elements;
        line([&] {
          return "input: " + std::to_string(*n) + " bytes at " + ref.text +
                 (elements ? " (" + std::to_string(elements) + " messages)" : "");
        });
      }
    }
    const std::int64_t per_token = std::max(1, p_.bytes_per_token);
    const std::int64_t input = (bytes + per_token - 1) / per_token + messages * p_.message_overhead;
    line([&] {
      return "input ~ " + std::to_string(input) + " tokens (" + std::to_string(per_token) +
             " bytes per token, " + std::to_string(p_.message_overhead) + " per message)";
    });
    std::int64_t output = -1;
    for (const auto& ref : e_.output_max)
      if (auto n = v_.integer(ref); n && *n >= 0) {
        output = *n;
        out_.output_named_at = &ref;
        line([&] { return "output <= " + std::to_string(output) + " tokens from " + ref.text; });
        break;
      }
    if (output < 0) {
      output = price_->max_output;
      line([&] { return "output <= " + std::to_string(output) + " tokens (model max_output)"; });
    }
    out_.price = price_;
    out_.input_tokens = input;
    out_.output_tokens = output;
    out_.multiplier = multiplier();
    output = saturating_mul(output, out_.multiplier);
    TokenCounts counts;
    counts.input = input;
    counts.output = output;
    out_.estimated_tokens = saturating_add(input, output);
    out_.estimate.micros = token_cost(*price_, counts);
    // The tier token_cost applied, by the prompt it saw.
    const EffectivePrices tier = effective_prices(*price_, counts.prompt());
    line([&] {
      return "price per 1M tokens: input " + price_text(tier.input) + ", output " +
             price_text(tier.output) +
             (tier.long_context
                  ? " (long-context tier: above " + std::to_string(price_->long_context_threshold) +
                        " prompt tokens)"
                  : "");
    });
    tool_calls();
  }

  // Built-in tools billed per call: each tool of the request's tools that a tool charge names
  // holds its `reserve` calls (or the tool's own max_uses), all of them together at most the
  // request's max_tool_calls, at the model's per_call price, else the charge's `each`.
  void tool_calls() {
    if (e_.tools.empty()) return;
    const ValueRef tools_ref{ValueRef::Source::body, "/tools", "body:/tools"};
    const rapidjson::Value* tools = v_.value(tools_ref);
    if (!tools || !tools->IsArray()) return;
    std::optional<std::int64_t> left;
    if (!e_.max_tool_calls.empty()) left = v_.integer(e_.max_tool_calls);
    for (const auto& charge : e_.tools) {
      std::int64_t calls = 0;
      std::string variant;
      for (const auto& element : tools->GetArray()) {
        if (!asks_for(element, charge)) continue;
        std::int64_t n = charge.reserve;
        if (!charge.max_uses.empty())
          if (const auto uses = json_count(json_at(element, charge.max_uses))) n = *uses;
        calls = saturating_add(calls, n);
        if (!charge.variant.empty())
          if (const auto* v = json_at(element, charge.variant); v && v->IsString())
            variant = v->GetString();
      }
      if (calls == 0) continue;
      if (left) calls = std::min(calls, *left);
      std::int64_t each = -1;
      if (const auto own = price_->per_call.find(charge.name); own != price_->per_call.end())
        each = own->second;
      else if (const auto named = charge.each.find(variant); named != charge.each.end())
        each = named->second;
      else
        // A variant the table does not list (or none named): its dearest, never under-count.
        for (const auto& [name, price] : charge.each) each = std::max(each, price);
      if (each < 0) continue;  // neither the model nor the charge prices this tool
      out_.tools.push_back({&charge, calls, each});
      out_.estimate.micros = saturating_add(out_.estimate.micros, saturating_mul(calls, each));
      line([&] {
        return "tool " + charge.name + (variant.empty() ? "" : " (" + variant + ")") + ": " +
               std::to_string(calls) + (calls == 1 ? " call" : " calls") + " held at " +
               price_text(each) + " each";
      });
      if (left) *left -= calls;
    }
  }

  // pricing: batch. Inline requests are each priced as the endpoint they would be sent to; a
  // batch of an input file costs what its upload was priced at, known only to the hooks.
  void batch() {
    const BatchSpec& b = e_.batch;
    out_.batch_percent = b.percent;
    if (!b.file.empty()) {
      const auto id = v_.text(b.file);
      if (!id || id->empty())
        return fail("batch request to endpoint '" + e_.name +
                    "' names no input file (expected at " + b.file.text + ")");
      out_.batch_file = *id;
      if (!p_.batch_estimate)
        return fail("the requests of batch input file '" + *id +
                    "' are unknown: tollgate did not see its upload, and provider '" + p_.name +
                    "' sets no batch_estimate");
      out_.estimate.micros = *p_.batch_estimate;
      line([&] {
        return "input file " + *id + ": not seen uploaded, batch_estimate " +
               price_text(*p_.batch_estimate);
      });
      return;
    }
    const rapidjson::Value* list = v_.value(b.requests);
    if (!list || !list->IsArray())
      return fail("batch request to endpoint '" + e_.name +
                  "' holds no requests (expected an array at " + b.requests.text + ")");
    const auto target = std::find_if(p_.endpoints.begin(), p_.endpoints.end(),
                                     [&](const Endpoint& t) { return t.name == b.endpoint; });
    if (target == p_.endpoints.end() || target->pricing == Pricing::batch)
      return fail("endpoint '" + e_.name + "' prices its requests as endpoint '" + b.endpoint +
                  "', which is not there");
    std::int64_t sum = 0, index = 0;
    std::optional<std::string> model;
    for (const auto& element : list->GetArray()) {
      const rapidjson::Value* params = json_at(element, b.params);
      if (!params || !params->IsObject())
        return fail("request " + std::to_string(index) + " of the batch has no object at " +
                    b.params);
      const std::string body = json_text(*params);
      RequestView sub;
      sub.method = target->method.empty() ? std::string_view("POST") : target->method;
      sub.path = target->path;
      sub.body = body;
      const Captures none;
      RequestValues values(sub, none);
      Priced priced;
      priced.estimate.currency = p_.currency;
      Estimate(p_, *target, values, body.size(), false, priced).run();
      if (priced.error)
        return fail("request " + std::to_string(index) + " of the batch: " + *priced.error);
      sum = saturating_add(sum, priced.estimate.micros);
      model = !model || *model == priced.model ? priced.model : "";
      ++index;
    }
    if (model) out_.model = *model;  // "" when the requests name several
    out_.estimate.micros = percent_of(sum, b.percent);
    line([&] {
      return std::to_string(index) + " requests priced as endpoint " + b.endpoint + ": " +
             price_text(sum) + ", at " + std::to_string(b.percent) + " %";
    });
  }

  void per_second() {
    std::int64_t seconds = e_.default_seconds;
    std::string from = " (default)";
    for (const auto& ref : e_.seconds)
      if (auto n = v_.integer(ref); n && *n > 0) {
        seconds = *n;
        from = " from " + ref.text;
        break;
      }
    const auto audio = e_.audio.empty() ? std::nullopt : v_.boolean(e_.audio);
    const auto size = e_.size.empty() ? std::nullopt : v_.text(e_.size);
    const std::int64_t rate = second_price(*price_, size, audio);
    if (rate < 0) return fail("model '" + out_.model + "' has no per_second price");
    line([&] {
      return std::to_string(seconds) + " seconds" + from + " at " + price_text(rate) +
             " per second" +
             (price_->per_second_size.empty() ? "" : " (size " + size.value_or("absent") + ")") +
             (rate == price_->per_second_audio && price_->per_second >= 0 ? " (with audio)" : "");
    });
    out_.estimate.micros = saturating_mul(saturating_mul(seconds, rate), multiplier());
  }

  void per_image() {
    if (price_->per_image.empty())
      return fail("model '" + out_.model + "' has no per_image prices");
    const auto size = e_.size.empty() ? std::nullopt : v_.text(e_.size);
    const auto quality = e_.quality.empty() ? std::nullopt : v_.text(e_.quality);
    // The dearest entry consistent with what the request says: a missing size or quality (or
    // one the table does not list) is priced at its worst case.
    std::int64_t rate = -1;
    std::string key;
    for (const auto& [entry, price] : price_->per_image) {
      const auto slash = entry.find('/');
      const std::string entry_size = entry.substr(0, slash);
      const std::string entry_quality = slash == std::string::npos ? "" : entry.substr(slash + 1);
      const bool size_ok = !size || *size == entry_size;
      const bool quality_ok = !quality || entry_quality.empty() || *quality == entry_quality;
      if (size_ok && quality_ok && price > rate) rate = price, key = entry;
    }
    if (rate < 0)
      for (const auto& [entry, price] : price_->per_image)
        if (price > rate) rate = price, key = entry;
    line([&] {
      return "image " + key + " at " + price_text(rate) + " each (size " + size.value_or("absent") +
             ", quality " + quality.value_or("absent") + ")";
    });
    out_.estimate.micros = saturating_mul(rate, multiplier());
    out_.image_price = rate;
  }

 private:
  const Provider& p_;
  const Endpoint& e_;
  RequestValues& v_;
  std::size_t body_size_;
  bool explain_;
  Priced& out_;
  const ModelPrice* price_ = nullptr;
};

// Streaming is asked for in the body ("stream": true) or, for Gemini, by the method in the path
// (":streamGenerateContent") and alt=sse.
bool is_streaming(const RequestView& request, RequestValues& values) {
  if (request.path.find(":stream") != std::string_view::npos) return true;
  if (request.query.find("alt=sse") != std::string_view::npos) return true;
  if (request.body.empty() || !values.body_is_json()) return false;
  const ValueRef stream{ValueRef::Source::body, "/stream", "body:/stream"};
  return values.boolean(stream) == true;
}

}  // namespace

std::int64_t percent_of(std::int64_t micros, int percent) {
  if (micros <= 0 || percent <= 0) return 0;
  const __int128 scaled = static_cast<__int128>(micros) * percent;
  const __int128 out = (scaled + 99) / 100;
  return out > INT64_MAX ? INT64_MAX : static_cast<std::int64_t>(out);
}

Priced price_request(const Config& config, const RequestView& request) {
  Priced out;
  out.endpoint_name = "default";
  out.provider = request.provider ? request.provider : config.provider_for_host(request.host);
  const auto explain = [&](auto make) {
    if (request.explain) out.explanation += make();
  };
  if (!out.provider) {
    explain([&] {
      return "host " + std::string(request.host) + " belongs to no provider: not priced\n";
    });
    return out;
  }
  const Provider& p = *out.provider;
  out.estimate.currency = p.currency;
  explain([&] { return "provider " + p.name + " (host " + std::string(request.host) + ")\n"; });
  auto match = match_endpoint(p, request.method, request.path);
  RequestValues values(request, match.captures);
  out.streaming = is_streaming(request, values);
  if (!match.endpoint) {
    out.estimate.micros = p.default_cost.value_or(0);
    explain([&] {
      return "no endpoint matches " + std::string(request.method) + " " +
             std::string(request.path) + ": " +
             (p.default_cost ? "default_cost " + format_micros(*p.default_cost)
                             : std::string("provider has no default_cost, so 0")) +
             "\n";
    });
    return out;
  }
  out.endpoint = match.endpoint;
  out.endpoint_name = match.endpoint->name;
  explain([&] {
    return "endpoint " + out.endpoint_name + " (" +
           (out.endpoint->method.empty() ? std::string("*") : out.endpoint->method) + " " +
           out.endpoint->path + ", pricing " + std::string(pricing_name(out.endpoint->pricing)) +
           ")\n";
  });
  if (auto why = values.body_refusal()) {
    out.error = std::move(why);
    explain([&] { return "refused: " + *out.error + "\n"; });
    return out;
  }
  Estimate estimate(p, *match.endpoint, values, request.body.size(), request.explain, out);
  estimate.run();
  if (out.error)
    explain([&] { return "refused: " + *out.error + "\n"; });
  else
    explain(
        [&] { return "estimate " + format_micros(out.estimate.micros) + " " + p.currency + "\n"; });
  return out;
}

}  // namespace rules
