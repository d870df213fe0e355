#include "pipeline/realtime_book.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>

#include "telemetry/access_log.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// A response's cost record (DESIGN §13): its token counts by modality, named as the records of
// HTTP exchanges name theirs (cached_input apart from input).
budget::RecordDetail record_detail(const RealtimeBook::Settlement& s) {
  budget::RecordDetail d;
  d.outcome = s.outcome == "failed" ? budget::RecordOutcome::upstream_error
                                    : budget::RecordOutcome::complete;
  d.status = 101;
  d.upstream_request_id = s.response;
  d.model = s.model;  // a transcription is billed, and recorded, as its own model
  d.ms = std::llround(s.ms);
  if (!s.usage) return d;
  const auto& u = *s.usage;
  const auto add = [&](const char* name, std::int64_t n) {
    if (n != 0) d.usage.emplace_back(name, n);
  };
  d.usage.emplace_back("input", u.input.text - u.cached.text + u.input_unsplit);
  add("cached_input", u.cached.total());
  add("audio_input", u.input.audio - u.cached.audio);
  add("image_input", u.input.image - u.cached.image);
  d.usage.emplace_back("output", u.output.text + u.output_unsplit);
  add("audio_output", u.output.audio);
  return d;
}

}  // namespace

RealtimeBook::RealtimeBook(RealtimeSession session) : session_(std::move(session)) {
  set_model(session_.request.model);
}

void RealtimeBook::set_model(std::string model) {
  if (model.starts_with("models/")) model.erase(0, 7);  // Gemini's setup names models/NAME
  session_.request.model = std::move(model);
  price_ = session_.provider->price_for_model(session_.request.model, session_.endpoint);
}

budget::AdmitRequest RealtimeBook::admit_request(std::int64_t estimate, bool force) const {
  budget::AdmitRequest r = session_.request;
  r.headers = &session_.headers;
  r.estimate = {estimate, session_.provider->currency};
  r.force = force;
  r.record_id = budget::new_record_id();  // each response is a record of its own
  return r;
}

void RealtimeBook::settle(budget::HoldId hold, Settlement s, const rules::ModelPrice* price) {
  if (!price) price = price_;
  s.actual = s.usage && price ? rules::realtime_cost(*price, *s.usage) : s.estimate;
  if (s.actual > 0 && s.estimate > 0)
    Metrics::instance().observe_estimate_ratio(static_cast<double>(s.actual) /
                                               static_cast<double>(s.estimate));
  session_.enforcer->settle(hold, s.actual, record_detail(s), [] {});
  count(s);
}

void RealtimeBook::release(budget::HoldId hold) {
  budget::RecordDetail detail;
  detail.status = 101;
  session_.enforcer->release(hold, std::move(detail), [] {});
}

void RealtimeBook::charge(Settlement s, const rules::ModelPrice* price) {
  if (!price) return;
  s.actual = s.usage ? rules::realtime_cost(*price, *s.usage) : s.estimate;
  if (s.actual <= 0) return;
  s.estimate = s.actual;
  auto* enforcer = session_.enforcer;
  // The enforcer may answer on its own thread: the callback captures values, not this book.
  enforcer->admit(admit_request(s.actual, true),
                  [enforcer, actual = s.actual,
                   detail = record_detail(s)](budget::Admission admission) mutable {
                    if (admission.hold)
                      enforcer->settle(admission.hold, actual, std::move(detail), [] {});
                  });
  count(s);
}

void RealtimeBook::refused(const budget::AdmitRequest& request, const budget::Admission& refusal) {
  budget::RecordDetail detail;
  detail.outcome = budget::RecordOutcome::refused;
  detail.status = 101;
  session_.enforcer->record_refusal(request, refusal, std::move(detail), [] {});
  const std::int64_t estimate = request.estimate.micros;
  Settlement s;
  s.outcome = "refused";
  s.estimate = estimate;
  count(s);
}

void RealtimeBook::count(const Settlement& s) const {
  const std::string& model_name = s.model.empty() ? model() : s.model;
  auto& metrics = Metrics::instance();
  metrics.count_realtime_response(session_.provider->name, model_name, s.outcome);
  if (s.actual > 0)
    metrics.add_spend(session_.provider->currency, session_.provider->name, model_name, s.actual);
  RealtimeRecord r;
  r.client = session_.client_address;
  r.user = session_.user;
  r.host = session_.request.host;
  r.target = session_.target;
  r.session = session_.id;
  r.response = s.response;
  r.model = model_name;
  r.outcome = s.outcome;
  r.currency = session_.provider->currency;
  r.estimate = s.estimate;
  r.cost = s.actual;
  r.ms = s.ms;
  if (s.usage) {
    const auto& u = *s.usage;
    r.input_tokens = u.input.total() + u.input_unsplit;
    r.cached_tokens = u.cached.total();
    r.output_tokens = u.output.total() + u.output_unsplit;
    r.audio_input_tokens = u.input.audio;
    r.audio_output_tokens = u.output.audio;
  }
  log_realtime(r);
}

std::optional<std::string> RealtimeBook::warning(const budget::Event& event) const {
  if (event.type != budget::EventType::threshold) return std::nullopt;
  const auto& budgets = session_.config->budgets;
  const auto config = std::find_if(budgets.begin(), budgets.end(),
                                   [&](const auto& b) { return b.name == event.budget; });
  if (config == budgets.end() || !config->warn_client) return std::nullopt;
  const bool mine =
      std::any_of(session_.instances.begin(), session_.instances.end(),
                  [&](const auto& i) { return i.first == event.budget && i.second == event.key; });
  if (!mine) return std::nullopt;
  rapidjson::Document detail;
  detail.Parse(event.detail_json.c_str());
  const auto text = [&](const char* key) -> std::string {
    if (!detail.IsObject() || !detail.HasMember(key) || !detail[key].IsString()) return {};
    return detail[key].GetString();
  };
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "type", "tollgate.budget_warning");
  put(w, "budget", event.budget);
  put(w, "spent", text("spent"));
  put(w, "limit", text("limit"));
  put(w, "currency", text("currency"));
  w.Key("percent");
  w.Int(detail.IsObject() && detail.HasMember("percent") && detail["percent"].IsInt()
            ? detail["percent"].GetInt()
            : 0);
  put(w, "message", "tollgate: " + event.message);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string RealtimeBook::refusal_message(const budget::Admission& admission) {
  return "tollgate: " + admission.message;
}

std::string RealtimeBook::refusal_reason(const budget::Admission& admission) {
  const std::string what = admission.refused_by == budget::RefusedBy::budget
                               ? "budget '" + admission.name + "' exhausted"
                               : std::string(budget::refused_by_name(admission.refused_by)) + " '" +
                                     admission.name + "' refused";
  return "tollgate: " + what;  // cut to 123 bytes by ws::close_payload
}

std::string openai_error_event(std::string_view type, std::string_view code,
                               std::string_view message, std::string_view event_id) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "type", "error");
  w.Key("error");
  w.StartObject();
  put(w, "type", type);
  put(w, "code", code);
  put(w, "message", message);
  w.Key("param");
  w.Null();
  if (!event_id.empty()) put(w, "event_id", event_id);
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace proxy
