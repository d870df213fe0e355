#include "pipeline/enforcement_hooks.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "budget/scope.hpp"
#include "pipeline/realtime_meters.hpp"
#include "pipeline/refusal.hpp"
#include "rules/credential.hpp"
#include "rules/estimator.hpp"
#include "rules/multipart.hpp"
#include "rules/output_cap.hpp"
#include "rules/stream_usage.hpp"
#include "rules/usage_reader.hpp"
#include "telemetry/metrics.hpp"
#include "util/text.hpp"

namespace proxy {
namespace {

// Where providers name their own id of a request, for the cost record.
constexpr std::string_view k_request_id_headers[] = {"x-request-id", "request-id",
                                                     "x-amzn-requestid"};

budget::RecordOutcome record_outcome(Outcome outcome, int status) {
  switch (outcome) {
    case Outcome::upstream_error:
      return budget::RecordOutcome::upstream_error;
    case Outcome::client_gone:
      return budget::RecordOutcome::client_gone;
    case Outcome::complete:
      break;
  }
  return status >= 500 ? budget::RecordOutcome::upstream_error : budget::RecordOutcome::complete;
}

// The counts read, as the record names them; none when the provider reported none.
budget::Usage record_usage(const std::optional<rules::UsageResult>& usage) {
  if (!usage) return {};
  const auto& t = usage->tokens;
  if (!usage->usage_seen && t == rules::TokenCounts{}) return {};
  budget::Usage out{{"input", t.input}};
  if (t.cached_input) out.emplace_back("cached_input", t.cached_input);
  if (t.cache_write) out.emplace_back("cache_write", t.cache_write);
  out.emplace_back("output", t.output);
  if (t.reasoning) out.emplace_back("reasoning", t.reasoning);
  return out;
}

std::int64_t elapsed_ms(const Exchange& ex) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               ex.started)
      .count();
}

class EnforcementHooks final : public ExchangeHooks {
 public:
  EnforcementHooks(budget::Enforcer& enforcer, EventSampler& sampler, RealtimeRegistry& realtime,
                   BatchFiles& batch_files)
      : enforcer_(enforcer), sampler_(sampler), realtime_(&realtime), batch_files_(batch_files) {}

  void on_request(Exchange& ex, std::function<void(std::optional<LocalReply>)> done) override {
    if (!ex.provider) return done(std::nullopt);  // plain HTTP to a host no provider owns
    const auto view = ex.view();
    priced_ = rules::price_request(*ex.config, view);
    ex.billing.endpoint = priced_.endpoint_name;
    ex.billing.model = priced_.model;
    ex.billing.currency = priced_.estimate.currency;
    // Known before anything is answered: refusals and forwarded responses both name it.
    ex.billing.record = budget::new_record_id();
    if (!priced_.batch_file.empty()) price_batch_of_file(ex);

    budget::AdmitRequest& request = request_;
    request.record_id = ex.billing.record;
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
    if (priced_.error) return refuse_price(ex, std::move(done));
    if (priced_.unpriced_model) note_unpriced(ex);
    if (!priced_.endpoint) note_unpriced_endpoint(ex);
    if (priced_.endpoint && priced_.endpoint->batch_input) price_batch_upload(ex);
    if (priced_.endpoint && !priced_.endpoint->websocket.format.empty() && is_upgrade(ex)) {
      // A realtime session (DESIGN §12): the handshake is admitted like any request, then each
      // response on its own. Without Sec-WebSocket-Extensions neither side may compress a frame
      // (permessage-deflate), so every message can be read as it passes.
      session_id_ = new_session_id();
      request.session = session_id_;
      std::erase_if(ex.request_headers, [](const auto& f) {
        return util::iequals(f.first, "sec-websocket-extensions");
      });
    }
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
        return answer_refusal(ex, render_refusal(ex.provider->error_style, r), admission,
                              std::move(done));
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
    if (!priced_.service_tier.empty()) reader_->set_service_tier(priced_.service_tier);
    for (const auto& tool : priced_.tools) reader_->charge_tool(*tool.tool, tool.each);
    rules::ResponseHeadView head{ex.status, &ex.response_headers};
    reader_->on_headers(head);
    for (const auto name : k_request_id_headers)
      if (const auto id = rules::find_header(ex.response_headers, name); !id.empty()) {
        upstream_request_id_ = std::string(id);
        break;
      }
    if (!session_id_.empty()) {
      ex.response_headers.emplace_back("x-tollgate-session", session_id_);
    } else {
      ex.response_headers.emplace_back("x-tollgate-cost",
                                       rules::format_micros(priced_.estimate.micros));
      ex.response_headers.emplace_back("x-tollgate-record", ex.billing.record);
    }
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

  std::unique_ptr<RealtimeRelay> on_upgraded(Exchange& ex) override {
    if (!admitted_ || session_id_.empty()) return nullptr;
    RealtimeSession session;
    session.enforcer = &enforcer_;
    session.config = ex.config;
    session.provider = ex.provider;
    session.endpoint = priced_.endpoint;
    session.id = session_id_;
    session.request.provider = ex.provider->name;
    session.request.endpoint = priced_.endpoint_name;
    session.request.model = priced_.model;
    session.request.client = client_identity(ex.config->clients, ex);
    session.request.credential_hash = credential_hash_;
    session.request.host = ex.host;
    session.request.session = session_id_;
    session.headers = ex.request_headers;
    for (const auto& b : admission_.budgets) session.instances.emplace_back(b.name, b.key);
    session.client_address = ex.client_address;
    session.user = ex.client_user;
    session.target = ex.target;
    RealtimeRegistry::Instances warned;
    for (const auto& b : ex.config->budgets)
      if (b.warn_client)
        for (const auto& i : session.instances)
          if (i.first == b.name) warned.push_back(i);
    RealtimeRelay::Limits limits;
    limits.max_message = priced_.endpoint->websocket.max_message;
    limits.max_duration = priced_.endpoint->max_duration;
    // The handshake's hold was the check that the session may start; each response holds its own.
    enforcer_.release(std::exchange(hold_, 0), [] {});
    return std::make_unique<RealtimeRelay>(make_realtime_meter(std::move(session)), enforcer_,
                                           limits, realtime_, std::move(warned));
  }

  void on_complete(Exchange& ex, Outcome outcome, std::function<void()> done) override {
    if (!admitted_) return done();
    if (!session_id_.empty()) {
      // A realtime handshake costs nothing; its responses settled as they ended.
      ex.billing.cost = 0;
      Metrics::instance().count_request(
          ex.provider->name, priced_.endpoint_name,
          ex.status == 101 ? RequestOutcome::forwarded : RequestOutcome::error);
      if (!hold_) return done();
      return enforcer_.release(std::exchange(hold_, 0), std::move(done));
    }
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

    budget::RecordDetail detail;
    detail.outcome = record_outcome(outcome, ex.status);
    detail.status = ex.status;
    detail.usage = record_usage(usage);
    detail.upstream_request_id = std::move(upstream_request_id_);
    detail.ms = elapsed_ms(ex);
    // The exchange goes on (to the client's next request) once the close is durable here and
    // queued to a shared ledger, not once Redis has answered: a round trip less per request,
    // and the next reservation still comes after the close.
    detail.await_shared = false;
    if (!ex.request_sent) {
      // The provider never saw the request: nothing can have been charged.
      ex.billing.cost = 0;
      return enforcer_.release(hold_, std::move(detail), std::move(done));
    }
    const std::int64_t actual = actual_cost(ex, usage);
    ex.billing.cost = actual;
    // Reported under the name the provider billed (gpt-4o-2024-08-06 for a request for gpt-4o),
    // priced by the entry that name resolves to (rules::UsageReader): in the access log, the
    // metrics and the cost record, so /v1/spend?group_by=model names it too.
    if (usage && !usage->model.empty()) {
      ex.billing.model = usage->model;
      detail.model = usage->model;
    }
    if (usage) detail.service_tier = usage->priced_tier;
    if (upload_ && usage && !usage->id.empty() && ex.status < 400)
      batch_files_.remember(ex.provider->name, usage->id, std::move(*upload_));
    if (actual > 0) {
      metrics.add_spend(priced_.estimate.currency, ex.provider->name, ex.billing.model, actual);
      if (priced_.estimate.micros > 0)
        metrics.observe_estimate_ratio(static_cast<double>(actual) /
                                       static_cast<double>(priced_.estimate.micros));
    }
    enforcer_.settle(hold_, actual, std::move(detail), std::move(done));
  }

 private:
  // A refusal goes to the client once its cost record is durable, naming that record.
  void answer_refusal(Exchange& ex, LocalReply reply, const budget::Admission& refusal,
                      std::function<void(std::optional<LocalReply>)> done) {
    reply.headers.emplace_back("x-tollgate-record", ex.billing.record);
    budget::RecordDetail detail;
    detail.outcome = budget::RecordOutcome::refused;
    detail.status = reply.status;
    detail.ms = elapsed_ms(ex);
    enforcer_.record_refusal(
        request_, refusal, std::move(detail),
        [done = std::move(done), reply = std::move(reply)]() mutable { done(std::move(reply)); });
  }

  // A request that cannot be priced (an unknown model under unknown_model: refuse, a body that
  // cannot be read): the provider's invalid-request error, 400, never forwarded. No budget is
  // involved, so no x-tollgate-budget; the refusal is an event like any other.
  void refuse_price(Exchange& ex, std::function<void(std::optional<LocalReply>)> done) {
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
    budget::Admission refusal;
    refusal.admitted = false;
    refusal.refused_by = budget::RefusedBy::price;
    answer_refusal(ex, render_refusal(ex.provider->error_style, r), refusal, std::move(done));
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

  // A POST (PUT, PATCH) to a path of a provider that no endpoint prices: it costs default_cost,
  // and may be a paid endpoint the catalog does not know yet. Sampled: one event per path and
  // minute, ten per provider and minute, so that a loop cannot flood the events.
  void note_unpriced_endpoint(Exchange& ex) {
    if (ex.method != "POST" && ex.method != "PUT" && ex.method != "PATCH") return;
    Metrics::instance().count_unpriced_endpoint(ex.provider->name, ex.method);
    const std::string path = ex.target.substr(0, ex.target.find('?'));
    const std::string cost = rules::format_micros(priced_.estimate.micros);
    sampler_.emit(
        enforcer_,
        {{"unpriced_endpoint/" + ex.provider->name + "/" + ex.method + " " + path, {1, 60}},
         {"unpriced_endpoint/" + ex.provider->name, {10, 60}}},
        {0, std::chrono::system_clock::now(), budget::EventType::unpriced_endpoint, "", "",
         ex.method + " " + path + " of provider '" + ex.provider->name +
             "' matches no endpoint: charged its default_cost " + cost,
         ""},
        std::move(budget::EventDetail()
                      .str("provider", ex.provider->name)
                      .str("method", ex.method)
                      .str("path", path)
                      .str("estimate", cost)));
  }

  // pricing: batch of an input file: the price of the upload tollgate saw, at the batch's
  // share, instead of the provider's batch_estimate.
  void price_batch_of_file(Exchange& ex) {
    const auto file = batch_files_.find(ex.provider->name, priced_.batch_file);
    if (!file) return;
    if (file->error) {
      priced_.error = "batch input file '" + priced_.batch_file + "': " + *file->error;
      return;
    }
    priced_.error.reset();
    priced_.estimate.micros = rules::percent_of(file->micros, priced_.batch_percent);
    priced_.explanation += "input file " + priced_.batch_file + ": " +
                           std::to_string(file->requests) + " requests priced at its upload, " +
                           rules::format_micros(file->micros) + ", at " +
                           std::to_string(priced_.batch_percent) + " %\n";
  }

  // batch_input: an upload whose purpose is "batch" is priced now and remembered under the
  // file id of the answer (on_complete). The upload itself costs what the endpoint says.
  void price_batch_upload(const Exchange& ex) {
    const auto type = rules::find_header(ex.request_headers, "content-type");
    const auto purpose = rules::multipart_field(type, ex.request_body, "purpose");
    if (!purpose || *purpose != "batch") return;
    const auto file = rules::multipart_field(type, ex.request_body, "file");
    if (!file) return;
    const auto priced = rules::price_batch_file(*ex.config, *ex.provider, *file);
    upload_ = BatchFiles::Priced{priced.micros, priced.requests, priced.error};
  }

  // output_cap: inject — writes the cap into the body, re-prices the request with it and makes
  // that the estimate to reserve (the capped worst case). Leaves everything as it was when no
  // cap applies or the body cannot take one.
  void cap_output(Exchange& ex, budget::AdmitRequest& request) {
    if (!priced_.endpoint) return;
    // A budget of the request may ask for the cap where its endpoint does not.
    const auto& budgets = ex.config->budgets;
    const bool budget_asks = std::any_of(budgets.begin(), budgets.end(), [&](const auto& b) {
      return b.inject_output_cap && b.currency == request.estimate.currency &&
             budget::matches(b.match, request);
    });
    if (!priced_.endpoint->inject_output_cap && !budget_asks) return;
    const auto cap = rules::output_cap(priced_, enforcer_.remaining_for(request), budget_asks);
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

  static bool is_upgrade(const Exchange& ex) {
    return util::iequals(rules::find_header(ex.request_headers, "upgrade"), "websocket");
  }

  // "rt-" and 16 hex digits from the CSPRNG: the per: session key, x-tollgate-session.
  static std::string new_session_id() {
    unsigned char bytes[8];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      static std::atomic<std::uint64_t> fallback{0};
      const auto n = ++fallback;
      std::memcpy(bytes, &n, sizeof bytes);
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string id = "rt-";
    for (const unsigned char b : bytes) {
      id += k_hex[b >> 4];
      id += k_hex[b & 0xf];
    }
    return id;
  }

  budget::Enforcer& enforcer_;
  EventSampler& sampler_;
  RealtimeRegistry* realtime_;
  std::string session_id_;  // a realtime session's handshake
  BatchFiles& batch_files_;
  std::optional<BatchFiles::Priced> upload_;  // a batch input file being uploaded
  rules::Priced priced_;
  std::optional<std::int64_t> output_cap_;
  budget::AdmitRequest request_;  // what was (or would have been) admitted
  budget::Admission admission_;
  budget::HoldId hold_ = 0;
  std::string upstream_request_id_;
  bool admitted_ = false;
  std::string credential_hash_;
  std::optional<rules::UsageReader> reader_;
  std::optional<rules::UsageChunkStripper> stripper_;
};

}  // namespace

EnforcementHookFactory::EnforcementHookFactory(budget::Enforcer& enforcer) : enforcer_(enforcer) {
  enforcer_.on_event(
      [realtime = realtime_](const budget::Event& event) { realtime->dispatch(event); });
}

std::unique_ptr<ExchangeHooks> EnforcementHookFactory::create(const Exchange&) {
  return std::make_unique<EnforcementHooks>(enforcer_, sampler_, *realtime_, batch_files_);
}

}  // namespace proxy
