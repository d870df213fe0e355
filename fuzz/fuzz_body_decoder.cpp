// The Content-Encoding decoder the usage readers see responses through: the first byte picks
// the encoding and the piece size, the rest is the body as the provider sent it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rules/body_decoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static constexpr std::string_view k_encodings[] = {"gzip", "deflate", "x-gzip", "identity"};
  const std::size_t piece = 1 + (data[0] >> 2) % 64;
  rules::BodyDecoder decoder(k_encodings[data[0] % 4]);
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string out;
  while (!in.empty() && !decoder.failed()) {
    const auto n = std::min(piece, in.size());
    decoder.feed(in.substr(0, n), out);
    in.remove_prefix(n);
    // The usage reader keeps a bounded body; a decompression bomb must not be held whole here.
    if (out.size() > (1u << 20)) out.clear();
  }
  return 0;
}
