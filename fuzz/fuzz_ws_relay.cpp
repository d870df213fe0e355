// RealtimeRelay fed hostile bytes from both sides, split anywhere, with a meter that holds, drops,
// waits, cancels and ends at the input's whim, and the glue's events (a peer gone, max_duration,
// the drain bound, a budget warning) in between. Whatever comes in, what tollgate writes to each
// side must be a valid frame stream for that side (masked to the provider, unmasked to the client,
// control frames whole and short) with nothing after its Close.
//
// Input: chunks of [op][len][len bytes]; op bit 0 is the side, op bits 1-3 an event instead of
// bytes (1 gone, 2 end, 3 drain expired, 4 budget event).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pipeline/realtime_relay.hpp"

namespace {

using proxy::Interest;
using proxy::MeterActions;
using proxy::Side;
using proxy::Verdict;
namespace ws = proxy::ws;

struct WhimMeter final : proxy::RealtimeMeter {
  bool work = false;
  budget::AdmitRequest request;
  Interest interest(Side, std::string_view prefix, bool complete) override {
    if (prefix.empty()) return complete ? Interest::pass : Interest::undecided;
    switch (static_cast<unsigned char>(prefix[0]) % 4) {
      case 0:
        return Interest::pass;
      case 1:
        return Interest::observe;
      case 2:
        return Interest::hold;
      default:
        return complete || prefix.size() > 64 ? Interest::hold : Interest::undecided;
    }
  }
  Verdict on_message(Side from, std::string_view m, MeterActions& out) override {
    const char c = m.empty() ? 0 : m.back();
    if (c == 'F') work = true;
    if (c == 'f') work = false;
    if (c == 'I') out.to_client.push_back("{\"type\":\"injected\"}");
    if (c == 'U') out.to_upstream.push_back("{\"type\":\"response.cancel\"}");
    if (c == 'C') out.close = MeterActions::Close{1008, std::string(m.substr(0, 200))};
    if (c == 'W' && from == Side::client) return Verdict::wait;
    return c == 'D' ? Verdict::drop : Verdict::forward;
  }
  void on_passed(Side, std::uint64_t) override {}
  const budget::AdmitRequest& pending_admission(Side) const override { return request; }
  Verdict on_admission(Side, budget::Admission a, MeterActions& out) override {
    if (!a.admitted) out.close = MeterActions::Close{1008, "refused"};
    return a.admitted ? Verdict::forward : Verdict::drop;
  }
  void cancel_in_flight(MeterActions& out) override { out.to_upstream.push_back("cancel"); }
  bool in_flight() const override { return work; }
  void finish() override { work = false; }
  void on_budget_event(const budget::Event&, MeterActions& out) override {
    out.to_client.push_back("warning");
  }
  std::optional<std::string> ending_message(std::string_view, std::string_view) override {
    return "ending";
  }
};

// Checks that `bytes` (everything written to one side so far) is a valid frame stream.
struct Checker final : ws::FrameSink {
  explicit Checker(bool masked) : reader(masked, UINT64_MAX >> 1) {}
  ws::FrameReader reader;
  bool closed = false;
  void on_head(const ws::FrameHead& h, std::string_view) override {
    if (closed) std::abort();  // nothing may follow a Close
    if (h.opcode == ws::Opcode::close) closed = true;
  }
  void on_payload(const ws::FrameHead&, std::string_view, std::string_view) override {}
  bool on_end(const ws::FrameHead&) override { return true; }
  void feed(const std::string& bytes) {
    if (reader.feed(bytes, *this).error != 0) std::abort();
  }
};

// The target answers admissions itself: the relay never calls this enforcer.
struct NoEnforcer final : budget::Enforcer {
  void apply_config(std::shared_ptr<const rules::Config>) override {}
  void admit(const budget::AdmitRequest&, std::function<void(budget::Admission)>) override {}
  void settle(budget::HoldId, std::int64_t, std::function<void()>) override {}
  void release(budget::HoldId, std::function<void()>) override {}
  void observe_balance(const budget::BalanceObservation&) override {}
  void upstream_result(const std::string&, bool) override {}
  std::vector<budget::BudgetStanding> budgets() const override { return {}; }
  std::vector<budget::BalanceStanding> balances() const override { return {}; }
  bool reset(const std::string&, const std::string&, const std::string&) override { return false; }
  bool set_limit(const std::string&, std::int64_t, const std::string&) override { return false; }
  bool add_override(const budget::Override&, const std::string&) override { return false; }
  std::vector<budget::Event> events_since(std::uint64_t, std::size_t) const override { return {}; }
  void emit(budget::Event) override {}
  void on_event(std::function<void(const budget::Event&)>) override {}
  bool store_healthy() const override { return true; }
  void recover() override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  proxy::RealtimeRelay::Limits limits;
  limits.max_message = 4096;
  static NoEnforcer enforcer;
  proxy::RealtimeRelay relay(std::make_unique<WhimMeter>(), enforcer, limits);
  Checker to_client(false), to_upstream(true);
  std::size_t at = 0;
  unsigned admissions = 0;
  while (at + 2 <= size) {
    const std::uint8_t op = data[at];
    const std::size_t len = std::min<std::size_t>(data[at + 1], size - at - 2);
    const std::string_view bytes(reinterpret_cast<const char*>(data + at + 2), len);
    at += 2 + len;
    const Side side = (op & 1) ? Side::upstream : Side::client;
    switch ((op >> 1) & 7) {
      case 1:
        relay.gone(side);
        break;
      case 2:
        relay.end(1008, "max_duration", "session_expired");
        break;
      case 3:
        relay.drain_expired();
        break;
      case 4:
        relay.budget_event(budget::Event{});
        break;
      default: {
        std::string_view rest = bytes;
        while (!rest.empty()) {
          rest.remove_prefix(relay.feed(side, rest));
          while (relay.waiting(side)) {
            budget::Admission a;
            a.admitted = (++admissions % 3) != 0;
            relay.admitted(side, a);
          }
        }
      }
    }
    to_client.feed(relay.take(Side::client));
    to_upstream.feed(relay.take(Side::upstream));
  }
  return 0;
}
