#pragma once
// RFC 6455 framing for a relay that observes a WebSocket rather than ending it: FrameReader parses
// one direction's bytes incrementally (split anywhere across reads) and hands each frame's header
// and payload pieces on in stream order, unmasked, checking what an intermediary must (masking
// per direction, no extension bits, short and whole control frames, fragmentation order, a
// message size cap). encode_frame builds the few frames tollgate sends itself. Pure bytes.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proxy::ws {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// Close codes (RFC 6455 §7.4.1) tollgate sends.
inline constexpr std::uint16_t k_close_normal = 1000;
inline constexpr std::uint16_t k_close_going_away = 1001;
inline constexpr std::uint16_t k_close_protocol_error = 1002;
inline constexpr std::uint16_t k_close_policy = 1008;  // SDKs do not reconnect on it
inline constexpr std::uint16_t k_close_too_big = 1009;

// A Close frame's reason: at most 123 bytes (125 minus the code).
inline constexpr std::size_t k_max_close_reason = 123;

using MaskKey = std::array<std::uint8_t, 4>;

struct FrameHead {
  bool fin = true;
  std::uint8_t rsv = 0;  // RSV1..RSV3, low three bits
  Opcode opcode = Opcode::text;
  bool masked = false;
  MaskKey key{};
  std::uint64_t length = 0;

  bool control() const { return (static_cast<std::uint8_t>(opcode) & 0x8) != 0; }
  // The first frame of a text or binary message (its later fragments are continuations).
  bool starts_message() const { return opcode == Opcode::text || opcode == Opcode::binary; }
};

// Receives what FrameReader reads, in stream order. `raw` views are the bytes as they came
// (masked when the frame is); they are valid only during the call.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // A frame begins; `raw` is its whole header (2 to 14 bytes).
  virtual void on_head(const FrameHead& head, std::string_view raw) = 0;
  // A piece of its payload: as it came, and unmasked (the same bytes for an unmasked frame).
  virtual void on_payload(const FrameHead& head, std::string_view raw, std::string_view plain) = 0;
  // The frame is complete (also for an empty payload). false: stop reading after this frame
  // (feed returns what it consumed so far; the rest is fed again later).
  virtual bool on_end(const FrameHead& head) = 0;
};

class FrameReader {
 public:
  // `masked`: frames must be masked (client to server) or must not be (server to client).
  // `max_message`: the largest data message, all its fragments together (1009 past it).
  FrameReader(bool masked, std::uint64_t max_message);

  struct Result {
    std::size_t consumed = 0;
    std::uint16_t error = 0;  // 0, or the close code of the first violation (1002 | 1009)
  };
  // Reads `bytes` into `sink` until they end or the sink stops. After a violation it reads
  // nothing more: the frame that violates is not handed on at all.
  Result feed(std::string_view bytes, FrameSink& sink);

  // What the violation was, for logs ("" when none).
  const std::string& problem() const { return problem_; }
  // Inside a fragmented data message (its final frame not yet complete).
  bool in_message() const { return message_open_; }
  // Inside a frame (its header begun, its payload not complete).
  bool in_frame() const { return state_ != State::head || head_fill_ > 0; }

 private:
  enum class State { head, payload };
  std::uint16_t violation(std::uint16_t code, std::string what);
  std::uint16_t parse_head();  // head_ from head_buf_; 0 or a close code

  const bool masked_;
  const std::uint64_t max_message_;
  State state_ = State::head;
  std::array<char, 14> head_buf_{};
  std::size_t head_fill_ = 0;
  std::size_t head_size_ = 2;  // known once the second byte is in
  FrameHead head_;
  std::uint64_t payload_done_ = 0;
  bool message_open_ = false;
  std::uint64_t message_bytes_ = 0;
  std::uint16_t error_ = 0;
  std::string problem_;
  std::string plain_;  // scratch for unmasking
};

// One whole frame (FIN set). With `mask`, masked with it (a frame to a server); else unmasked (a
// frame to a client).
std::string encode_frame(Opcode opcode, std::string_view payload,
                         const std::optional<MaskKey>& mask = std::nullopt);

// A Close frame's payload: the code, then `reason` cut to k_max_close_reason bytes, never inside a
// UTF-8 sequence.
std::string close_payload(std::uint16_t code, std::string_view reason);

// The code of a Close payload (1005, "no status", when it has none).
std::uint16_t close_code(std::string_view payload);

// A masking key from the system's CSPRNG (RFC 6455 §5.3 wants it unpredictable).
MaskKey random_mask();

}  // namespace proxy::ws
