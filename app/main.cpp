// tollgate command line (DESIGN §3).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <utility>
#include <vector>

#include "admin/report_command.hpp"
#include "admin/status_command.hpp"
#include "app/receipts_command.hpp"
#include "app/runtime.hpp"
#include "proxy/cert_store.hpp"
#include "proxy/openssl_buffers.hpp"
#include "rules/commands.hpp"
#include "rules/config_loader.hpp"
#include "rules/config_values.hpp"
#include "rules/credential.hpp"

#ifdef TOLLGATE_JEMALLOC
// jemalloc's options, read when it starts (MALLOC_CONF in the environment still overrides them):
// one background thread gives freed pages back to the system a second after they are freed
// (dirty_decay_ms) and at once from then on (muzzy_decay_ms: 0), so that the memory of a burst
// of connections does not stay resident. bench/RESULTS.md has the measurements.
extern "C" {
__attribute__((used)) const char* malloc_conf =
    "background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace {

namespace fs = std::filesystem;

// The config of `run` (and of the CA commands): the file, or the embedded defaults rooted in
// the current directory. Prints every error and returns nullptr when it does not load.
std::shared_ptr<const rules::Config> load(const std::string& path) {
  auto result = path.empty() ? rules::load_embedded_defaults(fs::current_path().string())
                             : rules::load_config_file(path);
  for (const auto& e : result.errors) std::cerr << e.str() << "\n";
  return result.config;
}

// `run --listen` / `--admin-listen`: over the config's values, so that changing a port does not
// mean copying the embedded defaults out of the binary.
struct ListenOverrides {
  std::string listen, admin_listen;
};

bool apply_listen(const std::string& text, const char* flag, rules::HostPort& into) {
  if (text.empty()) return true;
  const auto parsed = rules::parse_host_port(text);
  if (!parsed) {
    std::cerr << "tollgate: " << flag << " must be HOST:PORT (e.g. 127.0.0.1:8080), got '" << text
              << "'\n";
    return false;
  }
  into = {parsed->host, parsed->port};
  return true;
}

int run_command(const std::string& config_path, const ListenOverrides& overrides) {
  auto loaded = load(config_path);
  if (!loaded) return 1;
  auto config = std::make_shared<rules::Config>(*loaded);
  if (!apply_listen(overrides.listen, "--listen", config->listen) ||
      !apply_listen(overrides.admin_listen, "--admin-listen", config->admin.listen))
    return 2;
  return proxy::run_tollgate(config, config_path);
}

// `status --config FILE`: the admin address the config names (a wildcard listen is reached on
// loopback).
std::string admin_url_of(const std::string& config_path) {
  const auto config = load(config_path);
  if (!config) return {};
  std::string host = config->admin.listen.host;
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(config->admin.listen.port);
}

int ca_init(const std::string& dir) {
  const auto cert = (fs::path(dir) / "ca.crt").string();
  const auto key = (fs::path(dir) / "ca.key").string();
  const bool created = proxy::CertStore::ensure_ca(cert, key);
  std::cout << cert << "\n";
  if (!created) std::cerr << "tollgate: the CA already exists; kept it\n";
  return 0;
}

int ca_bundle(const std::string& config_path, const std::string& dir, const std::string& out) {
  std::string cert, key;
  if (!dir.empty()) {
    cert = (fs::path(dir) / "ca.crt").string();
    key = (fs::path(dir) / "ca.key").string();
  } else {
    const auto config = load(config_path);
    if (!config) return 1;
    cert = config->tls.ca_cert;
    key = config->tls.ca_key;
  }
  proxy::CertStore::ensure_ca(cert, key);
  if (out.empty() || out == "-") {
    std::cout << proxy::ca_bundle_text(cert);
  } else {
    proxy::write_ca_bundle(cert, out);
    std::cout << out << "\n";
  }
  return 0;
}

// Each subcommand registers its options and what it does when parsed; main() runs the one
// given (`run` when none is).
using Action = std::function<int()>;
using Commands = std::vector<std::pair<CLI::App*, Action>>;

// `tollgate [run] [--config FILE]`: the options of run are accepted without the verb too.
Action add_run(CLI::App& app, Commands& commands) {
  struct Args {
    std::string config_path;
    ListenOverrides listen;
  };
  auto args = std::make_shared<Args>();
  auto* run = app.add_subcommand("run", "start the proxy (embedded defaults without --config)");
  for (auto* cmd : {&app, run}) {
    cmd->add_option("--config,-c", args->config_path, "config file")->check(CLI::ExistingFile);
    cmd->add_option("--listen", args->listen.listen,
                    "proxy address HOST:PORT (over the config's listen)");
    cmd->add_option("--admin-listen", args->listen.admin_listen,
                    "admin address HOST:PORT (over the config's admin.listen)");
  }
  Action action = [args] { return run_command(args->config_path, args->listen); };
  commands.emplace_back(run, action);
  return action;
}

void add_check(CLI::App& app, Commands& commands) {
  auto path = std::make_shared<std::string>();
  auto* check =
      app.add_subcommand("check", "validate a config; print FILE:LINE:COL: message per problem");
  check->add_option("--config,-c", *path, "config file")->check(CLI::ExistingFile);
  commands.emplace_back(check,
                        [path] { return rules::check_command(*path, std::cout, std::cerr); });
}

void add_ca(CLI::App& app, Commands& commands) {
  struct Args {
    std::string dir = "./tollgate-data/ca";
    std::string bundle_out, bundle_dir, bundle_config;
  };
  auto args = std::make_shared<Args>();
  auto* ca = app.add_subcommand("ca", "the tollgate CA");
  ca->require_subcommand(1);
  auto* init =
      ca->add_subcommand("init", "create the CA (ECDSA P-256, key 0600) if absent; print its path");
  init->add_option("--dir", args->dir, "folder of ca.crt and ca.key");
  commands.emplace_back(init, [args] { return ca_init(args->dir); });
  auto* bundle = ca->add_subcommand(
      "bundle", "system roots + the tollgate CA (for SSL_CERT_FILE, REQUESTS_CA_BUNDLE)");
  bundle->add_option("--out,-o", args->bundle_out, "write here (default: stdout)");
  bundle->add_option("--dir", args->bundle_dir,
                     "CA folder (default: from --config or the defaults)");
  bundle->add_option("--config,-c", args->bundle_config, "config file naming tls.ca_cert")
      ->check(CLI::ExistingFile);
  commands.emplace_back(bundle, [args] {
    return ca_bundle(args->bundle_config, args->bundle_dir, args->bundle_out);
  });
}

void add_estimate(CLI::App& app, Commands& commands) {
  auto args = std::make_shared<rules::EstimateArgs>();
  auto* estimate = app.add_subcommand("estimate", "price one request offline");
  estimate->add_option("--config,-c", args->config_path, "config file")->check(CLI::ExistingFile);
  estimate->add_option("--url", args->url, "request URL")->required();
  estimate->add_option("--method,-X", args->method, "HTTP method");
  estimate->add_option("--data,-d", args->data, "body: JSON text or @file");
  estimate->add_option("-H,--header", args->headers, "'Name: value'");
  estimate->add_flag("--json", args->json, "one JSON object");
  commands.emplace_back(estimate,
                        [args] { return rules::estimate_command(*args, std::cout, std::cerr); });
}

// --admin and --config of the commands that talk to a running tollgate; `resolve` fills `url`
// from the config, else the default address; false when the config does not load.
void add_admin_options(CLI::App* cmd, std::string& url, std::string& config) {
  cmd->add_option(
      "--admin", url,
      "admin URL (default: from --config, else " + std::string(proxy::k_default_admin_url) + ")");
  cmd->add_option("--config,-c", config, "read the admin address from this config")
      ->check(CLI::ExistingFile);
}

bool resolve_admin_url(std::string& url, const std::string& config) {
  if (url.empty() && !config.empty()) url = admin_url_of(config);
  if (url.empty() && !config.empty()) return false;
  if (url.empty()) url = proxy::k_default_admin_url;
  return true;
}

void add_status(CLI::App& app, Commands& commands) {
  struct Args {
    std::string url, config;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* status = app.add_subcommand("status", "budgets and balances of a running tollgate");
  add_admin_options(status, args->url, args->config);
  status->add_flag("--json", args->json, "JSON instead of a table");
  commands.emplace_back(status, [args] {
    if (!resolve_admin_url(args->url, args->config)) return 1;
    return proxy::status_command(args->url, args->json, std::cout, std::cerr);
  });
}

void add_report(CLI::App& app, Commands& commands) {
  struct Args {
    proxy::ReportOptions options;
    std::string config;
  };
  auto args = std::make_shared<Args>();
  auto& o = args->options;
  auto* report = app.add_subcommand("report", "spend of a running tollgate, grouped");
  add_admin_options(report, o.admin_url, args->config);
  report->add_option("--since", o.since, "RFC 3339 time or a duration back from now (default 24h)");
  report->add_option("--until", o.until, "RFC 3339 time or a duration back from now");
  report->add_option("--by", o.by,
                     "model, client, credential, provider, endpoint, budget, day or hour "
                     "(comma-separated for several; default model)");
  report->add_option("--currency", o.currency, "only this currency");
  report->add_option("--top", o.top, "only the N groups that spent the most");
  report->add_flag("--csv", o.csv, "CSV instead of a table");
  commands.emplace_back(report, [args] {
    if (!resolve_admin_url(args->options.admin_url, args->config)) return 1;
    return proxy::report_command(args->options, std::cout, std::cerr);
  });
}

void add_receipts(CLI::App& app, Commands& commands) {
  struct Args {
    std::string file, key;
  };
  auto args = std::make_shared<Args>();
  auto* receipts = app.add_subcommand("receipts", "the signed receipts of cost records");
  receipts->require_subcommand(1);
  auto* verify = receipts->add_subcommand(
      "verify", "check an export of GET /v1/receipts offline: hashes, links, signatures");
  verify->add_option("FILE", args->file, "the NDJSON export")->required()->check(CLI::ExistingFile);
  verify->add_option("--key", args->key, "public key PEM (GET /v1/receipts/key)")
      ->check(CLI::ExistingFile);
  commands.emplace_back(verify, [args] {
    return proxy::receipts_verify_command(args->file, args->key, std::cout, std::cerr);
  });
}

void add_key_id(CLI::App& app, Commands& commands) {
  auto key = std::make_shared<std::string>();
  auto* key_id = app.add_subcommand(
      "key-id", "the id a provider key appears under in budgets, records and metrics");
  key_id->add_option("KEY", *key, "the key, bare or as 'Bearer KEY'")->required();
  commands.emplace_back(key_id, [key] {
    const auto id = rules::key_id(*key);
    if (id.empty()) {
      std::cerr << "key-id: the key is empty\n";
      return 1;
    }
    std::cout << id << "\n";
    return 0;
  });
}

void add_prices(CLI::App& app, Commands& commands) {
  auto args = std::make_shared<rules::PricesImportArgs>();
  auto* prices = app.add_subcommand("prices", "LiteLLM's price table and the catalog");
  prices->require_subcommand(1);
  auto* import = prices->add_subcommand(
      "import", "a LiteLLM price table as catalog YAML; prints what differs from the catalog");
  import->add_option("FILE", args->file, "model_prices_and_context_window.json")->required();
  import->add_option("--provider,-p", args->provider,
                     "one provider of the catalog (default: every one the file prices)");
  import->add_option("--out,-o", args->out,
                     "write the YAML here (default: stdout; the differences then go to "
                     "stderr)");
  import
      ->add_option("--config,-c", args->config_path,
                   "the catalog in use (default: the embedded one)")
      ->check(CLI::ExistingFile);
  commands.emplace_back(
      import, [args] { return rules::prices_import_command(*args, std::cout, std::cerr); });
}

void add_version_and_defaults(CLI::App& app, Commands& commands) {
  commands.emplace_back(app.add_subcommand("version", "print the version"), [] {
    std::cout << "tollgate " << TOLLGATE_VERSION << "\n";
    return 0;
  });
  commands.emplace_back(app.add_subcommand("defaults", "print the embedded default config (YAML)"),
                        [] {
                          std::cout << rules::embedded_defaults_text();
                          return 0;
                        });
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything allocates through OpenSSL (proxy/openssl_buffers.hpp).
  proxy::install_openssl_buffer_cache();
  CLI::App app{"tollgate: a budget-enforcing forward proxy for paid APIs"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("tollgate ") + TOLLGATE_VERSION);
  Commands commands;
  const Action run = add_run(app, commands);
  add_check(app, commands);
  add_ca(app, commands);
  add_estimate(app, commands);
  add_status(app, commands);
  add_report(app, commands);
  add_receipts(app, commands);
  add_key_id(app, commands);
  add_prices(app, commands);
  add_version_and_defaults(app, commands);

  CLI11_PARSE(app, argc, argv);
  try {
    for (const auto& [cmd, action] : commands)
      if (cmd->parsed()) return action();
    return run();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
