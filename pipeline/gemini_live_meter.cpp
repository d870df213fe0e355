// The Gemini Live meter (BidiGenerateContent). Messages: ai.google.dev/api/live. The client's
// first message is {"setup": {...}}, then clientContent, realtimeInput or toolResponse; the
// server answers setupComplete, serverContent (modelTurn, turnComplete, interrupted), toolCall,
// with usageMetadata on some messages. Server messages usually come as binary frames of JSON.
#include <chrono>
#include <optional>

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

constexpr std::size_t k_sniff_window = 4096;
// Live input audio is 16-bit PCM at 16 kHz (32000 bytes a second), billed 32 tokens a second.
constexpr std::int64_t k_audio_bytes_per_token = 1000;
constexpr std::int64_t k_default_output_max = 8192;

bool is_true(const rapidjson::Value* v) {
  return v && v->IsBool() && v->GetBool();
}

class GeminiLiveMeter final : public RealtimeMeter {
 public:
  explicit GeminiLiveMeter(RealtimeSession session)
      : book_(std::move(session)),
        bytes_per_token_(std::max(1, book_.provider().bytes_per_token)) {}

  Interest interest(Side from, std::string_view prefix, bool complete) override {
    const auto scan = rules::scan_first_key(prefix);
    using Status = rules::PrefixScan::Status;
    if (scan.status == Status::more && !complete && prefix.size() < k_sniff_window)
      return Interest::undecided;
    if (from == Side::upstream) return Interest::observe;  // turns and usage, in any message
    const std::string& key = scan.value;
    passed_key_ = key;
    if (key == "realtimeInput") return Interest::pass;
    if (key == "setup") return Interest::observe;
    return Interest::hold;  // clientContent, toolResponse: may start a turn
  }

  void on_passed(Side from, std::uint64_t bytes) override {
    if (from == Side::client && passed_key_ == "realtimeInput")
      appended_.audio += static_cast<std::int64_t>(bytes) / 4 * 3 / k_audio_bytes_per_token + 1;
  }

  Verdict on_message(Side from, std::string_view message, MeterActions& out) override {
    rapidjson::Document doc;
    if (!rules::read_json(doc, message).ok() || !doc.IsObject()) return Verdict::forward;
    if (from == Side::client) return client_message(doc, message.size());
    return server_message(doc, out);
  }

  const budget::AdmitRequest& pending_admission(Side from) const override {
    return from == Side::client ? client_request_ : server_request_;
  }

  Verdict on_admission(Side from, budget::Admission admission, MeterActions& out) override {
    if (from == Side::client) {
      if (!admission.admitted) {
        book_.refused(client_request_, admission);
        out.close =
            MeterActions::Close{ws::k_close_policy, RealtimeBook::refusal_reason(admission)};
        return Verdict::drop;
      }
      if (ending_) {
        book_.release(admission.hold);
        return Verdict::drop;
      }
      turn_ = Turn{admission.hold, client_estimate_, Clock::now(), {}, false, false, {}};
      return Verdict::forward;
    }
    if (!admission.admitted && !server_forced_) {
      // The model already answers: reserve the turn anyway, let it end (Live has no cancel), settle
      // it, then close.
      book_.refused(server_request_, admission);
      refusal_ = std::move(admission);
      server_forced_ = true;
      server_request_ = book_.admit_request(server_estimate_, true);
      return Verdict::wait;
    }
    turn_ =
        Turn{admission.admitted ? admission.hold : 0, server_estimate_,   Clock::now(), {}, false,
             server_forced_ && !refusal_.admitted,    std::move(refusal_)};
    refusal_ = {};
    server_forced_ = false;
    const rapidjson::Document message = std::move(*pending_server_);
    pending_server_.reset();
    server_message(message, out);  // its usage and turnComplete, now that the turn is reserved
    return Verdict::forward;
  }

  void cancel_in_flight(MeterActions&) override { ending_ = true; }
  bool in_flight() const override { return turn_.has_value(); }

  void finish() override {
    if (!turn_) return;
    settle_turn(turn_->usage ? "completed" : "no_usage");
  }

  void on_budget_event(const budget::Event& event, MeterActions& out) override {
    if (auto warning = book_.warning(event)) out.to_client.push_back(std::move(*warning));
  }

  std::optional<std::string> ending_message(std::string_view, std::string_view) override {
    return std::nullopt;  // Live has no error message: the Close reason says it
  }

 private:
  struct Turn {
    budget::HoldId hold = 0;
    std::int64_t estimate = 0;
    Clock::time_point started{};
    std::optional<rules::RealtimeUsage> usage;  // the latest snapshot of this turn
    bool complete = false;                      // turnComplete seen, usage still awaited
    bool refused = false;                       // past a budget: the session ends after it
    budget::Admission refusal;
  };

  std::int64_t text_tokens(std::int64_t bytes) const {
    return (std::max<std::int64_t>(bytes, 0) + bytes_per_token_ - 1) / bytes_per_token_;
  }

  std::int64_t worst_case() const {
    const auto* price = book_.price();
    if (!price) return 0;
    rules::RealtimeWorstCase worst;
    worst.context = context_;
    worst.context.text += appended_.text + setup_tokens_;
    worst.context.audio += appended_.audio;
    worst.context.image += appended_.image;
    worst.output_max = price->max_output > 0 ? price->max_output : k_default_output_max;
    if (output_max_) worst.output_max = std::min(worst.output_max, *output_max_);
    worst.text_output_only = text_only_;
    return rules::realtime_worst_case(*price, worst);
  }

  Verdict client_message(const rapidjson::Document& doc, std::size_t bytes) {
    if (const auto* setup = json_member(&doc, "setup")) {
      if (auto model = json_string(json_member(setup, "model")); !model.empty())
        book_.set_model(model);
      const auto* config = json_member(setup, "generationConfig");
      if (const auto* max = json_member(config, "maxOutputTokens"); max && max->IsInt64())
        output_max_ = max->GetInt64();
      if (const auto* modalities = json_member(config, "responseModalities");
          modalities && modalities->IsArray())
        text_only_ = modalities->Size() == 1 && json_string(&(*modalities)[0]) == "TEXT";
      setup_tokens_ = text_tokens(static_cast<std::int64_t>(bytes));
      return Verdict::forward;
    }
    appended_.text += text_tokens(static_cast<std::int64_t>(bytes));
    const auto* content = json_member(&doc, "clientContent");
    const bool asks_turn =
        is_true(json_member(content, "turnComplete")) || json_member(&doc, "toolResponse");
    if (!asks_turn || turn_) return Verdict::forward;  // a running turn covers it
    if (ending_) return Verdict::drop;
    client_estimate_ = worst_case();
    client_request_ = book_.admit_request(client_estimate_);
    return Verdict::wait;
  }

  Verdict server_message(const rapidjson::Value& doc, MeterActions& out) {
    const auto* content = json_member(&doc, "serverContent");
    if (json_member(content, "modelTurn") && !turn_) {
      // The model answers without a turn tollgate reserved (voice activity): reserve it now.
      pending_server_.emplace();
      pending_server_->CopyFrom(doc, pending_server_->GetAllocator());
      server_estimate_ = worst_case();
      server_forced_ = ending_;
      server_request_ = book_.admit_request(server_estimate_, server_forced_);
      return Verdict::wait;
    }
    if (const auto* meta = json_member(&doc, "usageMetadata"); meta && turn_) {
      // Snapshots within a turn may repeat or grow (cumulative): the turn is billed its last.
      if (auto usage = rules::gemini_live_usage(*meta)) turn_->usage = std::move(usage);
    }
    const bool ends = is_true(json_member(content, "turnComplete")) ||
                      is_true(json_member(content, "interrupted"));
    if (turn_ && (ends || turn_->complete) && turn_->usage) {
      const bool refused = turn_->refused;
      const budget::Admission refusal = turn_->refusal;
      settle_turn("completed");
      if (refused)
        out.close = MeterActions::Close{ws::k_close_policy, RealtimeBook::refusal_reason(refusal)};
    } else if (turn_ && ends) {
      turn_->complete = true;  // its usage may follow in a message of its own
    }
    return Verdict::forward;
  }

  void settle_turn(const char* outcome) {
    Turn t = std::move(*turn_);
    turn_.reset();
    if (t.usage) {
      context_ = {t.usage->input.text + t.usage->output.text + t.usage->output_unsplit,
                  t.usage->input.audio + t.usage->output.audio + t.usage->input_unsplit,
                  t.usage->input.image};
      appended_ = {};
    }
    if (!t.hold) return;
    RealtimeBook::Settlement s;
    s.outcome = outcome;
    s.estimate = t.estimate;
    s.usage = std::move(t.usage);
    s.ms = std::chrono::duration<double, std::milli>(Clock::now() - t.started).count();
    book_.settle(t.hold, std::move(s));
  }

  RealtimeBook book_;
  const std::int64_t bytes_per_token_;
  Modalities context_, appended_;
  std::int64_t setup_tokens_ = 0;
  std::optional<std::int64_t> output_max_;
  bool text_only_ = false;
  std::string passed_key_;
  std::optional<Turn> turn_;
  std::int64_t client_estimate_ = 0, server_estimate_ = 0;
  budget::AdmitRequest client_request_, server_request_;
  std::optional<rapidjson::Document> pending_server_;  // the message that started a turn
  bool server_forced_ = false;
  budget::Admission refusal_;
  bool ending_ = false;
};

}  // namespace

std::unique_ptr<RealtimeMeter> make_gemini_live_meter(RealtimeSession session) {
  return std::make_unique<GeminiLiveMeter>(std::move(session));
}

}  // namespace proxy
