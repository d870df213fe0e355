#include "admin/admin_routes.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "admin/admin_json.hpp"
#include "admin/event_stream.hpp"
#include "admin/status_page.hpp"

namespace proxy {
namespace {

enum class Route {
  page,
  healthz,
  readyz,
  metrics,
  budgets,
  budget,
  reset,
  overrides,
  events,
  events_stream,
  balances,
  breakers,
  estimate,
  reload,
  none
};

struct Resolved {
  Route route = Route::none;
  std::string allow;  // methods the path accepts
  std::string name;   // {name} of /v1/budgets/{name}
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Budget names travel percent-encoded in the path ("team%20a").
std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

Resolved resolve(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return {Route::page, "GET", {}};
  if (path == "/healthz") return {Route::healthz, "GET", {}};
  if (path == "/readyz") return {Route::readyz, "GET", {}};
  if (path == "/metrics") return {Route::metrics, "GET", {}};
  if (path == "/v1/budgets") return {Route::budgets, "GET", {}};
  if (path == "/v1/overrides") return {Route::overrides, "POST", {}};
  if (path == "/v1/events") return {Route::events, "GET", {}};
  if (path == k_event_stream_path) return {Route::events_stream, "GET", {}};
  if (path == "/v1/balances") return {Route::balances, "GET", {}};
  if (path == "/v1/breakers") return {Route::breakers, "GET", {}};
  if (path == "/v1/estimate") return {Route::estimate, "POST", {}};
  if (path == "/v1/reload") return {Route::reload, "POST", {}};
  constexpr std::string_view k_prefix = "/v1/budgets/";
  if (!path.starts_with(k_prefix)) return {};
  std::string_view rest = path.substr(k_prefix.size());
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return {Route::budget, "GET, PATCH", percent_decode(rest)};
  if (rest.substr(slash) == "/reset" && slash > 0)
    return {Route::reset, "POST", percent_decode(rest.substr(0, slash))};
  return {};
}

bool allows(const std::string& allow, const std::string& method) {
  std::string_view list = allow;
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    if (item == method) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 2);  // ", "
  }
  return false;
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    const auto eq = item.find('=');
    if (item.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// A whole number in `text`; nullopt when it is anything else.
std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return id;
}

std::string_view query_of(std::string_view target) {
  const auto question = target.find('?');
  return question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
}

}  // namespace

AdminResponse admin_error(int status, std::string_view message) {
  return AdminResponse{status, "application/json", {}, error_json(message)};
}

AdminResponse admin_json(int status, std::string body) {
  return AdminResponse{status, "application/json", {}, std::move(body)};
}

AdminRoutes::AdminRoutes(std::string token, ConfigHolder& holder, budget::Enforcer& enforcer,
                         Reloader& reloader, AuditLog& audit, std::function<bool()> proxy_ready,
                         Metrics& metrics, budget::Clock& clock)
    : token_(std::move(token)),
      holder_(holder),
      enforcer_(enforcer),
      reloader_(reloader),
      audit_(audit),
      proxy_ready_(std::move(proxy_ready)),
      metrics_(metrics),
      clock_(clock) {}

AdminResponse AdminRoutes::handle(const AdminRequest& request) {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view query = query_of(target);
  const auto resolved = resolve(path);
  if (resolved.route == Route::none)
    return admin_error(404, "no such endpoint: " + std::string(path));
  if (!allows(resolved.allow, request.method)) {
    auto response = admin_error(405, "method " + request.method + " not allowed on " +
                                         std::string(path) + " (allowed: " + resolved.allow + ")");
    response.headers.emplace_back("Allow", resolved.allow);
    return response;
  }
  const bool mutating = request.method != "GET" && resolved.route != Route::estimate;
  if (mutating) {
    if (auto refused = check_token(request)) return *refused;
  }
  if (request.body.size() > k_admin_body_limit)
    return admin_error(413, "request body larger than 1 MiB");
  switch (resolved.route) {
    case Route::page:
      return status_page();
    case Route::healthz:
      return AdminResponse{200, "text/plain; charset=utf-8", {}, "ok\n"};
    case Route::readyz:
      return readyz();
    case Route::metrics:
      return AdminResponse{
          200, "text/plain; version=0.0.4; charset=utf-8", {}, metrics_.serialize()};
    case Route::budgets:
      return admin_json(200, budgets_json(enforcer_.budgets()));
    case Route::budget:
      if (request.method == "PATCH") return patch_budget(request, resolved.name);
      return budgets(resolved.name);
    case Route::reset:
      return reset_budget(request, resolved.name);
    case Route::overrides:
      return add_override(request);
    case Route::events:
      return events(query);
    case Route::events_stream:
      // AdminServer streams it (event_stream_start); a caller without a socket gets the reason.
      return admin_error(406, std::string(k_event_stream_path) +
                                  " is a text/event-stream: read it with an SSE client");
    case Route::balances:
      return admin_json(200, balances_json(enforcer_.balances()));
    case Route::breakers:
      return admin_json(200, breakers_json(enforcer_.breakers()));
    case Route::estimate:
      return estimate(request);
    case Route::reload:
      return reload(request);
    case Route::none:
      break;
  }
  return admin_error(404, "no such endpoint: " + std::string(path));
}

std::optional<AdminResponse> AdminRoutes::check_token(const AdminRequest& request) const {
  if (token_.empty()) return admin_error(403, "admin mutations are disabled: set admin.token");
  std::string_view header = request.authorization;
  constexpr std::string_view k_scheme = "bearer ";
  const bool bearer =
      header.size() > k_scheme.size() &&
      std::equal(k_scheme.begin(), k_scheme.end(), header.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  if (!bearer) {
    auto response =
        admin_error(401, "missing bearer token: send Authorization: Bearer <admin.token>");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  }
  header.remove_prefix(k_scheme.size());
  // Hashes first: equal lengths for CRYPTO_memcmp, and the token's length stays hidden.
  const auto given = sha256(header);
  const auto expected = sha256(token_);
  if (CRYPTO_memcmp(given.data(), expected.data(), given.size()) != 0)
    return admin_error(403, "invalid bearer token");
  return std::nullopt;
}

AdminResponse AdminRoutes::readyz() {
  if (proxy_ready_ && !proxy_ready_())
    return AdminResponse{503,
                         "text/plain; charset=utf-8",
                         {},
                         "not ready: the proxy is not listening or is draining\n"};
  if (!enforcer_.store_healthy())
    return AdminResponse{
        503, "text/plain; charset=utf-8", {}, "not ready: the ledger store is unreachable\n"};
  return AdminResponse{200, "text/plain; charset=utf-8", {}, "ready\n"};
}

bool AdminRoutes::budget_configured(const std::string& name) const {
  const auto config = holder_.get();
  if (!config) return false;
  for (const auto& b : config->budgets)
    if (b.name == name) return true;
  return false;
}

AdminResponse AdminRoutes::budgets(const std::string& name) {
  std::vector<budget::BudgetStanding> matching;
  for (auto& standing : enforcer_.budgets())
    if (standing.name == name) matching.push_back(std::move(standing));
  if (matching.empty() && !budget_configured(name))
    return admin_error(404, "no such budget: " + name);
  return admin_json(200, budgets_json(matching));
}

AdminResponse AdminRoutes::events(std::string_view query) {
  std::uint64_t since = 0;
  if (auto text = query_param(query, "since"); text && !text->empty()) {
    const auto id = parse_id(*text);
    if (!id) return admin_error(400, "since: must be an event id (a whole number)");
    since = *id;
  }
  std::size_t max = k_max_events_per_read;
  if (auto text = query_param(query, "last")) {
    const auto n = parse_id(*text);
    if (!n || *n == 0 || *n > k_max_events_per_read)
      return admin_error(400, "last: must be a number of events from 1 to 1000");
    // Ids are consecutive, so the newest n start after newest - n.
    const auto newest = enforcer_.last_event_id();
    since = std::max(since, newest > *n ? newest - *n : 0);
    max = *n;
  }
  return admin_json(200, events_json(enforcer_.events_since(since, max), since));
}

std::variant<std::uint64_t, AdminResponse> AdminRoutes::event_stream_start(
    const AdminRequest& request, std::string_view last_event_id) const {
  const auto newest = enforcer_.last_event_id();
  std::optional<std::uint64_t> after;
  if (!last_event_id.empty()) {
    after = parse_id(last_event_id);
    if (!after) return admin_error(400, "Last-Event-ID: must be an event id (a whole number)");
  } else if (auto since = query_param(query_of(request.target), "since"); since) {
    after = parse_id(*since);
    if (!after) return admin_error(400, "since: must be an event id (a whole number)");
  }
  if (!after) return newest;
  // An id past the newest was handed out before a restart (ids begin again at 1): everything
  // this process has is new to that client.
  return *after > newest ? 0 : *after;
}

void AdminRoutes::audit(const AdminRequest& request, std::string action, std::string target,
                        std::string before, std::string after, std::string reason) {
  audit_.append(AuditEntry{clock_.now(), request.caller, std::move(action), std::move(target),
                           std::move(before), std::move(after), std::move(reason)});
}

}  // namespace proxy
