// A config file as an operator (or a bad edit picked up by the reload watcher) writes it: YAML
// text to a validated Config or a list of errors, never a crash. Includes resolve from /tmp;
// `catalog:NAME` pulls in the shipped catalog.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rules/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const auto result = rules::load_config_text(yaml, "fuzz.yaml", "/tmp");
  if (!result.config == result.errors.empty()) __builtin_trap();
  return 0;
}
