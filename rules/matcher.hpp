#pragma once
// Step 1 of the pipeline: which provider and endpoint a request falls under.
// Path patterns: literal text, `{name}` captures one or more characters other than '/', and a
// trailing `*` matches any rest. Endpoints are tried in order; the first whose method (empty =
// any) and pattern match wins.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/config.hpp"

namespace rules {

using Captures = std::vector<std::pair<std::string, std::string>>;

// True when `path` matches `pattern`; fills `captures` (may be nullptr) with the {name} values.
bool match_path(std::string_view pattern, std::string_view path, Captures* captures);

struct EndpointMatch {
  const Endpoint* endpoint = nullptr;  // nullptr: no endpoint of the provider matches
  Captures captures;
};

EndpointMatch match_endpoint(const Provider& provider, std::string_view method,
                             std::string_view path);

}  // namespace rules
