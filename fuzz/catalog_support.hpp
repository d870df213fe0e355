#pragma once
// The shipped catalog as the fuzz targets see it: every provider, each endpoint and the
// provider-level (default_cost) path, loaded once per process.

#include <cstddef>
#include <cstdlib>
#include <vector>

#include "rules/config_loader.hpp"

namespace fuzz {

struct Route {
  const rules::Provider* provider;
  const rules::Endpoint* endpoint;  // nullptr: the provider-level path
};

inline const rules::Config& catalog() {
  static const auto result = rules::load_embedded_defaults("/tmp");
  if (!result.config) std::abort();  // the tests catch a broken catalog; nothing to fuzz
  return *result.config;
}

inline const std::vector<Route>& routes() {
  static const auto all = [] {
    std::vector<Route> out;
    for (const auto& p : catalog().providers) {
      out.push_back({&p, nullptr});
      for (const auto& e : p.endpoints) out.push_back({&p, &e});
    }
    return out;
  }();
  return all;
}

}  // namespace fuzz
