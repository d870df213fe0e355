#pragma once
// The admin HTTP server (DESIGN §8): plain HTTP/1.1 on admin.listen, on its own two threads and
// io_context so that a slow scrape or a reload never competes with the proxy's workers.
// Routing and policy live in AdminRoutes; this is the socket shell around it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "admin/admin_routes.hpp"
#include "admin/reloader.hpp"
#include "budget/enforcer.hpp"
#include "pipeline/config_holder.hpp"
#include "rules/config.hpp"

namespace proxy {

struct AdminOptions {
  rules::HostPort listen;      // port 0: any free port (start() returns it)
  std::string token;           // admin.token; "" refuses every mutation
  std::string audit_log_path;  // <data_dir>/audit.log; "" disables the audit log
  // Quiet time after which an event stream gets a keep-alive comment (tests shorten it).
  std::chrono::milliseconds event_stream_keep_alive{15'000};
};

class AdminServer {
 public:
  // `proxy_ready`: the proxy is listening and not draining (for /readyz). Opens the audit log
  // (throws std::runtime_error when it cannot).
  AdminServer(AdminOptions options, ConfigHolder& holder, budget::Enforcer& enforcer,
              Reloader& reloader, std::function<bool()> proxy_ready);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds, installs the budget gauges into Metrics::instance(), starts the thread; returns the
  // bound port. Prints nothing. Throws boost::system::system_error when the bind fails.
  std::uint16_t start();
  // Stops accepting, drops open admin connections, joins the thread, removes the gauges.
  void stop();

  AdminRoutes& routes();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxy
