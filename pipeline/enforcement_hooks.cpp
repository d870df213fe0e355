#include "pipeline/enforcement_hooks.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "pipeline/refusal.hpp"
#include "rules/credential.hpp"
#include "rules/estimator.hpp"
#include "rules/output_cap.hpp"
#include "rules/stream_usage.hpp"
#include "rules/usage_reader.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

class EnforcementHooks final : public ExchangeHooks {
 public:
  EnforcementHooks(budget::Enforcer& enforcer, EventSampler& sampler)
      : enforcer_(enforcer), sampler_(sampler) {}

  void on_request(Exchange& ex, std::function<void(std::optional<LocalReply>)> done) override {
    if (!ex.provider) return done(std::nullopt);  // plain HTTP to a host no provider owns
    const auto view = ex.view();
    priced_ = rules::price_request(*ex.config, view);
    ex.billing.endpoint = priced_.endpoint_name;
    ex.billing.model = priced_.model;
    ex.billing.currency = priced_.estimate.currency;
    if (priced_.error) return done(refuse_price(ex));
    if (priced_.unpriced_model) note_unpriced(ex);

    budget::AdmitRequest request;
    request.provider = ex.provider->name;
    request.provider_rules = ex.provider;
    request.endpoint = priced_.endpoint_name;
    request.model = priced_.model;
    request.client = client_identity(ex.config->clients, ex);
    request.credential_hash = rules::credential_id(*ex.provider, view);
    request.host = ex.host;
    request.headers = &ex.request_headers;
    request.estimate = priced_.estimate;
    request.estimated_tokens = priced_.estimated_tokens;
    credential_hash_ = request.credential_hash;
    // Before include_usage: the cap is written into the body the client sent and re-priced.
    cap_output(ex, request);
    if (priced_.endpoint && priced_.streaming && priced_.endpoint->stream.inject_include_usage) {
      if (auto body = rules::inject_include_usage(*priced_.endpoint, ex.request_body)) {
        ex.request_body = std::move(*body);
        // The usage chunk the client did not ask for is stripped from the stream it receives,
        // which needs the plain bytes.
        ex.want_identity_encoding = true;
        ex.rewrite_response = true;
        stripper_.emplace();
      }
    }

    ex.billing.estimate = request.estimate.micros;
    enforcer_.admit(request, [this, &ex, done = std::move(done)](budget::Admission admission) {
      for (const auto& b : admission.budgets)
        ex.billing.budgets.push_back(b.key.empty() ? b.name : b.name + "/" + b.key);
      if (!admission.admitted) {
        ex.billing.refused_by = budget::refused_by_name(admission.refused_by);
        Metrics::instance().count_request(ex.provider->name, priced_.endpoint_name,
                                          RequestOutcome::refused);
        Refusal r{.kind = admission.refused_by,
                  .name = admission.name,
                  .message = "tollgate: " + admission.message,
                  .status = ex.provider->refusal_status,
                  .retry_after_s = admission.retry_after_s,
                  .should_retry = admission.should_retry,
                  .balance_left = admission.balance_left,
                  .invalid_request = false,
                  .code = {}};
        return done(render_refusal(ex.provider->error_style, r));
      }
      hold_ = admission.hold;
      admission_ = std::move(admission);
      admitted_ = true;
      done(std::nullopt);
    });
  }

  void on_response_head(Exchange& ex) override {
    if (!admitted_) return;
    reader_.emplace(*ex.provider, priced_.endpoint, priced_.model, priced_.streaming);
    if (priced_.image_price) reader_->set_image_price(*priced_.image_price);
    rules::ResponseHeadView head{ex.status, &ex.response_headers};
    reader_->on_headers(head);
    ex.response_headers.emplace_back("x-tollgate-cost",
                                     rules::format_micros(priced_.estimate.micros));
    if (output_cap_)
      ex.response_headers.emplace_back("x-tollgate-output-cap", std::to_string(*output_cap_));
    const budget::BudgetStanding* tightest = nullptr;
    for (const auto& b : admission_.budgets)
      if (!tightest || b.remaining() < tightest->remaining()) tightest = &b;
    if (tightest) {
      ex.response_headers.emplace_back("x-tollgate-budget", tightest->name);
      ex.response_headers.emplace_back("x-tollgate-budget-remaining",
                                       rules::format_micros(tightest->remaining()));
    }
  }

  void on_response_body(Exchange&, std::string_view decoded) override {
    if (reader_) reader_->on_body(decoded);
  }

  std::string rewrite_response_body(Exchange&, std::string_view piece) override {
    return stripper_ ? stripper_->feed(piece) : std::string(piece);
  }

  std::string finish_response_body(Exchange&) override {
    return stripper_ ? stripper_->finish() : std::string();
  }

  void on_complete(Exchange& ex, Outcome outcome, std::function<void()> done) override {
    if (!admitted_) return done();
    const bool got_response = reader_.has_value();
    std::optional<rules::UsageResult> usage;
    if (reader_) usage = reader_->finish();
    if (usage && (usage->balance || usage->refill_per_minute)) {
      // The balance the provider reports already has this request taken off: observe it only
      // once this request's own hold is gone, or the hold would count twice (a false warning).
      done = [this,
              observation = budget::BalanceObservation{ex.provider->name, credential_hash_,
                                                       usage->balance, usage->refill_per_minute},
              done = std::move(done)]() mutable {
        enforcer_.observe_balance(observation);
        done();
      };
    }
    enforcer_.upstream_result(ex.host, got_response && ex.status < 500);

    auto& metrics = Metrics::instance();
    const bool ok = outcome != Outcome::upstream_error && ex.status < 400;
    // The relay observes tollgate_upstream_seconds for every exchange; the hooks only label it.
    metrics.count_request(ex.provider->name, priced_.endpoint_name,
                          ok ? RequestOutcome::forwarded : RequestOutcome::error);

    if (!ex.request_sent) {
      // The provider never saw the request: nothing can have been charged.
      ex.billing.cost = 0;
      return enforcer_.release(hold_, std::move(done));
    }
    const std::int64_t actual = actual_cost(ex, usage);
    ex.billing.cost = actual;
    if (actual > 0) {
      metrics.add_spend(priced_.estimate.currency, ex.provider->name, priced_.model, actual);
      if (priced_.estimate.micros > 0)
        metrics.observe_estimate_ratio(static_cast<double>(actual) /
                                       static_cast<double>(priced_.estimate.micros));
    }
    enforcer_.settle(hold_, actual, std::move(done));
  }

 private:
  // A request that cannot be priced (an unknown model under unknown_model: refuse, a body that
  // cannot be read): the provider's invalid-request error, 400, never forwarded. No budget is
  // involved, so no x-tollgate-budget; the refusal is an event like any other.
  LocalReply refuse_price(Exchange& ex) {
    auto& metrics = Metrics::instance();
    metrics.count_request(ex.provider->name, priced_.endpoint_name, RequestOutcome::refused);
    if (priced_.unpriced_model) metrics.count_unpriced(ex.provider->name, priced_.model);
    ex.billing.refused_by = budget::refused_by_name(budget::RefusedBy::price);
    Refusal r;
    r.kind = budget::RefusedBy::price;
    r.message = "tollgate: " + *priced_.error;
    r.status = 400;
    r.invalid_request = true;
    if (priced_.unpriced_model) r.code = "model_not_priced";
    sampler_.emit(
        enforcer_, "refused/price/" + ex.provider->name,
        {0, std::chrono::system_clock::now(), budget::EventType::refused, "", "", *priced_.error,
         ""},
        std::move(budget::EventDetail()
                      .str("refused_by", budget::refused_by_name(budget::RefusedBy::price))
                      .str("name", ex.provider->name)
                      .str("provider", ex.provider->name)
                      .str("endpoint", priced_.endpoint_name)
                      .str("model", priced_.model)));
    return render_refusal(ex.provider->error_style, r);
  }

  // A model missing from the catalog, priced by unknown_model (dearest or price_as).
  void note_unpriced(Exchange& ex) {
    Metrics::instance().count_unpriced(ex.provider->name, priced_.model);
    const std::string as = priced_.priced_as.empty() ? "unknown_model's price" : priced_.priced_as;
    sampler_.emit(enforcer_, "unpriced_model/" + ex.provider->name + "/" + priced_.model,
                  {0, std::chrono::system_clock::now(), budget::EventType::unpriced_model, "", "",
                   "model '" + priced_.model + "' of provider '" + ex.provider->name +
                       "' has no price: priced as " + as,
                   ""},
                  std::move(budget::EventDetail()
                                .str("provider", ex.provider->name)
                                .str("endpoint", priced_.endpoint_name)
                                .str("model", priced_.model)
                                .str("priced_as", priced_.priced_as)
                                .str("estimate", rules::format_micros(priced_.estimate.micros))));
  }

  // output_cap: inject — writes the cap into the body, re-prices the request with it and makes
  // that the estimate to reserve (the capped worst case). Leaves everything as it was when no
  // cap applies or the body cannot take one.
  void cap_output(Exchange& ex, budget::AdmitRequest& request) {
    if (!priced_.endpoint || !priced_.endpoint->inject_output_cap) return;
    const auto cap = rules::output_cap(priced_, enforcer_.remaining_for(request));
    if (!cap) return;
    auto body =
        rules::write_output_max(*priced_.endpoint, priced_.output_named_at, ex.request_body, *cap);
    if (!body) return;
    std::swap(ex.request_body, *body);
    auto capped = rules::price_request(*ex.config, ex.view());
    if (capped.error) {
      std::swap(ex.request_body, *body);  // cannot happen: the same body with one number more
      return;
    }
    capped.explanation += "output capped at " + std::to_string(*cap) + " tokens (output_cap)\n";
    priced_ = std::move(capped);
    output_cap_ = *cap;
    request.estimate = priced_.estimate;
    request.estimated_tokens = priced_.estimated_tokens;
  }

  // What the provider charged, as far as can be known (DESIGN §1 step 6): the usage it reported;
  // for an error status without usage, nothing (or the estimate with `error_cost: estimate`);
  // else, and when no answer came at all, the estimate (never under-count).
  std::int64_t actual_cost(const Exchange& ex,
                           const std::optional<rules::UsageResult>& usage) const {
    if (usage && usage->actual_micros) return *usage->actual_micros;
    if (usage && ex.status >= 400)
      return ex.provider->error_costs_estimate ? priced_.estimate.micros : 0;
    return priced_.estimate.micros;
  }

  budget::Enforcer& enforcer_;
  EventSampler& sampler_;
  rules::Priced priced_;
  std::optional<std::int64_t> output_cap_;
  budget::Admission admission_;
  budget::HoldId hold_ = 0;
  bool admitted_ = false;
  std::string credential_hash_;
  std::optional<rules::UsageReader> reader_;
  std::optional<rules::UsageChunkStripper> stripper_;
};

}  // namespace

std::unique_ptr<ExchangeHooks> EnforcementHookFactory::create(const Exchange&) {
  return std::make_unique<EnforcementHooks>(enforcer_, sampler_);
}

void EventSampler::emit(budget::Enforcer& enforcer, const std::string& key, budget::Event event,
                        budget::EventDetail detail) {
  const std::int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(event.at.time_since_epoch()).count();
  std::int64_t suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    Sample& sample = samples_[key];
    if (sample.second != second) sample = {second, 0, sample.suppressed};
    if (sample.emitted >= k_per_second) {
      ++sample.suppressed;
      return;
    }
    ++sample.emitted;
    suppressed = std::exchange(sample.suppressed, 0);
  }
  event.detail_json = detail.num("suppressed_before", suppressed).done();
  enforcer.emit(std::move(event));
}

std::string client_identity(const rules::ClientsConfig& clients, const Exchange& exchange) {
  using Identify = rules::ClientsConfig::Identify;
  switch (clients.identify) {
    case Identify::proxy_auth:
      return exchange.client_user;
    case Identify::header:
      return std::string(rules::find_header(exchange.request_headers, clients.header_name));
    case Identify::source_ip: {
      const auto colon = exchange.client_address.rfind(':');
      return exchange.client_address.substr(0, colon);
    }
    case Identify::none:
      break;
  }
  return {};
}

}  // namespace proxy
