#include "app/app.hpp"

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "proxy/cert_store.hpp"
#include "proxy/network_policy.hpp"
#include "proxy/tls_contexts.hpp"
#include "proxy/worker.hpp"
#include "telemetry/access_log.hpp"
#include "util/heap.hpp"

namespace proxy {

using namespace net;

struct App::Impl {
  ConfigHolder holder;
  std::string config_path;
  std::shared_ptr<HookFactory> hooks = std::make_shared<HookFactory>();
  std::vector<Service> services;
  std::function<void()> reload;
  std::atomic<std::uint16_t> port{0};
  std::atomic<bool> draining{false};

  Impl(std::shared_ptr<const rules::Config> config, std::string path)
      : holder(std::move(config)), config_path(std::move(path)) {}
};

App::App(std::shared_ptr<const rules::Config> config, std::string config_path)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(config_path))) {}

App::~App() = default;

void App::set_hook_factory(std::shared_ptr<HookFactory> factory) {
  impl_->hooks = std::move(factory);
}
void App::add_service(Service service) {
  impl_->services.push_back(std::move(service));
}
void App::on_reload_signal(std::function<void()> handler) {
  impl_->reload = std::move(handler);
}
ConfigHolder& App::config_holder() {
  return impl_->holder;
}
const std::string& App::config_path() const {
  return impl_->config_path;
}
std::uint16_t App::proxy_port() const {
  return impl_->port.load();
}
bool App::ready() const {
  return impl_->port.load() != 0 && !impl_->draining.load();
}

int App::run() {
  init_logging();
  const auto config = impl_->holder.get();
  NetworkPolicy validate(config->tunnel.deny_networks);  // throws on a bad entry, before listening
  CertStore certs(config->tls.ca_cert, config->tls.ca_key,
                  std::chrono::duration_cast<std::chrono::seconds>(config->tls.leaf_validity));
  const auto bundle = (std::filesystem::path(config->data_dir) / "ca" / "bundle.pem").string();
  write_ca_bundle(config->tls.ca_cert, bundle);
  auto intercept_tls = make_intercept_tls();
  auto upstream_tls = make_upstream_tls(config->tls.upstream_trust);
  SharedEnv shared{impl_->holder, certs, *intercept_tls, *upstream_tls, impl_->hooks, {}};

  unsigned threads = config->threads ? config->threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint16_t port = config->listen.port;
  for (unsigned i = 0; i < threads; ++i) {
    workers.push_back(std::make_unique<Worker>(shared));
    // The first worker may bind port 0; the others join the port it got.
    port = workers.back()->listen(config->listen.host, port);
  }
  impl_->port = port;
  std::string shown_host = config->listen.host;
  if (shown_host == "0.0.0.0" || shown_host == "::") shown_host = "127.0.0.1";
  if (shown_host.find(':') != std::string::npos) shown_host = "[" + shown_host + "]";
  const std::string proxy_url = "http://" + shown_host + ":" + std::to_string(port);
  // The first two lines are what a user (and the test harness) reads; the exports are ready to
  // paste into the app's shell (Python requests/httpx, curl, Node, Go, OpenSSL-based clients).
  std::cout << "tollgate: proxy listening on " << proxy_url << "\n"
            << "tollgate: CA bundle for clients: " << bundle << "\n"
            << "tollgate: in the app's shell:\n"
            << "  export HTTPS_PROXY=" << proxy_url << " https_proxy=" << proxy_url << "\n"
            << "  export SSL_CERT_FILE=" << bundle << " REQUESTS_CA_BUNDLE=" << bundle
            << " NODE_EXTRA_CA_CERTS=" << config->tls.ca_cert << "\n"
            << std::flush;

  asio::io_context signals_io(1);
  asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  for (auto& w : workers) w->start();
  for (auto& s : impl_->services)
    if (s.start) s.start();

  // The memory a burst of connections took goes back to the system once they have closed (glibc
  // keeps freed heap pages otherwise; jemalloc would purge them within a second by itself): the
  // open connections are looked at every second, and the heap's free pages are released when
  // they fell to half of their peak since the last release, by 256 or more.
  asio::steady_timer trim_timer(signals_io);
  std::size_t peak = 0;
  std::function<void()> watch_memory = [&] {
    trim_timer.expires_after(std::chrono::seconds(1));
    trim_timer.async_wait([&](const error_code& ec) {
      if (ec) return;
      std::size_t open = 0;
      for (auto& w : workers) open += w->connections();
      peak = std::max(peak, open);
      if (peak >= open + 256 && open <= peak / 2) {
        util::release_free_memory();
        peak = open;
      }
      watch_memory();
    });
  };
  watch_memory();

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        if (impl_->reload) impl_->reload();
        wait_signal();
        return;
      }
      trim_timer.cancel();  // nothing left to wait for: run() returns
    });
  };
  wait_signal();
  signals_io.run();  // returns after SIGINT or SIGTERM (the trim timer cancelled)

  impl_->draining = true;
  shared.draining = true;
  for (auto& w : workers) w->drain();
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  const auto busy = [&] {
    for (auto& w : workers)
      if (w->connections() > 0) return true;
    return false;
  };
  while (busy() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const bool cut_short = busy();
  for (auto it = impl_->services.rbegin(); it != impl_->services.rend(); ++it)
    if (it->stop) it->stop();
  for (auto& w : workers) w->stop();
  flush_logs();
  std::cout << "tollgate: stopped"
            << (cut_short ? " (drain bound reached with connections open)" : "") << std::endl;
  return 0;
}

}  // namespace proxy
