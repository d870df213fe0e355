#pragma once
// A metered WebSocket session between a client and a provider, as bytes in and bytes out
// (DESIGN §12). The relay observes rather than re-frames: frames are forwarded as they arrive,
// byte for byte, while a copy of the messages the meter needs is read. It alters the stream only
// where tollgate must: a held message the meter drops (a refused response.create) never goes
// on, and tollgate's own messages and Close frames (unmasked to the client, masked to the
// provider) are put in at message boundaries. No Asio: the proxy's socket glue feeds it and
// writes what it gives back, and asks the enforcer when it waits for an admission.
//
// Ending. A Close from one side is forwarded to the other. While responses are in flight, a
// client that closes or vanishes, or tollgate ending the session (a refusal, max_duration),
// first cancels them and waits (draining) for their usage, which is settled; only then does the
// provider get its Close. No usage comes once the provider has gone: what is in flight is then
// settled at its estimate.

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/realtime_meter.hpp"
#include "pipeline/realtime_registry.hpp"
#include "pipeline/ws_frames.hpp"

namespace proxy {

class RealtimeRelay {
 public:
  struct Limits {
    std::uint64_t max_message = 16u << 20;  // the largest data message either side may send (1009)
    std::chrono::milliseconds max_duration{0};  // for the glue: end the session then (0: never)
  };
  // `registry`, `instances`: where listen() registers for the budget events of the instances
  // the session spends from (warn_client); none when null.
  RealtimeRelay(std::unique_ptr<RealtimeMeter> meter, budget::Enforcer& enforcer, Limits limits,
                RealtimeRegistry* registry = nullptr, RealtimeRegistry::Instances instances = {});
  ~RealtimeRelay();  // unregisters; settles what is left (RealtimeMeter::finish)

  const Limits& limits() const { return limits_; }
  // Registers `deliver` for the session's budget events (see RealtimeRegistry::Deliver); the
  // glue hands what it delivers to budget_event() on the session's own thread.
  void listen(RealtimeRegistry::Deliver deliver);

  // Bytes read from `from`. Reads them up to the end of a message that waits for an admission
  // (waiting(from) is then true) and returns how many it read; the rest is fed again once
  // admitted() has answered.
  std::size_t feed(Side from, std::string_view bytes);
  bool waiting(Side from) const;
  // Asks the enforcer for the admission waited for; `done` runs once, possibly on another
  // thread: the glue hands its answer to admitted() on the session's own thread.
  void admit(Side from, std::function<void(budget::Admission)> done);
  void admitted(Side from, budget::Admission admission);

  // The bytes to write to `to` now, in order.
  std::string take(Side to);

  // `side`'s connection ended without a Close frame (EOF, reset, a read error).
  void gone(Side side);
  // tollgate ends the session (max_duration, idle): the client is told why (`code_name` names
  // it in the protocol's error event), in-flight work is cancelled and settled first.
  void end(std::uint16_t code, std::string reason, std::string_view code_name = {});
  // The bound on draining passed: what is in flight is settled at its estimate, the provider
  // gets its Close.
  void drain_expired();
  void budget_event(const budget::Event& event);

  bool draining() const { return draining_; }
  // Both sides have been sent their Close (or are gone): the glue waits a moment for their
  // answers, then closes the connections.
  bool closing() const;
  // Both sides have closed too: nothing more will be read or written.
  bool finished() const;
  // Reading `side` is over (it sent its Close, vanished, or violated the protocol).
  bool reading_done(Side side) const;
  // What ended the session, for the log ("" while open).
  const std::string& end_reason() const { return end_reason_; }

  RealtimeMeter& meter() { return *meter_; }

 private:
  enum class Kind { data, control, close };
  struct Outbound {
    std::string bytes;
    bool mid_frame = false;                             // what went out so far ends inside a frame
    bool mid_message = false;                           // ... inside a fragmented data message
    std::deque<std::pair<std::string, Kind>> deferred;  // tollgate's frames, waiting for a boundary
    bool close_queued = false;  // tollgate's (or a forwarded) Close waits in `deferred`
    bool close_sent = false;    // a Close went to this side: nothing goes after it
    bool peer_closed = false;   // this side sent us its Close
    bool gone = false;          // its connection ended
  };
  struct Inbound;  // the frame sink of one direction (realtime_relay.cpp)

  Inbound& side(Side s) { return s == Side::client ? *client_ : *upstream_; }
  const Inbound& side(Side s) const { return s == Side::client ? *client_ : *upstream_; }
  Outbound& out(Side to) { return to == Side::client ? to_client_ : to_upstream_; }

  // Forwarded bytes: `whole` frames (a held message, a control frame), or a piece of the frame
  // being read (the stream to `to` is then inside a frame and a message until it ends).
  void forward(Side to, std::string_view raw, bool whole);
  // A whole frame of tollgate's own (or a held Close), at the next boundary that allows it.
  void inject(Side to, std::string frame, Kind kind);
  void flush_deferred(Side to);
  void apply(MeterActions& actions);
  void control_frame(Side from, const ws::FrameHead& head, std::string_view raw,
                     std::string_view plain);
  void violation(Side from, std::uint16_t code, const std::string& problem);
  // tollgate ends the session: the client gets `messages` and Close(code, reason); the provider
  // gets its Close once nothing is in flight (at once when `drain` is false or nothing is).
  void begin_end(std::uint16_t code, std::string reason, std::vector<std::string> messages,
                 bool drain);
  void start_draining();
  void tell_client();             // tollgate's ending messages and Close, once nothing is in flight
  void after_upstream_message();  // ends draining once nothing is in flight
  void close_upstream();
  std::string frame_for(Side to, ws::Opcode opcode, std::string_view payload) const;

  std::unique_ptr<RealtimeMeter> meter_;
  budget::Enforcer& enforcer_;
  Limits limits_;
  RealtimeRegistry* registry_;
  RealtimeRegistry::Instances instances_;
  std::uint64_t registration_ = 0;
  std::unique_ptr<Inbound> client_, upstream_;
  Outbound to_client_, to_upstream_;
  bool ending_ = false;    // tollgate decided to end the session
  bool draining_ = false;  // waiting for in-flight usage before closing the provider's side
  std::uint16_t upstream_close_code_ = ws::k_close_normal;
  std::string upstream_close_reason_;
  std::string held_client_close_;  // the client's Close, held while its responses drain
  std::vector<std::pair<std::string, Kind>> client_ending_;  // waits for the drain
  std::string end_reason_;
};

}  // namespace proxy
