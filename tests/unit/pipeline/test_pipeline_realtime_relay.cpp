// RealtimeRelay, the WebSocket mechanics of a metered session, driven with frames and a scripted
// meter: bytes go on unchanged however reads split them; a held message waits for its verdict and
// an admission stops reading at its end; tollgate's own messages and Close frames go in only at
// message boundaries; closes, drains, size caps and vanished peers end the session as DESIGN §12
// says. No sockets.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pipeline/realtime_relay.hpp"

namespace {

using proxy::Interest;
using proxy::MeterActions;
using proxy::RealtimeRelay;
using proxy::Side;
using proxy::Verdict;
namespace ws = proxy::ws;

const ws::MaskKey k_key{1, 2, 3, 4};

// Client messages starting with HOLD are held and forwarded, DROP held and dropped (with an
// error and a 1008 Close), WAIT held until an admission says; upstream messages starting with
// OBS are observed. Everything else passes.
struct ScriptedMeter final : proxy::RealtimeMeter {
  bool work_in_flight = false;
  int cancels = 0, finishes = 0;
  std::vector<std::string> observed;
  std::vector<std::uint64_t> passed;
  budget::AdmitRequest request;

  Interest interest(Side from, std::string_view prefix, bool complete) override {
    if (prefix.size() < 4 && !complete) return Interest::undecided;
    const auto head = prefix.substr(0, 4);
    if (from == Side::client)
      return head == "HOLD" || head == "DROP" || head == "WAIT" ? Interest::hold : Interest::pass;
    return head == "OBS:" ? Interest::observe : Interest::pass;
  }
  Verdict on_message(Side, std::string_view message, MeterActions& out) override {
    observed.emplace_back(message);
    if (message.starts_with("DROP")) {
      out.to_client.push_back("refused");
      out.close = MeterActions::Close{ws::k_close_policy, "tollgate: no"};
      return Verdict::drop;
    }
    if (message.starts_with("WAIT")) return Verdict::wait;
    if (message == "OBS:done") work_in_flight = false;
    return Verdict::forward;
  }
  void on_passed(Side, std::uint64_t bytes) override { passed.push_back(bytes); }
  const budget::AdmitRequest& pending_admission(Side) const override { return request; }
  Verdict on_admission(Side, budget::Admission a, MeterActions&) override {
    return a.admitted ? Verdict::forward : Verdict::drop;
  }
  void cancel_in_flight(MeterActions& out) override {
    ++cancels;
    out.to_upstream.push_back("cancel");
  }
  bool in_flight() const override { return work_in_flight; }
  void finish() override {
    ++finishes;
    work_in_flight = false;
  }
  void on_budget_event(const budget::Event&, MeterActions& out) override {
    out.to_client.push_back("warning");
  }
  std::optional<std::string> ending_message(std::string_view code, std::string_view) override {
    return "ending:" + std::string(code);
  }
};

struct Frame {
  ws::Opcode opcode;
  std::string payload;
  bool masked;
  friend bool operator==(const Frame&, const Frame&) = default;
};

// Decodes a whole output stream into frames (masked ones unmasked).
struct Decoder : ws::FrameSink {
  std::vector<Frame> frames;
  std::string payload;
  void on_head(const ws::FrameHead&, std::string_view) override { payload.clear(); }
  void on_payload(const ws::FrameHead&, std::string_view, std::string_view plain) override {
    payload.append(plain);
  }
  bool on_end(const ws::FrameHead& h) override {
    frames.push_back({h.opcode, payload, h.masked});
    return true;
  }
};

std::vector<Frame> frames_of(const std::string& bytes, bool masked) {
  ws::FrameReader reader(masked, 1 << 20);
  Decoder d;
  const auto result = reader.feed(bytes, d);
  REQUIRE(result.error == 0);
  return d.frames;
}

std::string from_client(ws::Opcode op, std::string_view payload) {
  return ws::encode_frame(op, payload, k_key);
}
std::string from_server(ws::Opcode op, std::string_view payload) {
  return ws::encode_frame(op, payload);
}
std::string fragment(std::string frame) {
  frame[0] = static_cast<char>(frame[0] & 0x7f);
  return frame;
}

struct Session {
  ScriptedMeter* meter;
  RealtimeRelay relay;
  Session(RealtimeRelay::Limits limits = {})
      : meter(new ScriptedMeter),
        relay(std::unique_ptr<proxy::RealtimeMeter>(meter), enforcer(), limits) {}
  // The relay asks the enforcer only through admit(), which these tests do not call.
  static budget::Enforcer& enforcer() {
    static const auto unused = [] {
      auto config = std::make_shared<rules::Config>();
      config->store.type = rules::StoreConfig::Type::memory;
      return budget::make_enforcer(config);
    }();
    return *unused;
  }
};

}  // namespace

TEST_CASE("RealtimeRelay, what passes goes on byte for byte, however the reads split") {
  std::string stream;
  stream += from_client(ws::Opcode::text, R"({"type":"input_audio_buffer.append","audio":"AAAA"})");
  stream += fragment(from_client(ws::Opcode::binary, "part one "));
  stream += from_client(ws::Opcode::ping, "hi");
  stream += from_client(ws::Opcode::continuation, "part two");
  stream += from_client(ws::Opcode::text, std::string(5000, 'z'));
  for (std::size_t cut = 1; cut < stream.size(); cut += (cut < 200 ? 1 : 611)) {
    Session s;
    CHECK(s.relay.feed(Side::client, std::string_view(stream).substr(0, cut)) == cut);
    CHECK(s.relay.feed(Side::client, std::string_view(stream).substr(cut)) == stream.size() - cut);
    REQUIRE(s.relay.take(Side::upstream) == stream);
    CHECK(s.relay.take(Side::client).empty());
    CHECK(s.meter->passed == std::vector<std::uint64_t>{51, 17, 5000});
  }
}

TEST_CASE(
    "RealtimeRelay, a dropped message never goes on; the client's error waits for a boundary") {
  Session s;
  // The provider is in the middle of a fragmented message to the client.
  const std::string first = fragment(from_server(ws::Opcode::text, "audio part 1, "));
  s.relay.feed(Side::upstream, first);
  CHECK(s.relay.take(Side::client) == first);
  const std::string before = from_client(ws::Opcode::text, "HOLD me");
  const std::string dropped = from_client(ws::Opcode::text, "DROP me");
  s.relay.feed(Side::client, before + dropped);
  // The held one went on, the dropped one did not; the provider is told the session ends.
  const auto up = frames_of(s.relay.take(Side::upstream), true);
  REQUIRE(up.size() == 2);
  CHECK(up[0] == Frame{ws::Opcode::text, "HOLD me", true});
  CHECK(up[1].opcode == ws::Opcode::close);
  CHECK(ws::close_code(up[1].payload) == ws::k_close_policy);
  // Nothing for the client yet: a data frame may not split the provider's message.
  CHECK(s.relay.take(Side::client).empty());
  const std::string last = from_server(ws::Opcode::continuation, "part 2");
  s.relay.feed(Side::upstream, last);
  const auto down = frames_of(first + s.relay.take(Side::client), false);
  REQUIRE(down.size() == 4);
  CHECK(down[1] == Frame{ws::Opcode::continuation, "part 2", false});
  CHECK(down[2] == Frame{ws::Opcode::text, "refused", false});
  CHECK(down[3].opcode == ws::Opcode::close);
  CHECK(down[3].payload == ws::close_payload(1008, "tollgate: no"));
  CHECK(s.relay.end_reason() == "tollgate: no");

  SUBCASE("after its Close, nothing more goes to the client; the client's answer ends it") {
    s.relay.feed(Side::upstream, from_server(ws::Opcode::text, "late"));
    CHECK(s.relay.take(Side::client).empty());
    s.relay.feed(Side::upstream, from_server(ws::Opcode::close, ws::close_payload(1008, "")));
    s.relay.feed(Side::client, from_client(ws::Opcode::close, ws::close_payload(1008, "")));
    CHECK(s.relay.take(Side::upstream).empty());  // tollgate's own Close went already
    CHECK(s.relay.closing());
    CHECK(s.relay.finished());
  }
}

TEST_CASE("RealtimeRelay, an admission stops reading at the end of the message that waits") {
  Session s;
  const std::string waiting = from_client(ws::Opcode::text, "WAIT for it");
  const std::string next = from_client(ws::Opcode::text, "after");
  CHECK(s.relay.feed(Side::client, waiting + next) == waiting.size());
  CHECK(s.relay.waiting(Side::client));
  CHECK(s.relay.feed(Side::client, next) == 0);
  CHECK(s.relay.take(Side::upstream).empty());
  SUBCASE("admitted: it goes on, then what followed it") {
    s.relay.admitted(Side::client, budget::Admission{});
    CHECK_FALSE(s.relay.waiting(Side::client));
    CHECK(s.relay.feed(Side::client, next) == next.size());
    CHECK(s.relay.take(Side::upstream) == waiting + next);
  }
  SUBCASE("refused: it never goes on") {
    budget::Admission refused;
    refused.admitted = false;
    s.relay.admitted(Side::client, refused);
    s.relay.feed(Side::client, next);
    CHECK(s.relay.take(Side::upstream) == next);
  }
}

TEST_CASE("RealtimeRelay, a client that closes while a response is in flight") {
  Session s;
  s.meter->work_in_flight = true;
  const std::string close = from_client(ws::Opcode::close, ws::close_payload(1000, "bye"));
  s.relay.feed(Side::client, close);
  CHECK(s.relay.draining());
  CHECK(s.meter->cancels == 1);
  // The provider is asked to stop, not yet closed: the usage of what it did must come first.
  const auto up = frames_of(s.relay.take(Side::upstream), true);
  REQUIRE(up.size() == 1);
  CHECK(up[0] == Frame{ws::Opcode::text, "cancel", true});
  s.relay.feed(Side::upstream, from_server(ws::Opcode::text, "OBS:delta"));
  CHECK(s.relay.draining());
  s.relay.feed(Side::upstream, from_server(ws::Opcode::text, "OBS:done"));
  CHECK_FALSE(s.relay.draining());
  CHECK(s.relay.take(Side::upstream) == close);  // the client's own Close, as it sent it
  SUBCASE("the bound passes before the usage came") {
    Session t;
    t.meter->work_in_flight = true;
    t.relay.feed(Side::client, close);
    t.relay.drain_expired();
    CHECK(t.meter->finishes == 1);  // settled at the estimate
    CHECK_FALSE(t.relay.draining());
    CHECK(t.relay.take(Side::upstream).ends_with(close));
  }
}

TEST_CASE("RealtimeRelay, a client that vanishes mid-response") {
  Session s;
  s.meter->work_in_flight = true;
  s.relay.gone(Side::client);
  CHECK(s.relay.draining());
  s.relay.take(Side::upstream);
  s.relay.feed(Side::upstream, from_server(ws::Opcode::text, "OBS:done"));
  const auto up = frames_of(s.relay.take(Side::upstream), true);
  REQUIRE(up.size() == 1);
  CHECK(up[0].opcode == ws::Opcode::close);
  CHECK(ws::close_code(up[0].payload) == ws::k_close_going_away);
  CHECK(s.relay.closing());
  s.relay.feed(Side::upstream, from_server(ws::Opcode::close, ws::close_payload(1001, "")));
  CHECK(s.relay.finished());
}

TEST_CASE("RealtimeRelay, a message past the size cap closes both sides with 1009") {
  RealtimeRelay::Limits limits;
  limits.max_message = 1024;
  Session t(limits);
  t.relay.feed(Side::client, from_client(ws::Opcode::text, std::string(1025, 'a')));
  const auto up = frames_of(t.relay.take(Side::upstream), true);
  REQUIRE(up.size() == 1);  // nothing of the message, only the Close
  CHECK(ws::close_code(up[0].payload) == ws::k_close_too_big);
  const auto down = frames_of(t.relay.take(Side::client), false);
  REQUIRE(down.size() == 1);
  CHECK(ws::close_code(down[0].payload) == ws::k_close_too_big);
  CHECK(t.relay.reading_done(Side::client));
}

TEST_CASE("RealtimeRelay, the provider's Close goes to the client and nothing is held after it") {
  Session s;
  s.meter->work_in_flight = true;
  const std::string close = from_server(ws::Opcode::close, ws::close_payload(4000, "beta"));
  s.relay.feed(Side::upstream, close);
  CHECK(s.meter->finishes == 1);
  CHECK(s.relay.take(Side::client) == close);
  CHECK(s.relay.reading_done(Side::upstream));
  const std::string answer = from_client(ws::Opcode::close, ws::close_payload(4000, ""));
  s.relay.feed(Side::client, answer);
  CHECK(s.relay.take(Side::upstream) == answer);
  CHECK(s.relay.finished());
}

TEST_CASE("RealtimeRelay, tollgate ends the session: the meter's message, then Close") {
  Session s;
  s.relay.end(ws::k_close_policy, "tollgate: max_duration", "session_expired");
  const auto down = frames_of(s.relay.take(Side::client), false);
  REQUIRE(down.size() == 2);
  CHECK(down[0].payload == "ending:session_expired");
  CHECK(ws::close_code(down[1].payload) == ws::k_close_policy);
  SUBCASE("with a response in flight: cancelled, its usage read, then the client told") {
    Session t;
    t.meter->work_in_flight = true;
    t.relay.end(ws::k_close_policy, "tollgate: max_duration", "session_expired");
    CHECK(t.relay.draining());
    CHECK(t.relay.take(Side::client).empty());
    const std::string done = from_server(ws::Opcode::text, "OBS:done");
    t.relay.feed(Side::upstream, done);
    const auto told = frames_of(t.relay.take(Side::client), false);
    REQUIRE(told.size() == 3);
    CHECK(told[0].payload == "OBS:done");
    CHECK(told[1].payload == "ending:session_expired");
    CHECK(told[2].opcode == ws::Opcode::close);
    const auto up = frames_of(t.relay.take(Side::upstream), true);
    REQUIRE(up.size() == 2);
    CHECK(up[0].payload == "cancel");
    CHECK(ws::close_code(up[1].payload) == ws::k_close_policy);
  }
  SUBCASE("a budget warning is a message at the next boundary") {
    Session t;
    t.relay.budget_event(budget::Event{});
    CHECK(frames_of(t.relay.take(Side::client), false) ==
          std::vector<Frame>{{ws::Opcode::text, "warning", false}});
  }
}
