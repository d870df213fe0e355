#pragma once
// The admin API (DESIGN §8) as a pure function of one request: routing, the bearer token, JSON
// bodies, audit and events. No sockets here, so every route is tested by calling handle();
// AdminServer is the thin HTTP shell around it.

#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "admin/audit_log.hpp"
#include "admin/reloader.hpp"
#include "budget/enforcer.hpp"
#include "pipeline/config_holder.hpp"
#include "rules/request_view.hpp"
#include "telemetry/metrics.hpp"

namespace proxy {

struct AdminRequest {
  std::string method;         // "GET"
  std::string target;         // "/v1/events?since=3"
  std::string authorization;  // the Authorization header ("" when absent)
  std::string body;
  std::string caller;  // peer address "127.0.0.1:53412", for the audit log
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  rules::HeaderList headers;  // extra headers (Allow, WWW-Authenticate)
  std::string body;
};

inline constexpr std::size_t k_admin_body_limit = 1u << 20;  // 413 past it
inline constexpr std::size_t k_max_events_per_read = 1000;   // GET /v1/events

class AdminRoutes {  // thread-safe
 public:
  // `token` "" refuses every mutation. `proxy_ready`: the proxy listens and is not draining.
  AdminRoutes(std::string token, ConfigHolder& holder, budget::Enforcer& enforcer,
              Reloader& reloader, AuditLog& audit, std::function<bool()> proxy_ready,
              Metrics& metrics = Metrics::instance(),
              budget::Clock& clock = budget::Clock::system());

  AdminResponse handle(const AdminRequest& request);

  // Where GET /v1/events/stream starts: after the id a reconnecting client sends in
  // `last_event_id` (the Last-Event-ID header), else after ?since=, else after the newest event
  // (only what happens from now on); an id past the newest means before a restart: from the
  // start. The 400 answer when an id is not a whole number.
  std::variant<std::uint64_t, AdminResponse> event_stream_start(
      const AdminRequest& request, std::string_view last_event_id) const;

 private:
  // Read-only routes.
  AdminResponse readyz();
  AdminResponse budgets(const std::string& name);
  AdminResponse events(std::string_view query);
  AdminResponse estimate(const AdminRequest& request);
  // Mutations (token already checked).
  AdminResponse reset_budget(const AdminRequest& request, const std::string& name);
  AdminResponse patch_budget(const AdminRequest& request, const std::string& name);
  AdminResponse add_override(const AdminRequest& request);
  AdminResponse reload(const AdminRequest& request);

  // nullopt when the caller may mutate; else the 401/403 answer.
  std::optional<AdminResponse> check_token(const AdminRequest& request) const;
  bool budget_configured(const std::string& name) const;
  void audit(const AdminRequest& request, std::string action, std::string target,
             std::string before, std::string after, std::string reason);

  std::string token_;
  ConfigHolder& holder_;
  budget::Enforcer& enforcer_;
  Reloader& reloader_;
  AuditLog& audit_;
  std::function<bool()> proxy_ready_;
  Metrics& metrics_;
  budget::Clock& clock_;
};

// A JSON reply: {"error": message} with `status`.
AdminResponse admin_error(int status, std::string_view message);
AdminResponse admin_json(int status, std::string body);

}  // namespace proxy
