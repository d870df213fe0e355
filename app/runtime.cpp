#include "app/runtime.hpp"

#include <rapidjson/document.h>

#include <filesystem>
#include <iostream>

#include "admin/admin_server.hpp"
#include "admin/reloader.hpp"
#include "app/app.hpp"
#include "budget/enforcer.hpp"
#include "pipeline/enforcement_hooks.hpp"
#include "telemetry/access_log.hpp"
#include "telemetry/budget_metrics.hpp"
#include "telemetry/metrics.hpp"
#include "telemetry/webhooks.hpp"

namespace proxy {

int run_tollgate(std::shared_ptr<const rules::Config> config, const std::string& config_path) {
  init_logging();
  install_store_metrics(Metrics::instance());
  auto enforcer = budget::make_enforcer(config);
  // Holds left by a crash are settled at their estimate before any new request is admitted.
  enforcer->recover();

  App app(config, config_path);
  app.set_hook_factory(std::make_shared<EnforcementHookFactory>(*enforcer));
  Reloader reloader(config_path, app.config_holder(), *enforcer);
  WebhookSender webhooks(config->webhooks, config->tls.upstream_trust);

  enforcer->on_event([&app, &webhooks](const budget::Event& event) {
    log_line(event_json(event));
    if (event.type == budget::EventType::threshold) {
      rapidjson::Document detail;
      detail.Parse(event.detail_json.data(), event.detail_json.size());
      std::string threshold = "?";
      if (detail.IsObject() && detail.HasMember("percent") && detail["percent"].IsInt64())
        threshold = std::to_string(detail["percent"].GetInt64());
      Metrics::instance().count_alert(event.budget, threshold + "%");
    }
    if (event.type == budget::EventType::reload)
      webhooks.set_hooks(app.config_holder().get()->webhooks);
    webhooks.send(event);
  });

  if (config->admin.token.empty())
    std::cerr
        << "tollgate: warning: admin.token is empty: every admin mutation (reset, limits, "
           "overrides, reload) will be refused; set it, e.g. token: ${TOLLGATE_ADMIN_TOKEN}\n";
  AdminOptions admin_options;
  admin_options.listen = config->admin.listen;
  admin_options.token = config->admin.token;
  admin_options.audit_log_path = (std::filesystem::path(config->data_dir) / "audit.log").string();
  AdminServer admin(admin_options, app.config_holder(), *enforcer, reloader,
                    [&app] { return app.ready(); });

  app.add_service({"admin",
                   [&] {
                     const auto port = admin.start();
                     std::cout << "tollgate: admin listening on http://"
                               << config->admin.listen.host << ":" << port << std::endl;
                   },
                   [&] { admin.stop(); }});
  app.add_service({"reload", [&] { reloader.start_watching(); }, [&] { reloader.stop(); }});
  app.on_reload_signal([&reloader] { reloader.reload("SIGHUP"); });
  const int code = app.run();
  flush_logs();
  return code;
}

}  // namespace proxy
