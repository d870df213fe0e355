#pragma once
// The running proxy: config snapshot, CA, workers, signals. main() builds one from the config and
// calls run(); other parts of tollgate (admin server, budget store) plug in as services that
// start once the proxy listens and stop after it drained.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pipeline/config_holder.hpp"
#include "pipeline/exchange_hooks.hpp"

namespace proxy {

class CertStore;

class App {
 public:
  struct Service {
    std::string name;
    std::function<void()> start;  // may print its own "tollgate: ..." line
    std::function<void()> stop;
  };

  App(std::shared_ptr<const rules::Config> config, std::string config_path);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Before run(): the hooks of every exchange (default: pass-through).
  void set_hook_factory(std::shared_ptr<HookFactory> factory);
  // Before run(): started in order after the proxy listens, stopped in reverse after the drain.
  void add_service(Service service);
  // SIGHUP (the config reload); runs on the signal thread.
  void on_reload_signal(std::function<void()> handler);

  ConfigHolder& config_holder();
  const std::string& config_path() const;
  std::uint16_t proxy_port() const;  // 0 until listening
  bool ready() const;                // listening and not draining
  std::chrono::seconds drain_timeout{10};

  // Creates the CA if absent, writes <data_dir>/ca/bundle.pem, listens, prints the proxy URL and
  // the bundle path, serves until SIGTERM/SIGINT, drains in-flight exchanges (up to
  // drain_timeout) and returns 0. Throws std::runtime_error on a start-up failure.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxy
