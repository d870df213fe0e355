#include "pipeline/cors_policy.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "util/text.hpp"

namespace proxy {
namespace {

// What every base-URL provider is called with; a preflight asking for another method gets it
// added (it is only a permission: the provider answers the method as it does).
constexpr std::string_view k_methods = "GET, HEAD, POST, PUT, PATCH, DELETE";
constexpr std::array<std::string_view, 6> k_method_list{"GET", "HEAD",  "POST",
                                                        "PUT", "PATCH", "DELETE"};

// Response fields a script reads without Access-Control-Expose-Headers (Fetch: CORS-safelisted
// response-header names), and fields that are never exposed or are the CORS fields themselves.
constexpr std::array<std::string_view, 9> k_not_exposed{
    "cache-control", "content-language", "content-length", "content-type", "expires",
    "last-modified", "pragma",           "set-cookie",     "set-cookie2"};

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The field names of a list ("authorization, content-type"), lower case, each once; nullopt when
// an element is not a field name (a browser never sends that: the preflight is refused).
std::optional<std::vector<std::string>> field_names(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = trim(list.substr(0, comma));
    if (!item.empty()) {
      if (!is_token(item)) return std::nullopt;
      auto name = lower(item);
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out.append(out.empty() ? "" : ", ").append(n);
  return out;
}

// True when `origin` is "http://" + `host` and the host is an IP address or localhost: the
// listener itself, named without DNS.
bool names_the_listener(std::string_view origin, std::string_view host) {
  constexpr std::string_view scheme = "http://";
  if (!origin.starts_with(scheme) || !util::iequals(origin.substr(scheme.size()), host))
    return false;
  auto name = host;
  if (name.starts_with('[')) return name.find(']') != std::string_view::npos;  // IPv6 literal
  name = name.substr(0, name.find(':'));
  return util::iequals(name, "localhost") ||
         (!name.empty() && std::all_of(name.begin(), name.end(),
                                       [](char c) { return (c >= '0' && c <= '9') || c == '.'; }));
}

std::string not_allowed(std::string_view origin, const rules::BaseUrlConfig& config) {
  if (config.cors_origins.empty())
    return "origin " + std::string(origin) +
           " may not call tollgate's base URLs: base_url.cors_origins lists no page origin";
  return "origin " + std::string(origin) +
         " may not call tollgate's base URLs: it is not in base_url.cors_origins";
}

}  // namespace

bool CorsPolicy::any_origin() const {
  return config_.cors_origins.size() == 1 && config_.cors_origins.front() == "*";
}

bool CorsPolicy::allows(std::string_view origin) const {
  const auto& list = config_.cors_origins;
  if (origin.empty()) return false;
  return any_origin() || std::find(list.begin(), list.end(), origin) != list.end();
}

CorsVerdict CorsPolicy::decide(const CorsRequest& request) const {
  using Kind = CorsVerdict::Kind;
  if (request.origin.empty()) return {};  // not a browser's cross-origin call
  if (names_the_listener(request.origin, request.host)) return {};
  if (!allows(request.origin)) return {Kind::refuse, {}, not_allowed(request.origin, config_)};
  if (request.method != "OPTIONS" || request.request_method.empty()) return {};

  const auto method = trim(request.request_method);
  const auto headers = field_names(request.request_headers);
  if (!is_token(method) || !headers)
    return {Kind::refuse, {}, "malformed preflight: Access-Control-Request-Method or -Headers"};
  CorsVerdict v{Kind::preflight, {}, {}};
  v.headers.emplace_back("Access-Control-Allow-Origin",
                         any_origin() ? "*" : std::string(request.origin));
  std::string methods(k_methods);
  if (std::find(k_method_list.begin(), k_method_list.end(), method) == k_method_list.end())
    methods.append(", ").append(method);
  v.headers.emplace_back("Access-Control-Allow-Methods", std::move(methods));
  // Echoed, not "*": a wildcard does not cover Authorization, which every SDK sends.
  if (!headers->empty()) v.headers.emplace_back("Access-Control-Allow-Headers", join(*headers));
  v.headers.emplace_back("Access-Control-Max-Age", std::to_string(k_max_age_seconds));
  // Private Network Access: a page on a public origin calling 127.0.0.1 asks for this first.
  if (util::iequals(trim(request.request_private_network), "true"))
    v.headers.emplace_back("Access-Control-Allow-Private-Network", "true");
  v.headers.emplace_back("Vary", std::string(any_origin() ? "" : "Origin, ") +
                                     "Access-Control-Request-Method, "
                                     "Access-Control-Request-Headers");
  return v;
}

void CorsPolicy::mark(std::string_view origin, rules::HeaderList& response) const {
  std::erase_if(response, [](const auto& field) {
    return field.first.size() >= 15 && util::iequals(field.first.substr(0, 15), "access-control-");
  });
  // An answer that depends on Origin says so, so that no cache hands one page's answer to another.
  if (!config_.cors_origins.empty() && !any_origin()) response.emplace_back("Vary", "Origin");
  if (!allows(origin)) return;
  std::vector<std::string> exposed;
  for (const auto& [name, value] : response) {
    auto n = lower(name);
    const bool hidden =
        std::find(k_not_exposed.begin(), k_not_exposed.end(), n) != k_not_exposed.end() ||
        n == "vary";
    if (!hidden && std::find(exposed.begin(), exposed.end(), n) == exposed.end())
      exposed.push_back(std::move(n));
  }
  response.emplace_back("Access-Control-Allow-Origin", any_origin() ? "*" : std::string(origin));
  if (!exposed.empty()) response.emplace_back("Access-Control-Expose-Headers", join(exposed));
}

}  // namespace proxy
