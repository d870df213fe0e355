#pragma once
// The money side of one metered realtime session, shared by the protocol meters: who the session
// is (fixed at the handshake), what its model costs, reserving and settling each response,
// logging and counting it, and the budget warnings and refusals its client is sent.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "budget/enforcer.hpp"
#include "rules/config.hpp"
#include "rules/realtime_cost.hpp"

namespace proxy {

// What is fixed when the session is admitted.
struct RealtimeSession {
  budget::Enforcer* enforcer = nullptr;
  std::shared_ptr<const rules::Config> config;  // the handshake's snapshot: prices, budgets
  const rules::Provider* provider = nullptr;
  const rules::Endpoint* endpoint = nullptr;
  std::string id;  // unique per session: the per: session instance key
  // provider, endpoint, model, client, credential_hash, host, session of every admission
  budget::AdmitRequest request;
  rules::HeaderList headers;  // the handshake's, for per: header:NAME
  // The budget instances the session spends from (from the handshake's admission).
  std::vector<std::pair<std::string, std::string>> instances;
  std::string client_address, user, target;  // for the log
};

class RealtimeBook {
 public:
  explicit RealtimeBook(RealtimeSession session);

  const RealtimeSession& session() const { return session_; }
  const rules::Provider& provider() const { return *session_.provider; }

  // The model responses are billed as; the provider may name it later (session.created).
  const std::string& model() const { return session_.request.model; }
  void set_model(std::string model);
  // Its price (unknown_model applied); nullptr when it has none (unknown_model: refuse).
  const rules::ModelPrice* price() const { return price_; }

  // The admission of one response reserved at `estimate`.
  budget::AdmitRequest admit_request(std::int64_t estimate, bool force = false) const;

  // One response (or turn, or transcription) as it ends.
  struct Settlement {
    std::string response;  // the provider's id ("" when none)
    std::string outcome;   // completed | cancelled | failed | incomplete | no_usage
    std::int64_t estimate = 0;
    std::optional<rules::RealtimeUsage> usage;  // nullopt: none came, the estimate is charged
    std::int64_t actual = 0;                    // set by settle() from usage and the price
    double ms = 0;
    std::string model;  // billed as another model than the session's (transcription); "" = not
  };
  // Replaces the hold by what the usage costs at `price` (the estimate without usage); counts,
  // logs. `price` nullptr: the session's model's.
  void settle(budget::HoldId hold, Settlement s, const rules::ModelPrice* price = nullptr);
  // Drops a hold whose work never reached the provider.
  void release(budget::HoldId hold);
  // Charges work that had no hold (a transcription, at its model's `price`): reserved by
  // force, then settled.
  void charge(Settlement s, const rules::ModelPrice* price);
  // Counts, logs and records a refused response (nothing was reserved); `request` is the
  // admission the enforcer refused.
  void refused(const budget::AdmitRequest& request, const budget::Admission& refusal);

  // {"type":"tollgate.budget_warning","budget","spent","limit","percent"} when `event` is a
  // threshold of a warn_client budget instance this session spends from.
  std::optional<std::string> warning(const budget::Event& event) const;

  // The refusal of a response as the client is told it: the message, and a Close reason under
  // 123 bytes.
  static std::string refusal_message(const budget::Admission& admission);
  static std::string refusal_reason(const budget::Admission& admission);

 private:
  void count(const Settlement& s) const;  // metrics and the log line

  RealtimeSession session_;
  const rules::ModelPrice* price_ = nullptr;
};

// OpenAI's error event: {"type":"error","error":{"type","code","message","param":null,
// "event_id"}} (event_id: the client event it answers, when known).
std::string openai_error_event(std::string_view type, std::string_view code,
                               std::string_view message, std::string_view event_id = {});

}  // namespace proxy
