#include "rules/estimator.hpp"

#include <algorithm>

#include "rules/cost.hpp"
#include "rules/matcher.hpp"
#include "rules/request_values.hpp"

namespace rules {
namespace {

std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return INT64_MAX;
  return out;
}

std::string price_text(std::int64_t micros) {
  return format_micros(micros);
}

class Estimate {
 public:
  Estimate(const Provider& provider, const Endpoint& endpoint, RequestValues& values,
           std::size_t body_size, Priced& out)
      : p_(provider), e_(endpoint), v_(values), body_size_(body_size), out_(out) {}

  void run() {
    if (!e_.websocket.format.empty()) return websocket();
    if (e_.pricing == Pricing::flat) {
      out_.estimate.micros = e_.cost.value_or(0);
      line("flat cost " + price_text(out_.estimate.micros));
    } else if (e_.pricing == Pricing::per_item) {
      per_item();
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
  void line(const std::string& text) { out_.explanation += text + "\n"; }
  void fail(std::string message) { out_.error = std::move(message); }

  std::int64_t multiplier() {
    if (e_.multiplier.empty()) return 1;
    const auto n = v_.integer(e_.multiplier);
    if (!n || *n < 1) return 1;
    line("x " + std::to_string(*n) + " from " + e_.multiplier.text);
    return *n;
  }

  bool resolve_model() {
    const auto name = v_.text(e_.model);
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
    line("model " + out_.model + " from " + e_.model.text + how);
    return true;
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
    line("websocket session (" + e_.websocket.format +
         "): the handshake reserves 0.000001, each response its own worst case");
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
    line(std::to_string(n) + (e_.count == "chars" ? " characters" : " items") + " at " +
         e_.per_item.text + (items ? "" : " (absent)") + " x " + price_text(each));
  }

  void tokens() {
    std::int64_t bytes = 0, messages = 0;
    if (e_.input_estimate.empty()) {
      bytes = static_cast<std::int64_t>(body_size_);
      line("input: whole body, " + std::to_string(bytes) + " bytes");
    }
    for (const auto& ref : e_.input_estimate) {
      std::int64_t elements = 0;
      if (auto n = v_.bytes(ref, elements)) {
        bytes += *n;
        messages += elements;
        line("input: " + std::to_string(*n) + " bytes at " + ref.text +
             (elements ? " (" + std::to_string(elements) + " messages)" : ""));
      }
    }
    const std::int64_t per_token = std::max(1, p_.bytes_per_token);
    const std::int64_t input = (bytes + per_token - 1) / per_token + messages * p_.message_overhead;
    line("input ~ " + std::to_string(input) + " tokens (" + std::to_string(per_token) +
         " bytes per token, " + std::to_string(p_.message_overhead) + " per message)");
    std::int64_t output = -1;
    for (const auto& ref : e_.output_max)
      if (auto n = v_.integer(ref); n && *n >= 0) {
        output = *n;
        out_.output_named_at = &ref;
        line("output <= " + std::to_string(output) + " tokens from " + ref.text);
        break;
      }
    if (output < 0) {
      output = price_->max_output;
      line("output <= " + std::to_string(output) + " tokens (model max_output)");
    }
    out_.price = price_;
    out_.input_tokens = input;
    out_.output_tokens = output;
    out_.multiplier = multiplier();
    output = saturating_mul(output, out_.multiplier);
    TokenCounts counts;
    counts.input = input;
    counts.output = output;
    out_.estimated_tokens = input + output;
    out_.estimate.micros = token_cost(*price_, counts);
    line("price per 1M tokens: input " + price_text(price_->input) + ", output " +
         price_text(price_->output));
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
    std::int64_t rate = price_->per_second_audio;
    if ((audio == false && price_->per_second >= 0) || rate < 0) rate = price_->per_second;
    if (rate < 0) return fail("model '" + out_.model + "' has no per_second price");
    line(std::to_string(seconds) + " seconds" + from + " at " + price_text(rate) + " per second" +
         (rate == price_->per_second_audio ? " (with audio)" : ""));
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
    line("image " + key + " at " + price_text(rate) + " each (size " + size.value_or("absent") +
         ", quality " + quality.value_or("absent") + ")");
    out_.estimate.micros = saturating_mul(rate, multiplier());
    out_.image_price = rate;
  }

 private:
  const Provider& p_;
  const Endpoint& e_;
  RequestValues& v_;
  std::size_t body_size_;
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

Priced price_request(const Config& config, const RequestView& request) {
  Priced out;
  out.endpoint_name = "default";
  out.provider = request.provider ? request.provider : config.provider_for_host(request.host);
  if (!out.provider) {
    out.explanation = "host " + std::string(request.host) + " belongs to no provider: not priced\n";
    return out;
  }
  const Provider& p = *out.provider;
  out.estimate.currency = p.currency;
  out.explanation = "provider " + p.name + " (host " + std::string(request.host) + ")\n";
  auto match = match_endpoint(p, request.method, request.path);
  RequestValues values(request, match.captures);
  out.streaming = is_streaming(request, values);
  if (!match.endpoint) {
    out.estimate.micros = p.default_cost.value_or(0);
    out.explanation += "no endpoint matches " + std::string(request.method) + " " +
                       std::string(request.path) + ": " +
                       (p.default_cost ? "default_cost " + format_micros(*p.default_cost)
                                       : std::string("provider has no default_cost, so 0")) +
                       "\n";
    return out;
  }
  out.endpoint = match.endpoint;
  out.endpoint_name = match.endpoint->name;
  out.explanation += "endpoint " + out.endpoint_name + " (" +
                     (out.endpoint->method.empty() ? std::string("*") : out.endpoint->method) +
                     " " + out.endpoint->path + ", pricing " +
                     std::string(pricing_name(out.endpoint->pricing)) + ")\n";
  if (auto why = values.body_refusal()) {
    out.error = std::move(why);
    out.explanation += "refused: " + *out.error + "\n";
    return out;
  }
  Estimate estimate(p, *match.endpoint, values, request.body.size(), out);
  estimate.run();
  if (out.error)
    out.explanation += "refused: " + *out.error + "\n";
  else
    out.explanation += "estimate " + format_micros(out.estimate.micros) + " " + p.currency + "\n";
  return out;
}

}  // namespace rules
