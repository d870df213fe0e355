#include "pipeline/realtime_relay.hpp"

#include <utility>

namespace proxy {
namespace {

Side other(Side s) {
  return s == Side::client ? Side::upstream : Side::client;
}

}  // namespace

// One direction: the frames read from `from` and what becomes of the data message being read.
struct RealtimeRelay::Inbound final : ws::FrameSink {
  Inbound(RealtimeRelay& r, Side f, std::uint64_t max_message)
      : relay(r), from(f), to(other(f)), reader(f == Side::client, max_message) {}

  RealtimeRelay& relay;
  const Side from, to;
  ws::FrameReader reader;
  // The data message being read.
  Interest interest = Interest::pass;
  std::string held;   // its raw frames not forwarded yet (undecided, hold)
  std::string plain;  // its bytes unmasked (undecided, observe, hold)
  std::uint64_t size = 0;
  bool dropping = false;  // a client message begun after tollgate ended the session
  // The control frame being read (at most 125 bytes of payload).
  std::string control_raw, control_plain;
  bool waiting = false;  // the message waits for an admission
  bool done = false;     // nothing more is read from this side

  bool streaming() const { return interest == Interest::pass || interest == Interest::observe; }

  void on_head(const ws::FrameHead& h, std::string_view raw) override {
    if (h.control()) {
      control_raw.assign(raw);
      control_plain.clear();
      return;
    }
    if (h.starts_message()) {
      interest = Interest::undecided;
      held.clear();
      plain.clear();
      size = 0;
      dropping = from == Side::client && relay.ending_;
    }
    if (dropping) return;
    if (streaming())
      relay.forward(to, raw, false);
    else
      held.append(raw);
  }

  void on_payload(const ws::FrameHead& h, std::string_view raw,
                  std::string_view unmasked) override {
    if (h.control()) {
      control_raw.append(raw);
      control_plain.append(unmasked);
      return;
    }
    if (dropping) return;
    size += raw.size();
    if (interest != Interest::pass) plain.append(unmasked);
    if (streaming())
      relay.forward(to, raw, false);
    else
      held.append(raw);
    if (interest == Interest::undecided) decide(false);
  }

  bool on_end(const ws::FrameHead& h) override {
    if (h.control()) {
      relay.control_frame(from, h, control_raw, control_plain);
      return !done;
    }
    if (dropping) {
      if (h.fin) dropping = false;
      return true;
    }
    if (streaming()) {
      auto& o = relay.out(to);
      o.mid_frame = false;
      if (h.fin) o.mid_message = false;
    }
    if (!h.fin) {
      relay.flush_deferred(to);  // a control frame may go between fragments
      return true;
    }
    if (interest == Interest::undecided) decide(true);
    MeterActions actions;
    Verdict verdict = Verdict::forward;
    if (interest == Interest::pass)
      relay.meter_->on_passed(from, size);
    else
      verdict = relay.meter_->on_message(from, plain, actions);
    if (verdict == Verdict::wait) {
      waiting = true;
      relay.apply(actions);
      return false;
    }
    finish_message(verdict, actions);
    return !done;
  }

  // The message is decided: a held one goes on or not; what the meter asked for is done.
  void finish_message(Verdict verdict, MeterActions& actions) {
    if (interest == Interest::hold && verdict == Verdict::forward) relay.forward(to, held, true);
    held.clear();
    plain.clear();
    relay.flush_deferred(to);
    relay.apply(actions);
    if (from == Side::upstream) relay.after_upstream_message();
  }

  // Asks the meter what the message is, and lets what was held go once it streams.
  void decide(bool complete) {
    interest = relay.meter_->interest(from, plain, complete);
    if (complete && interest == Interest::undecided) interest = Interest::observe;
    if (!streaming()) return;
    relay.forward(to, held, complete);
    held.clear();
    if (interest == Interest::pass) std::string().swap(plain);
  }
};

RealtimeRelay::RealtimeRelay(std::unique_ptr<RealtimeMeter> meter, budget::Enforcer& enforcer,
                             Limits limits, RealtimeRegistry* registry,
                             RealtimeRegistry::Instances instances)
    : meter_(std::move(meter)),
      enforcer_(enforcer),
      limits_(limits),
      registry_(registry),
      instances_(std::move(instances)),
      client_(std::make_unique<Inbound>(*this, Side::client, limits.max_message)),
      upstream_(std::make_unique<Inbound>(*this, Side::upstream, limits.max_message)) {}

RealtimeRelay::~RealtimeRelay() {
  if (registration_) registry_->remove(registration_);
  meter_->finish();
}

void RealtimeRelay::listen(RealtimeRegistry::Deliver deliver) {
  if (!registry_ || instances_.empty() || registration_) return;
  registration_ = registry_->add(instances_, std::move(deliver));
}

std::size_t RealtimeRelay::feed(Side from, std::string_view bytes) {
  Inbound& in = side(from);
  if (in.waiting) return 0;
  if (in.done) return bytes.size();  // after its Close (or a violation) nothing more counts
  const auto result = in.reader.feed(bytes, in);
  if (result.error) {
    violation(from, result.error, in.reader.problem());
    return bytes.size();
  }
  return in.done ? bytes.size() : result.consumed;
}

bool RealtimeRelay::waiting(Side from) const {
  return side(from).waiting;
}

void RealtimeRelay::admit(Side from, std::function<void(budget::Admission)> done) {
  enforcer_.admit(meter_->pending_admission(from), std::move(done));
}

void RealtimeRelay::admitted(Side from, budget::Admission admission) {
  Inbound& in = side(from);
  if (!in.waiting) return;
  MeterActions actions;
  const Verdict verdict = meter_->on_admission(from, std::move(admission), actions);
  if (verdict == Verdict::wait) {  // another admission first (a refused response, reserved anyway)
    apply(actions);
    return;
  }
  in.waiting = false;
  in.finish_message(verdict, actions);
}

std::string RealtimeRelay::take(Side to) {
  return std::exchange(out(to).bytes, {});
}

void RealtimeRelay::forward(Side to, std::string_view raw, bool whole) {
  Outbound& o = out(to);
  if (o.close_sent || o.gone) return;
  o.bytes.append(raw);
  if (!whole) o.mid_frame = o.mid_message = true;
}

void RealtimeRelay::inject(Side to, std::string frame, Kind kind) {
  Outbound& o = out(to);
  if (o.close_queued || o.close_sent || o.gone) return;
  if (kind == Kind::close) o.close_queued = true;
  o.deferred.emplace_back(std::move(frame), kind);
  flush_deferred(to);
}

void RealtimeRelay::flush_deferred(Side to) {
  Outbound& o = out(to);
  while (!o.deferred.empty()) {
    auto& [frame, kind] = o.deferred.front();
    // A data frame may not split a fragmented message; no frame may split a frame.
    if (o.mid_frame || (kind == Kind::data && o.mid_message)) break;
    if (!o.close_sent && !o.gone) o.bytes += frame;
    if (kind == Kind::close) o.close_sent = true;
    o.deferred.pop_front();
  }
}

std::string RealtimeRelay::frame_for(Side to, ws::Opcode opcode, std::string_view payload) const {
  // RFC 6455 §5.1: frames to a server are masked, frames to a client are not.
  if (to == Side::upstream) return ws::encode_frame(opcode, payload, ws::random_mask());
  return ws::encode_frame(opcode, payload);
}

void RealtimeRelay::apply(MeterActions& actions) {
  for (auto& message : actions.to_upstream)
    inject(Side::upstream, frame_for(Side::upstream, ws::Opcode::text, message), Kind::data);
  if (actions.close) {
    begin_end(actions.close->code, std::move(actions.close->reason), std::move(actions.to_client),
              true);
  } else {
    for (auto& message : actions.to_client)
      inject(Side::client, frame_for(Side::client, ws::Opcode::text, message), Kind::data);
  }
  actions = {};
}

void RealtimeRelay::control_frame(Side from, const ws::FrameHead& head, std::string_view raw,
                                  std::string_view plain) {
  const Side to = other(from);
  if (head.opcode != ws::Opcode::close) {
    forward(to, raw, true);  // ping and pong go on as they are
    return;
  }
  out(from).peer_closed = true;
  side(from).done = true;  // RFC 6455 §5.5.1: nothing follows a Close
  if (from == Side::upstream) {
    // The provider ends the session: no usage comes after its Close.
    meter_->finish();
    draining_ = false;
    if (end_reason_.empty())
      end_reason_ = "provider closed (" + std::to_string(ws::close_code(plain)) + ")";
    tell_client();
    if (!to_client_.close_queued) inject(Side::client, std::string(raw), Kind::close);
    // Its Close is answered by the client's (forwarded when it comes, or held already), or by
    // tollgate's own when tollgate is ending the session.
    if (ending_ || to_client_.gone || !held_client_close_.empty()) close_upstream();
    return;
  }
  if (ending_) return;  // the client answers tollgate's Close: the provider gets tollgate's own
  if (end_reason_.empty())
    end_reason_ = "client closed (" + std::to_string(ws::close_code(plain)) + ")";
  if (to_upstream_.peer_closed) {
    inject(Side::upstream, std::string(raw), Kind::close);  // the answer to the provider's Close
    return;
  }
  held_client_close_ = std::string(raw);
  if (meter_->in_flight() && !to_upstream_.gone)
    start_draining();
  else
    close_upstream();
}

void RealtimeRelay::violation(Side from, std::uint16_t code, const std::string& problem) {
  side(from).done = true;
  if (from == Side::client) {
    begin_end(code, "tollgate: " + problem, {}, true);
    return;
  }
  // The provider's stream cannot be read on: nothing more of its usage can be known. The client
  // may reconnect (1001); the provider is told what it broke.
  meter_->finish();
  draining_ = false;
  tell_client();
  if (!ending_) {
    ending_ = true;
    end_reason_ = "provider broke the protocol: " + problem;
    inject(Side::client,
           frame_for(Side::client, ws::Opcode::close,
                     ws::close_payload(ws::k_close_going_away,
                                       "tollgate: the provider's stream broke: " + problem)),
           Kind::close);
  }
  upstream_close_code_ = code;
  upstream_close_reason_ = "tollgate: " + problem;
  close_upstream();
}

void RealtimeRelay::begin_end(std::uint16_t code, std::string reason,
                              std::vector<std::string> messages, bool drain) {
  if (ending_) return;  // the first reason stands
  ending_ = true;
  end_reason_ = reason;
  upstream_close_code_ = code;
  upstream_close_reason_ = reason;
  // The client hears why once what is in flight has ended (its response.done comes first).
  for (auto& message : messages)
    client_ending_.emplace_back(frame_for(Side::client, ws::Opcode::text, message), Kind::data);
  client_ending_.emplace_back(
      frame_for(Side::client, ws::Opcode::close, ws::close_payload(code, reason)), Kind::close);
  if (drain && meter_->in_flight() && !to_upstream_.gone && !to_upstream_.peer_closed) {
    start_draining();
    return;
  }
  if (!drain) meter_->finish();
  close_upstream();
}

void RealtimeRelay::tell_client() {
  for (auto& [frame, kind] : client_ending_) inject(Side::client, std::move(frame), kind);
  client_ending_.clear();
}

void RealtimeRelay::end(std::uint16_t code, std::string reason, std::string_view code_name) {
  std::vector<std::string> messages;
  if (!code_name.empty())
    if (auto message = meter_->ending_message(code_name, reason))
      messages.push_back(std::move(*message));
  begin_end(code, std::move(reason), std::move(messages), true);
}

void RealtimeRelay::gone(Side s) {
  out(s).gone = true;
  side(s).done = true;
  if (s == Side::upstream) {
    meter_->finish();
    draining_ = false;
    if (end_reason_.empty()) end_reason_ = "provider connection ended";
    tell_client();
    inject(Side::client,
           frame_for(Side::client, ws::Opcode::close,
                     ws::close_payload(ws::k_close_going_away,
                                       "tollgate: the provider's connection ended")),
           Kind::close);
    return;
  }
  if (end_reason_.empty()) end_reason_ = "client connection ended";
  if (ending_ && !draining_) return;  // already closing the provider's side
  ending_ = true;
  upstream_close_code_ = ws::k_close_going_away;
  upstream_close_reason_ = "client went away";
  if (!draining_ && meter_->in_flight() && !to_upstream_.gone && !to_upstream_.peer_closed)
    start_draining();
  else if (!draining_)
    close_upstream();
}

void RealtimeRelay::drain_expired() {
  if (!draining_) return;
  meter_->finish();
  draining_ = false;
  close_upstream();
}

void RealtimeRelay::budget_event(const budget::Event& event) {
  MeterActions actions;
  meter_->on_budget_event(event, actions);
  apply(actions);
}

void RealtimeRelay::start_draining() {
  draining_ = true;
  MeterActions actions;
  meter_->cancel_in_flight(actions);
  apply(actions);
  after_upstream_message();
}

void RealtimeRelay::after_upstream_message() {
  if (draining_ && !meter_->in_flight()) {
    draining_ = false;
    close_upstream();
  }
}

void RealtimeRelay::close_upstream() {
  tell_client();
  if (to_upstream_.close_queued || to_upstream_.close_sent || to_upstream_.gone) return;
  if (to_upstream_.peer_closed && held_client_close_.empty() && !ending_) return;
  std::string frame =
      held_client_close_.empty()
          ? frame_for(Side::upstream, ws::Opcode::close,
                      ws::close_payload(upstream_close_code_, upstream_close_reason_))
          : std::exchange(held_client_close_, {});
  inject(Side::upstream, std::move(frame), Kind::close);
}

bool RealtimeRelay::closing() const {
  const auto sent = [](const Outbound& o) { return o.close_sent || o.gone; };
  return sent(to_client_) && sent(to_upstream_);
}

bool RealtimeRelay::finished() const {
  const auto over = [](const Outbound& o) { return o.gone || (o.close_sent && o.peer_closed); };
  return over(to_client_) && over(to_upstream_);
}

bool RealtimeRelay::reading_done(Side s) const {
  return side(s).done;
}

}  // namespace proxy
