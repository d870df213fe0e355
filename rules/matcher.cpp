#include "rules/matcher.hpp"

namespace rules {
namespace {

bool match_from(std::string_view pattern, std::string_view path, Captures* captures) {
  while (!pattern.empty()) {
    const char c = pattern.front();
    if (c == '*' && pattern.size() == 1) return true;
    if (c == '{') {
      const auto close = pattern.find('}');
      if (close == std::string_view::npos) return false;
      const auto name = pattern.substr(1, close - 1);
      const auto rest = pattern.substr(close + 1);
      // Longest capture first, so "{model}:generateContent" keeps dots and dashes in the model.
      std::size_t limit = 0;
      while (limit < path.size() && path[limit] != '/') ++limit;
      for (std::size_t n = limit; n >= 1; --n) {
        const auto mark = captures ? captures->size() : 0;
        if (captures) captures->emplace_back(std::string(name), std::string(path.substr(0, n)));
        if (match_from(rest, path.substr(n), captures)) return true;
        if (captures) captures->resize(mark);
      }
      return false;
    }
    if (path.empty() || path.front() != c) return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
  }
  return path.empty();
}

}  // namespace

bool match_path(std::string_view pattern, std::string_view path, Captures* captures) {
  return match_from(pattern, path, captures);
}

EndpointMatch match_endpoint(const Provider& provider, std::string_view method,
                             std::string_view path) {
  EndpointMatch result;
  for (const auto& endpoint : provider.endpoints) {
    if (!endpoint.method.empty() && endpoint.method != method) continue;
    Captures captures;
    if (match_path(endpoint.path, path, &captures)) {
      result.endpoint = &endpoint;
      result.captures = std::move(captures);
      return result;
    }
  }
  return result;
}

}  // namespace rules
