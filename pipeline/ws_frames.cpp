#include "pipeline/ws_frames.hpp"

#include <openssl/rand.h>

#include <algorithm>

namespace proxy::ws {
namespace {

bool known_opcode(std::uint8_t op) {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

FrameReader::FrameReader(bool masked, std::uint64_t max_message)
    : masked_(masked), max_message_(max_message) {}

std::uint16_t FrameReader::violation(std::uint16_t code, std::string what) {
  error_ = code;
  problem_ = std::move(what);
  return code;
}

std::uint16_t FrameReader::parse_head() {
  const auto b0 = static_cast<std::uint8_t>(head_buf_[0]);
  const auto b1 = static_cast<std::uint8_t>(head_buf_[1]);
  FrameHead h;
  h.fin = (b0 & 0x80) != 0;
  h.rsv = (b0 >> 4) & 0x7;
  h.opcode = static_cast<Opcode>(b0 & 0x0f);
  h.masked = (b1 & 0x80) != 0;
  std::uint64_t length = b1 & 0x7f;
  std::size_t at = 2;
  if (length == 126) {
    length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(head_buf_[2])) << 8) |
             static_cast<std::uint8_t>(head_buf_[3]);
    at = 4;
  } else if (length == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i)
      length = (length << 8) | static_cast<std::uint8_t>(head_buf_[i]);
    at = 10;
    if (length >> 63)
      return violation(k_close_protocol_error, "64-bit length with its top bit set");
  }
  h.length = length;
  if (h.masked)
    for (std::size_t i = 0; i < 4; ++i) h.key[i] = static_cast<std::uint8_t>(head_buf_[at + i]);

  // Nothing negotiated an extension (tollgate removes Sec-WebSocket-Extensions), so no RSV bit
  // may be set: a compressed frame could not be read.
  if (h.rsv != 0) return violation(k_close_protocol_error, "RSV bits set without an extension");
  if (!known_opcode(static_cast<std::uint8_t>(h.opcode)))
    return violation(k_close_protocol_error, "reserved opcode");
  if (h.masked != masked_)
    return violation(k_close_protocol_error,
                     masked_ ? "unmasked frame from a client" : "masked frame from a server");
  if (h.control()) {
    if (!h.fin) return violation(k_close_protocol_error, "fragmented control frame");
    if (h.length > 125) return violation(k_close_protocol_error, "control frame over 125 bytes");
  } else {
    if (h.opcode == Opcode::continuation && !message_open_)
      return violation(k_close_protocol_error, "continuation frame outside a message");
    if (h.opcode != Opcode::continuation && message_open_)
      return violation(k_close_protocol_error, "new message inside a fragmented message");
    const std::uint64_t before = h.opcode == Opcode::continuation ? message_bytes_ : 0;
    if (h.length > max_message_ || before > max_message_ - h.length)
      return violation(k_close_too_big,
                       "message larger than " + std::to_string(max_message_) + " bytes");
    message_bytes_ = before + h.length;
    message_open_ = !h.fin;
  }
  head_ = h;
  return 0;
}

FrameReader::Result FrameReader::feed(std::string_view bytes, FrameSink& sink) {
  Result result;
  if (error_) {
    result.error = error_;
    return result;
  }
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (state_ == State::head) {
      // The header size is known from its second byte: 2, plus 2 or 8 for a long length, plus 4
      // for a mask.
      while (head_fill_ < head_size_ && at < bytes.size()) {
        head_buf_[head_fill_++] = bytes[at++];
        if (head_fill_ == 2) {
          const auto b1 = static_cast<std::uint8_t>(head_buf_[1]);
          const std::uint8_t len7 = b1 & 0x7f;
          head_size_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((b1 & 0x80) ? 4 : 0);
        }
      }
      if (head_fill_ < head_size_) break;
      if (parse_head() != 0) {
        result.consumed = at;
        result.error = error_;
        return result;
      }
      sink.on_head(head_, std::string_view(head_buf_.data(), head_size_));
      head_fill_ = 0;
      head_size_ = 2;
      payload_done_ = 0;
      state_ = State::payload;
      if (head_.length == 0) {
        state_ = State::head;
        if (!sink.on_end(head_)) break;
      }
      continue;
    }
    const std::size_t take = static_cast<std::size_t>(
        std::min<std::uint64_t>(head_.length - payload_done_, bytes.size() - at));
    const std::string_view raw = bytes.substr(at, take);
    if (head_.masked) {
      plain_.resize(take);
      for (std::size_t i = 0; i < take; ++i)
        plain_[i] = static_cast<char>(raw[i] ^ head_.key[(payload_done_ + i) & 3]);
      sink.on_payload(head_, raw, plain_);
    } else {
      sink.on_payload(head_, raw, raw);
    }
    at += take;
    payload_done_ += take;
    if (payload_done_ == head_.length) {
      state_ = State::head;
      if (!sink.on_end(head_)) break;
    }
  }
  result.consumed = at;
  return result;
}

std::string encode_frame(Opcode opcode, std::string_view payload,
                         const std::optional<MaskKey>& mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode));
  const std::uint8_t mask_bit = mask ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(mask_bit | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  }
  if (!mask) {
    out.append(payload);
    return out;
  }
  for (const auto b : *mask) out += static_cast<char>(b);
  for (std::size_t i = 0; i < payload.size(); ++i)
    out += static_cast<char>(payload[i] ^ (*mask)[i & 3]);
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  if (reason.size() > k_max_close_reason) {
    std::size_t cut = k_max_close_reason;
    // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
    while (cut > 0 && (static_cast<std::uint8_t>(reason[cut]) & 0xc0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string out;
  out += static_cast<char>(code >> 8);
  out += static_cast<char>(code & 0xff);
  out.append(reason);
  return out;
}

std::uint16_t close_code(std::string_view payload) {
  if (payload.size() < 2) return 1005;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                    static_cast<std::uint8_t>(payload[1]));
}

MaskKey random_mask() {
  MaskKey key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) key = {0x5a, 0x3c, 0xa5, 0xc3};
  return key;
}

}  // namespace proxy::ws
