// RFC 6455 framing as the realtime relay reads it: any split of the bytes across reads gives the
// same frames, fragmented messages with control frames between their fragments, the message size
// cap (1009) and the protocol violations an intermediary must refuse (1002).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pipeline/ws_frames.hpp"

namespace {

using proxy::ws::encode_frame;
using proxy::ws::FrameHead;
using proxy::ws::FrameReader;
using proxy::ws::MaskKey;
using proxy::ws::Opcode;

// Every frame as "opcode/fin/length:payload", and the raw bytes handed on, in order.
struct Recorder : proxy::ws::FrameSink {
  std::vector<std::string> frames;
  std::string raw;
  std::string current;

  void on_head(const FrameHead&, std::string_view bytes) override {
    raw.append(bytes);
    current.clear();
  }
  void on_payload(const FrameHead&, std::string_view bytes, std::string_view plain) override {
    raw.append(bytes);
    current.append(plain);
  }
  bool on_end(const FrameHead& h) override {
    frames.push_back(std::to_string(static_cast<int>(h.opcode)) + "/" + (h.fin ? "1" : "0") + "/" +
                     std::to_string(h.length) + ":" + current);
    return true;
  }
};

// A frame with FIN clear (a fragment), built by hand.
std::string fragment(Opcode opcode, std::string_view payload, const MaskKey* mask) {
  std::string frame = encode_frame(opcode, payload, mask ? std::optional(*mask) : std::nullopt);
  frame[0] = static_cast<char>(frame[0] & 0x7f);
  return frame;
}

const MaskKey k_key{0x12, 0x34, 0x56, 0x78};

// A client's stream: a short text, a 16-bit-length binary, a text in three fragments with a ping
// between the first two, a 64-bit-length text, and a Close.
std::string client_stream() {
  std::string s;
  s += encode_frame(Opcode::text, R"({"type":"session.update"})", k_key);
  s += encode_frame(Opcode::binary, std::string(300, 'b'), k_key);
  s += fragment(Opcode::text, R"({"type":"resp)", &k_key);
  s += encode_frame(Opcode::ping, "are you there", k_key);
  s += fragment(Opcode::continuation, R"(onse.cre)", &k_key);
  s += encode_frame(Opcode::continuation, R"(ate"})", k_key);
  s += encode_frame(Opcode::text, std::string(70000, 'x'), k_key);
  s += encode_frame(Opcode::close, proxy::ws::close_payload(1000, "bye"), k_key);
  return s;
}

Recorder read_all(std::string_view bytes, const std::vector<std::size_t>& cuts) {
  FrameReader reader(true, 1u << 20);
  Recorder r;
  std::size_t at = 0;
  for (std::size_t cut : cuts) {
    const auto result = reader.feed(bytes.substr(at, cut - at), r);
    REQUIRE(result.error == 0);
    REQUIRE(result.consumed == cut - at);
    at = cut;
  }
  const auto result = reader.feed(bytes.substr(at), r);
  REQUIRE(result.error == 0);
  return r;
}

}  // namespace

TEST_CASE("FrameReader, frames split at every byte boundary read the same") {
  const std::string stream = client_stream();
  const Recorder whole = read_all(stream, {});
  REQUIRE(whole.frames.size() == 8);
  CHECK(whole.frames[0] == R"(1/1/25:{"type":"session.update"})");
  CHECK(whole.frames[1] == "2/1/300:" + std::string(300, 'b'));
  CHECK(whole.frames[2] == R"(1/0/13:{"type":"resp)");
  CHECK(whole.frames[3] == "9/1/13:are you there");
  CHECK(whole.frames[4] == "0/0/8:onse.cre");
  CHECK(whole.frames[5] == R"(0/1/5:ate"})");
  CHECK(whole.frames[6] == "1/1/70000:" + std::string(70000, 'x'));
  CHECK(whole.raw == stream);  // the raw bytes handed on are the bytes read, unchanged

  SUBCASE("one cut anywhere") {
    for (std::size_t cut = 1; cut < stream.size(); cut += (cut < 400 ? 1 : 997)) {
      const Recorder split = read_all(stream, {cut});
      REQUIRE(split.frames == whole.frames);
      REQUIRE(split.raw == stream);
    }
  }
  SUBCASE("one byte at a time") {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
    const Recorder bytewise = read_all(stream, cuts);
    CHECK(bytewise.frames == whole.frames);
    CHECK(bytewise.raw == stream);
  }
}

TEST_CASE("FrameReader, a fragmented message with a ping between its fragments") {
  FrameReader reader(false, 1024);
  Recorder r;
  std::string s = fragment(Opcode::text, "a", nullptr);
  s += encode_frame(Opcode::ping, "");
  s += fragment(Opcode::continuation, "b", nullptr);
  s += encode_frame(Opcode::pong, "p");
  s += encode_frame(Opcode::continuation, "c");
  const auto result = reader.feed(s, r);
  CHECK(result.error == 0);
  CHECK(r.frames ==
        std::vector<std::string>{"1/0/1:a", "9/1/0:", "0/0/1:b", "10/1/1:p", "0/1/1:c"});
  CHECK_FALSE(reader.in_message());
  CHECK_FALSE(reader.in_frame());

  SUBCASE("in_message holds between the fragments") {
    FrameReader partial(false, 1024);
    Recorder r2;
    const auto first = fragment(Opcode::text, "a", nullptr);
    partial.feed(first, r2);
    CHECK(partial.in_message());
    CHECK_FALSE(partial.in_frame());
  }
}

TEST_CASE("FrameReader, the message size cap is 1009, before any of the frame is handed on") {
  SUBCASE("one frame past the cap") {
    FrameReader reader(true, 100);
    Recorder r;
    const auto result = reader.feed(encode_frame(Opcode::text, std::string(101, 'x'), k_key), r);
    CHECK(result.error == proxy::ws::k_close_too_big);
    CHECK(r.raw.empty());
    CHECK(reader.problem() == "message larger than 100 bytes");
  }
  SUBCASE("fragments that add up past it") {
    FrameReader reader(true, 100);
    Recorder r;
    std::string s = fragment(Opcode::binary, std::string(60, 'x'), &k_key);
    const auto fine = s.size();
    s += encode_frame(Opcode::continuation, std::string(41, 'y'), k_key);
    const auto result = reader.feed(s, r);
    CHECK(result.error == proxy::ws::k_close_too_big);
    CHECK(r.raw.size() == fine);  // the first fragment went on, the second did not
  }
  SUBCASE("exactly the cap is fine") {
    FrameReader reader(true, 100);
    Recorder r;
    CHECK(reader.feed(encode_frame(Opcode::text, std::string(100, 'x'), k_key), r).error == 0);
  }
  SUBCASE("nothing is read after a violation") {
    FrameReader reader(true, 100);
    Recorder r;
    reader.feed(encode_frame(Opcode::text, std::string(101, 'x'), k_key), r);
    CHECK(reader.feed(encode_frame(Opcode::text, "ok", k_key), r).error ==
          proxy::ws::k_close_too_big);
    CHECK(r.frames.empty());
  }
}

TEST_CASE("FrameReader, protocol violations are 1002") {
  const auto problem = [](bool masked, const std::string& bytes) {
    FrameReader reader(masked, 1 << 20);
    Recorder r;
    const auto result = reader.feed(bytes, r);
    CHECK(result.error == proxy::ws::k_close_protocol_error);
    return reader.problem();
  };
  SUBCASE("an unmasked frame from a client") {
    CHECK(problem(true, encode_frame(Opcode::text, "x")) == "unmasked frame from a client");
  }
  SUBCASE("a masked frame from a server") {
    CHECK(problem(false, encode_frame(Opcode::text, "x", k_key)) == "masked frame from a server");
  }
  SUBCASE("a compressed frame (RSV1) with no extension agreed") {
    std::string frame = encode_frame(Opcode::text, "x");
    frame[0] = static_cast<char>(frame[0] | 0x40);
    CHECK(problem(false, frame) == "RSV bits set without an extension");
  }
  SUBCASE("a reserved opcode") {
    std::string frame = encode_frame(Opcode::text, "x");
    frame[0] = static_cast<char>(0x83);
    CHECK(problem(false, frame) == "reserved opcode");
  }
  SUBCASE("a continuation with no message open") {
    CHECK(problem(false, encode_frame(Opcode::continuation, "x")) ==
          "continuation frame outside a message");
  }
  SUBCASE("a new message inside a fragmented one") {
    CHECK(problem(false, fragment(Opcode::text, "a", nullptr) + encode_frame(Opcode::text, "b")) ==
          "new message inside a fragmented message");
  }
  SUBCASE("a fragmented control frame") {
    CHECK(problem(false, fragment(Opcode::ping, "a", nullptr)) == "fragmented control frame");
  }
  SUBCASE("a control frame over 125 bytes") {
    CHECK(problem(false, encode_frame(Opcode::ping, std::string(126, 'p'))) ==
          "control frame over 125 bytes");
  }
}

TEST_CASE("encode_frame, close_payload") {
  SUBCASE("masked frames unmask to their payload in all three length forms") {
    for (std::size_t n : {0, 125, 126, 65535, 65536}) {
      const std::string payload(n, 'q');
      FrameReader reader(true, 1 << 20);
      Recorder r;
      REQUIRE(reader.feed(encode_frame(Opcode::binary, payload, k_key), r).error == 0);
      REQUIRE(r.frames.size() == 1);
      CHECK(r.frames[0] == "2/1/" + std::to_string(n) + ":" + payload);
    }
  }
  SUBCASE("a frame to a client is unmasked") {
    const auto frame = encode_frame(Opcode::text, "hi");
    CHECK(frame == std::string("\x81\x02hi", 4));
  }
  SUBCASE("a close reason is cut to 123 bytes, never inside a UTF-8 character") {
    std::string reason(122, 'r');
    reason += "\xc3\xa9";  // é straddles byte 123
    const auto payload = proxy::ws::close_payload(1008, reason);
    CHECK(payload.size() == 2 + 122);
    CHECK(proxy::ws::close_code(payload) == 1008);
    CHECK(proxy::ws::close_payload(1000, std::string(200, 'x')).size() == 125);
    CHECK(proxy::ws::close_code("") == 1005);
  }
}
