#pragma once
// The embedded catalog as the rules unit tests read it: loaded once, its providers by name.
#include <doctest/doctest.h>

#include "rules/config.hpp"
#include "rules/config_loader.hpp"

namespace rules_test {

inline const rules::Config& catalog() {
  static const auto result = rules::load_embedded_defaults("/tmp");
  REQUIRE(result.errors.empty());
  return *result.config;
}

inline const rules::Provider& provider(const char* name) {
  for (const auto& p : catalog().providers)
    if (p.name == name) return p;
  FAIL("no provider " << name);
  throw;
}

}  // namespace rules_test
