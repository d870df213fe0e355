// The text/event-stream parser, fed the input whole and again in pieces the first byte chooses:
// both must give the same events (its contract is any byte splits). Events past the size bound
// are dropped by a per-line check that depends on where a line was split, so runs that dropped
// an event are only checked for memory errors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rules/sse_parser.hpp"

namespace {

struct Run {
  std::vector<std::string> events;  // "event\0data"
  std::size_t dropped = 0;
};

Run parse(std::string_view in, std::size_t piece) {
  // Small enough that the fuzzer reaches the bound.
  rules::SseParser parser(512);
  Run run;
  auto sink = [&](const rules::SseEvent& e) {
    run.events.push_back(std::string(e.event) + '\0' + std::string(e.data));
  };
  while (!in.empty()) {
    const auto n = std::min(piece, in.size());
    parser.feed(in.substr(0, n), sink);
    in.remove_prefix(n);
  }
  parser.finish(sink);
  run.dropped = parser.dropped();
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const Run whole = parse(in, in.size() + 1);
  const Run split = parse(in, 1 + data[0] % 16);
  if (whole.dropped == 0 && split.dropped == 0 && whole.events != split.events) __builtin_trap();
  return 0;
}
