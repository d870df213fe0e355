#include "budget/scope.hpp"

#include <algorithm>

namespace budget {
namespace {

bool accepts(const std::vector<std::string>& allowed, const std::string& value) {
  return allowed.empty() || std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

std::string or_none(std::string_view value) {
  return value.empty() ? std::string(k_no_key) : std::string(value);
}

}  // namespace

bool matches(const rules::Match& match, const AdmitRequest& request) {
  return accepts(match.provider, request.provider) && accepts(match.endpoint, request.endpoint) &&
         accepts(match.model, request.model) && accepts(match.client, request.client);
}

bool in_scope(const std::string& per, const AdmitRequest& request) {
  return per != "session" || !request.session.empty();
}

std::string scope_key(const std::string& per, const AdmitRequest& request) {
  if (per.empty()) return {};
  if (per == "session") return or_none(request.session);
  if (per == "client") return or_none(request.client);
  if (per == "credential") return or_none(request.credential_hash);
  if (per == "model") return or_none(request.model);
  if (per.starts_with("header:")) {
    if (!request.headers) return k_no_key;
    return or_none(rules::find_header(*request.headers, std::string_view(per).substr(7)));
  }
  return {};
}

}  // namespace budget
