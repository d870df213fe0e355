#pragma once
// What a realtime relay (pipeline/realtime_relay.hpp) asks of the protocol it meters: which
// messages it must see, what to do with them, and how to end. One implementation per
// `websocket.format` (OpenAI Realtime, Gemini Live); the relay itself knows only WebSocket.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "budget/enforcer.hpp"

namespace proxy {

enum class Side { client, upstream };

// What the relay does with a data message, decided from its first bytes.
enum class Interest {
  undecided,  // show me more of it
  pass,       // forward it as it arrives; on_passed gets its size
  observe,    // forward it as it arrives; on_message gets it whole
  hold,       // forward nothing until on_message (given it whole) says forward
};

enum class Verdict {
  forward,  // (hold) send it on
  drop,     // (hold) tollgate answers it instead; it never reaches the other side
  wait,     // an admission is needed first: pending_admission(), then on_admission()
};

// What a meter asks for besides forwarding: text messages tollgate sends itself, and the end
// of the session (the client gets `to_client` first, then Close(code, reason)).
struct MeterActions {
  std::vector<std::string> to_client;
  std::vector<std::string> to_upstream;
  struct Close {
    std::uint16_t code = 1008;
    std::string reason;
  };
  std::optional<Close> close;
};

class RealtimeMeter {
 public:
  virtual ~RealtimeMeter() = default;

  // `prefix`: the message so far, unmasked; `complete`: it is all of it. Never undecided when
  // complete.
  virtual Interest interest(Side from, std::string_view prefix, bool complete) = 0;
  // A whole message the meter asked for (observe or hold).
  virtual Verdict on_message(Side from, std::string_view message, MeterActions& out) = 0;
  // A whole message it let pass, by size.
  virtual void on_passed(Side from, std::uint64_t bytes) = 0;

  // After on_message said wait: the admission to ask the enforcer for, then its answer, which
  // decides the message (forward or drop).
  virtual const budget::AdmitRequest& pending_admission(Side from) const = 0;
  virtual Verdict on_admission(Side from, budget::Admission admission, MeterActions& out) = 0;

  // The session is ending: ask the provider to stop what is in flight (and whatever starts from
  // now on); its usage is still read and settled.
  virtual void cancel_in_flight(MeterActions& out) = 0;
  // Work is in flight whose usage has not been read yet.
  virtual bool in_flight() const = 0;
  // No more usage will come: what is in flight is settled at its estimate (never under-count),
  // what never reached the provider is released. Nothing is held after it.
  virtual void finish() = 0;

  // An event of the enforcer (a threshold) about a budget this session spends from.
  virtual void on_budget_event(const budget::Event& event, MeterActions& out) = 0;
  // The message that tells the client why tollgate ends the session (an OpenAI `error` event
  // with this code), if the protocol has one.
  virtual std::optional<std::string> ending_message(std::string_view code,
                                                    std::string_view message) = 0;
};

}  // namespace proxy
