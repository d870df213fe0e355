#include "pipeline/enforcement_hooks.hpp"

#include <optional>

#include "pipeline/refusal.hpp"
#include "rules/credential.hpp"
#include "rules/estimator.hpp"
#include "rules/stream_usage.hpp"
#include "rules/usage_reader.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

class EnforcementHooks final : public ExchangeHooks {
 public:
  explicit EnforcementHooks(budget::Enforcer& enforcer) : enforcer_(enforcer) {}

  void on_request(Exchange& ex, std::function<void(std::optional<LocalReply>)> done) override {
    if (!ex.provider) return done(std::nullopt);  // plain HTTP to a host no provider owns
    const auto view = ex.view();
    priced_ = rules::price_request(*ex.config, view);
    if (priced_.error) {
      Metrics::instance().count_request(ex.provider->name, priced_.endpoint_name, "refused");
      Refusal r;
      r.kind = "price";
      r.name = priced_.endpoint_name;
      r.message = "tollgate: " + *priced_.error;
      r.status = 400;
      r.invalid_request = true;
      return done(render_refusal(ex.provider->error_style, r));
    }
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

    budget::AdmitRequest request;
    request.provider = ex.provider->name;
    request.endpoint = priced_.endpoint_name;
    request.model = priced_.model;
    request.client = client_identity(ex.config->clients, ex);
    request.credential_hash = rules::credential_id(*ex.provider, view);
    request.host = ex.host;
    request.headers = &ex.request_headers;
    request.estimate = priced_.estimate;
    request.estimated_tokens = priced_.estimated_tokens;
    credential_hash_ = request.credential_hash;
    enforcer_.admit(request, [this, &ex, done = std::move(done)](budget::Admission admission) {
      if (!admission.admitted) {
        Metrics::instance().count_request(ex.provider->name, priced_.endpoint_name, "refused");
        Refusal r{.kind = admission.refused_by,
                  .name = admission.name,
                  .message = "tollgate: " + admission.message,
                  .status = ex.provider->refusal_status,
                  .retry_after_s = admission.retry_after_s,
                  .should_retry = admission.should_retry,
                  .balance_left = admission.balance_left};
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
    rules::ResponseHeadView head{ex.status, &ex.response_headers};
    reader_->on_headers(head);
    ex.response_headers.emplace_back("x-tollgate-cost",
                                     rules::format_micros(priced_.estimate.micros));
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
    metrics.count_request(ex.provider->name, priced_.endpoint_name, ok ? "forwarded" : "error");

    if (!ex.request_sent) {
      // The provider never saw the request: nothing can have been charged.
      return enforcer_.release(hold_, std::move(done));
    }
    const std::int64_t actual = actual_cost(ex, usage);
    if (actual > 0) {
      metrics.add_spend(priced_.estimate.currency, ex.provider->name, priced_.model, actual);
      if (priced_.estimate.micros > 0)
        metrics.observe_estimate_ratio(static_cast<double>(actual) /
                                       static_cast<double>(priced_.estimate.micros));
    }
    enforcer_.settle(hold_, actual, std::move(done));
  }

 private:
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
  rules::Priced priced_;
  budget::Admission admission_;
  budget::HoldId hold_ = 0;
  bool admitted_ = false;
  std::string credential_hash_;
  std::optional<rules::UsageReader> reader_;
  std::optional<rules::UsageChunkStripper> stripper_;
};

}  // namespace

std::unique_ptr<ExchangeHooks> EnforcementHookFactory::create(const Exchange&) {
  return std::make_unique<EnforcementHooks>(enforcer_);
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
