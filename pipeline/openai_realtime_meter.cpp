// The OpenAI Realtime meter (GA protocol). Event names and shapes: openai-python
// src/openai/types/realtime/ (realtime_client_event.py, realtime_server_event.py,
// response_done_event.py, realtime_response_usage.py).
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <deque>
#include <map>

#include "pipeline/realtime_meters.hpp"
#include "pipeline/ws_frames.hpp"
#include "rules/json_prefix.hpp"
#include "rules/json_reader.hpp"

namespace proxy {
namespace {

using Clock = std::chrono::steady_clock;
using rules::json_member;
using rules::json_string;
using rules::Modalities;

// The type of a message is looked for in its first bytes only; OpenAI and its SDKs write it
// first. A client message whose type is not found there is held whole (it might be a
// response.create), a server message read whole.
constexpr std::size_t k_sniff_window = 4096;
// Realtime audio input is billed about one token per 100 ms: 24 kHz 16-bit PCM is 4800 bytes a
// token, 8 kHz G.711 800 (OpenAI's realtime-costs guide).
constexpr std::int64_t k_pcm_bytes_per_token = 4800;
constexpr std::int64_t k_g711_bytes_per_token = 800;
// The output maximum of a model whose catalog entry names none.
constexpr std::int64_t k_default_output_max = 4096;

std::int64_t json_bytes(const rapidjson::Value& v) {
  return static_cast<std::int64_t>(rules::json_size(v));
}

// Base64 audio strings anywhere in an item ("audio": "..."), in bytes of base64.
std::int64_t audio_base64_bytes(const rapidjson::Value& v) {
  std::int64_t n = 0;
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (std::string_view(m.name.GetString()) == "audio" && m.value.IsString())
        n += m.value.GetStringLength();
      else
        n += audio_base64_bytes(m.value);
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) n += audio_base64_bytes(e);
  }
  return n;
}

Modalities& operator+=(Modalities& a, const Modalities& b) {
  a.text += b.text;
  a.audio += b.audio;
  a.image += b.image;
  return a;
}

class OpenAIRealtimeMeter final : public RealtimeMeter {
 public:
  explicit OpenAIRealtimeMeter(RealtimeSession session)
      : book_(std::move(session)),
        bytes_per_token_(std::max(1, book_.provider().bytes_per_token)) {}

  Interest interest(Side from, std::string_view prefix, bool complete) override {
    const auto scan = rules::scan_top_level_string(prefix, "type");
    using Status = rules::PrefixScan::Status;
    if (scan.status == Status::more && !complete && prefix.size() < k_sniff_window)
      return Interest::undecided;
    const bool unknown = scan.status == Status::more;
    const std::string& type = scan.value;
    if (from == Side::client) {
      passed_type_ = type;
      if (type == "response.create" || unknown) return Interest::hold;
      if (type == "session.update" || type == "conversation.item.create") return Interest::observe;
      return Interest::pass;
    }
    if (unknown || type == "response.created" || type == "response.done" ||
        type == "session.created" || type == "session.updated" || type == "error" ||
        type == "conversation.item.input_audio_transcription.completed")
      return Interest::observe;
    return Interest::pass;
  }

  void on_passed(Side from, std::uint64_t bytes) override {
    // The audio of an append is base64 (3 bytes in 4) of the session's input format.
    if (from == Side::client && passed_type_ == "input_audio_buffer.append")
      appended_.audio += audio_tokens(static_cast<std::int64_t>(bytes));
  }

  Verdict on_message(Side from, std::string_view message, MeterActions& out) override {
    rapidjson::Document doc;
    if (!rules::read_json(doc, message).ok() || !doc.IsObject()) return Verdict::forward;
    const std::string type = json_string(json_member(&doc, "type"));
    if (from == Side::client) {
      if (type == "session.update") {
        read_session(json_member(&doc, "session"));
      } else if (type == "conversation.item.create") {
        if (const auto* item = json_member(&doc, "item"))
          appended_ += item_tokens(*item, static_cast<std::int64_t>(message.size()));
      } else if (type == "response.create") {
        return response_create(doc);
      }
      return Verdict::forward;
    }
    if (type == "session.created" || type == "session.updated") {
      const auto* session = json_member(&doc, "session");
      if (auto model = json_string(json_member(session, "model"));
          !model.empty() && model != book_.model())
        book_.set_model(std::move(model));
      read_session(session);
    } else if (type == "response.created") {
      return response_created(json_member(&doc, "response"), out);
    } else if (type == "response.done") {
      response_done(json_member(&doc, "response"), out);
    } else if (type == "error") {
      error_event(json_member(&doc, "error"));
    } else if (type == "conversation.item.input_audio_transcription.completed") {
      transcription(json_member(&doc, "usage"), json_string(json_member(&doc, "item_id")));
    }
    return Verdict::forward;
  }

  const budget::AdmitRequest& pending_admission(Side from) const override {
    return from == Side::client ? client_wait_.request : server_wait_.request;
  }

  Verdict on_admission(Side from, budget::Admission admission, MeterActions& out) override {
    return from == Side::client ? create_admitted(std::move(admission), out)
                                : created_admitted(std::move(admission), out);
  }

  void cancel_in_flight(MeterActions& out) override {
    cancelling_ = true;
    for (auto& [id, r] : active_) cancel(id, r, out);
  }

  bool in_flight() const override { return !creates_.empty() || !active_.empty(); }

  void finish() override {
    // No usage comes any more: what went to the provider is charged at its estimate.
    for (auto& [id, r] : active_) settle_without_usage(id, r);
    active_.clear();
    for (auto& r : creates_) settle_without_usage({}, r);
    creates_.clear();
  }

  void on_budget_event(const budget::Event& event, MeterActions& out) override {
    if (auto warning = book_.warning(event)) out.to_client.push_back(std::move(*warning));
  }

  std::optional<std::string> ending_message(std::string_view code,
                                            std::string_view message) override {
    return openai_error_event("invalid_request_error", code, message);
  }

 private:
  struct Response {
    budget::HoldId hold = 0;
    std::int64_t estimate = 0;
    Clock::time_point started{};
    std::string event_id;  // the client's response.create event_id, if it gave one
    bool cancel_sent = false;
    bool refused = false;  // started by the server past a budget: cancelled, then the end
    budget::Admission refusal;
  };
  struct Wait {
    budget::AdmitRequest request;
    std::int64_t estimate = 0;
    std::string id;       // the response (server) or the client's event_id
    bool forced = false;  // the second, forced admission of a refused server response
    budget::Admission refusal;
  };

  std::int64_t text_tokens(std::int64_t bytes) const {
    return (std::max<std::int64_t>(bytes, 0) + bytes_per_token_ - 1) / bytes_per_token_;
  }
  std::int64_t audio_tokens(std::int64_t base64_bytes) const {
    const std::int64_t raw = base64_bytes / 4 * 3 + 3;
    return (raw + audio_bytes_per_token_ - 1) / audio_bytes_per_token_;
  }

  // An item (or a list of items) as input tokens: its audio by length, the rest as text.
  Modalities item_tokens(const rapidjson::Value& item, std::int64_t bytes) const {
    const std::int64_t audio = audio_base64_bytes(item);
    return {text_tokens(bytes - audio), audio_tokens(audio), 0};
  }

  void read_session(const rapidjson::Value* s) {
    if (!s || !s->IsObject()) return;
    if (const auto* max = json_member(s, "max_output_tokens")) {
      if (max->IsInt64() && max->GetInt64() > 0)
        session_max_output_ = max->GetInt64();
      else if (max->IsString())
        session_max_output_.reset();  // "inf"
    }
    if (const auto* modalities = json_member(s, "output_modalities");
        modalities && modalities->IsArray())
      text_only_ = modalities->Size() == 1 && json_string(&(*modalities)[0]) == "text";
    if (const auto* instructions = json_member(s, "instructions");
        instructions && instructions->IsString())
      instructions_tokens_ = text_tokens(instructions->GetStringLength());
    if (const auto* tools = json_member(s, "tools"); tools && tools->IsArray())
      tools_tokens_ = text_tokens(json_bytes(*tools));
    const auto* input = json_member(json_member(s, "audio"), "input");
    if (const auto format = json_string(json_member(json_member(input, "format"), "type"));
        !format.empty())
      audio_bytes_per_token_ =
          format == "audio/pcm" ? k_pcm_bytes_per_token : k_g711_bytes_per_token;
    if (auto model = json_string(json_member(json_member(input, "transcription"), "model"));
        !model.empty())
      transcription_model_ = std::move(model);
  }

  // The worst case of a response (DESIGN §12): it reads the conversation so far (the last
  // response.done's input and output, and what was appended since) plus its own instructions and
  // input, uncached, and writes its output maximum at the dearest output modality.
  std::int64_t worst_case(const rapidjson::Value* response) const {
    const auto* price = book_.price();
    rules::RealtimeWorstCase worst;
    const bool out_of_band = json_string(json_member(response, "conversation")) == "none";
    if (!out_of_band) {
      worst.context = context_;
      worst.context += appended_;
    }
    const auto* instructions = json_member(response, "instructions");
    worst.context.text += instructions && instructions->IsString()
                              ? text_tokens(instructions->GetStringLength())
                              : instructions_tokens_;
    const auto* tools = json_member(response, "tools");
    worst.context.text +=
        tools && tools->IsArray() ? text_tokens(json_bytes(*tools)) : tools_tokens_;
    if (const auto* input = json_member(response, "input"); input && input->IsArray())
      worst.context += item_tokens(*input, json_bytes(*input));
    std::int64_t output_max =
        price && price->max_output > 0 ? price->max_output : k_default_output_max;
    if (session_max_output_) output_max = std::min(output_max, *session_max_output_);
    if (const auto* max = json_member(response, "max_output_tokens"); max && max->IsInt64())
      output_max = std::clamp<std::int64_t>(max->GetInt64(), 0, output_max);
    worst.output_max = output_max;
    worst.text_output_only = text_only_;
    if (const auto* modalities = json_member(response, "output_modalities");
        modalities && modalities->IsArray())
      worst.text_output_only = modalities->Size() == 1 && json_string(&(*modalities)[0]) == "text";
    return price ? rules::realtime_worst_case(*price, worst) : 0;
  }

  // A client's response.create: held until the enforcer admits its worst case.
  Verdict response_create(const rapidjson::Document& doc) {
    if (cancelling_) return Verdict::drop;  // the session is ending: no new response
    client_wait_ = {};
    client_wait_.estimate = worst_case(json_member(&doc, "response"));
    client_wait_.id = json_string(json_member(&doc, "event_id"));
    client_wait_.request = book_.admit_request(client_wait_.estimate);
    return Verdict::wait;
  }

  Verdict create_admitted(budget::Admission admission, MeterActions& out) {
    if (!book_.price() && admission.admitted) {
      book_.release(admission.hold);
      admission = unpriced();
    }
    if (!admission.admitted) {
      book_.refused(client_wait_.request, admission);
      out.to_client.push_back(openai_error_event("invalid_request_error", "budget_exceeded",
                                                 RealtimeBook::refusal_message(admission),
                                                 client_wait_.id));
      out.close = MeterActions::Close{ws::k_close_policy, RealtimeBook::refusal_reason(admission)};
      return Verdict::drop;
    }
    if (cancelling_) {
      book_.release(admission.hold);
      return Verdict::drop;
    }
    Response r;
    r.hold = admission.hold;
    r.estimate = client_wait_.estimate;
    r.started = Clock::now();
    r.event_id = client_wait_.id;
    creates_.push_back(std::move(r));
    return Verdict::forward;
  }

  // response.created: the response of the oldest admitted response.create, or one the server
  // started by itself (server VAD), which is reserved now.
  Verdict response_created(const rapidjson::Value* response, MeterActions& out) {
    const std::string id = json_string(json_member(response, "id"));
    if (!creates_.empty()) {
      Response r = std::move(creates_.front());
      creates_.pop_front();
      auto& placed = active_[id] = std::move(r);
      if (cancelling_) cancel(id, placed, out);
      return Verdict::forward;
    }
    server_wait_ = {};
    server_wait_.id = id;
    server_wait_.estimate = worst_case(response);
    // While the session ends, a response that starts anyway is only accounted for.
    server_wait_.forced = cancelling_;
    server_wait_.request = book_.admit_request(server_wait_.estimate, server_wait_.forced);
    return Verdict::wait;
  }

  Verdict created_admitted(budget::Admission admission, MeterActions& out) {
    if (!admission.admitted && !server_wait_.forced) {
      // Refused, but the provider has started it: reserve it anyway (it will be charged), cancel
      // it, settle what response.done reports, then end the session.
      book_.refused(server_wait_.request, admission);
      server_wait_.refusal = std::move(admission);
      server_wait_.forced = true;
      server_wait_.request = book_.admit_request(server_wait_.estimate, true);
      return Verdict::wait;
    }
    Response r;
    r.hold = admission.admitted ? admission.hold : 0;
    r.estimate = server_wait_.estimate;
    r.started = Clock::now();
    r.refused = !server_wait_.refusal.admitted;
    r.refusal = std::move(server_wait_.refusal);
    auto& placed = active_[server_wait_.id] = std::move(r);
    if (placed.refused || cancelling_) cancel(server_wait_.id, placed, out);
    return Verdict::forward;
  }

  void cancel(const std::string& id, Response& r, MeterActions& out) {
    if (r.cancel_sent || id.empty()) return;
    r.cancel_sent = true;
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("type");
    w.String("response.cancel");
    w.Key("response_id");
    w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
    w.EndObject();
    out.to_upstream.emplace_back(buffer.GetString(), buffer.GetSize());
  }

  // response.done: the hold becomes what its usage costs; the conversation grew by its input and
  // output.
  void response_done(const rapidjson::Value* response, MeterActions& out) {
    const std::string id = json_string(json_member(response, "id"));
    std::optional<rules::RealtimeUsage> usage;
    if (const auto* u = json_member(response, "usage")) usage = rules::openai_realtime_usage(*u);
    RealtimeBook::Settlement s;
    s.response = id;
    s.outcome = json_string(json_member(response, "status"));
    if (s.outcome.empty()) s.outcome = "completed";
    s.usage = usage;
    if (usage) {
      context_ = {usage->input.text + usage->output.text + usage->output_unsplit,
                  usage->input.audio + usage->output.audio + usage->input_unsplit,
                  usage->input.image};
      appended_ = {};
    }
    const auto it = active_.find(id);
    if (it == active_.end()) {
      // A response tollgate never saw start: charge what it reports.
      if (usage) book_.charge(std::move(s), book_.price());
      return;
    }
    Response r = std::move(it->second);
    active_.erase(it);
    s.estimate = r.estimate;
    s.ms = std::chrono::duration<double, std::milli>(Clock::now() - r.started).count();
    if (!usage) s.outcome = "no_usage";
    if (r.hold) book_.settle(r.hold, std::move(s));
    if (r.refused) {
      out.to_client.push_back(openai_error_event("invalid_request_error", "budget_exceeded",
                                                 RealtimeBook::refusal_message(r.refusal)));
      out.close = MeterActions::Close{ws::k_close_policy, RealtimeBook::refusal_reason(r.refusal)};
    }
  }

  // An error about a client's response.create: that response never starts. Known by the event_id
  // the client gave it, or, for the SDKs that give none, by the one refusal a response.create
  // meets while another response runs (the newest create is the one refused).
  void error_event(const rapidjson::Value* error) {
    const std::string event_id = json_string(json_member(error, "event_id"));
    if (event_id.empty()) {
      if (json_string(json_member(error, "code")) == "conversation_already_has_active_response" &&
          !creates_.empty() && creates_.back().event_id.empty()) {
        book_.release(creates_.back().hold);
        creates_.pop_back();
      }
      return;
    }
    for (auto it = creates_.begin(); it != creates_.end(); ++it)
      if (it->event_id == event_id) {
        book_.release(it->hold);
        creates_.erase(it);
        return;
      }
  }

  // Transcription of the input audio, billed at the transcription model's price (no hold: it is
  // reported as done).
  void transcription(const rapidjson::Value* usage, std::string item) {
    if (!usage) return;
    const auto* price =
        book_.provider().price_for_model(transcription_model_, book_.session().endpoint);
    RealtimeBook::Settlement s;
    s.response = std::move(item);
    s.outcome = "transcription";
    s.model = transcription_model_.empty() ? std::string("transcription") : transcription_model_;
    if (auto tokens = rules::openai_transcription_usage(*usage)) {
      s.usage = tokens;
    } else if (auto seconds = rules::transcription_seconds(*usage)) {
      if (price && price->per_second >= 0) {
        s.estimate = *seconds * price->per_second;
      } else {
        rules::RealtimeUsage audio;
        audio.input.audio = *seconds * 10;  // one token per 100 ms
        s.usage = audio;
      }
    } else {
      return;
    }
    book_.charge(std::move(s), price);
  }

  void settle_without_usage(const std::string& id, Response& r) {
    if (!r.hold) return;
    RealtimeBook::Settlement s;
    s.response = id;
    s.outcome = "no_usage";
    s.estimate = r.estimate;
    s.ms = std::chrono::duration<double, std::milli>(Clock::now() - r.started).count();
    book_.settle(r.hold, std::move(s));
    r.hold = 0;
  }

  budget::Admission unpriced() const {
    budget::Admission a;
    a.admitted = false;
    a.refused_by = budget::RefusedBy::price;
    a.name = book_.provider().name;
    a.message = "model '" + book_.model() + "' has no price (add it under providers." +
                book_.provider().name + ".models)";
    return a;
  }

  RealtimeBook book_;
  const std::int64_t bytes_per_token_;
  std::int64_t audio_bytes_per_token_ = k_pcm_bytes_per_token;
  Modalities context_;   // the last response.done's input and output
  Modalities appended_;  // input appended since
  std::optional<std::int64_t> session_max_output_;
  bool text_only_ = false;
  std::int64_t instructions_tokens_ = 0, tools_tokens_ = 0;
  std::string transcription_model_;
  std::string passed_type_;                 // of the client message being let through
  std::deque<Response> creates_;            // admitted and sent, awaiting response.created
  std::map<std::string, Response> active_;  // by response id, awaiting response.done
  Wait client_wait_, server_wait_;
  bool cancelling_ = false;  // the session is ending
};

}  // namespace

std::unique_ptr<RealtimeMeter> make_openai_realtime_meter(RealtimeSession session) {
  return std::make_unique<OpenAIRealtimeMeter>(std::move(session));
}

std::unique_ptr<RealtimeMeter> make_realtime_meter(RealtimeSession session) {
  if (session.endpoint && session.endpoint->websocket.format == "gemini-live")
    return make_gemini_live_meter(std::move(session));
  return make_openai_realtime_meter(std::move(session));
}

}  // namespace proxy
