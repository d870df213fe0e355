// tollgate command line (DESIGN §3).
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "admin/report_command.hpp"
#include "admin/status_command.hpp"
#include "app/receipts_command.hpp"
#include "app/runtime.hpp"
#include "proxy/cert_store.hpp"
#include "rules/commands.hpp"
#include "rules/config_loader.hpp"
#include "rules/config_values.hpp"
#include "rules/credential.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tollgate: a budget-enforcing forward proxy for paid APIs"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string("tollgate ") + TOLLGATE_VERSION);

  // `tollgate [run] [--config FILE]`: the options of run are accepted without the verb too.
  std::string config_path;
  ListenOverrides listen;
  auto* run = app.add_subcommand("run", "start the proxy (embedded defaults without --config)");
  for (auto* cmd : {&app, run}) {
    cmd->add_option("--config,-c", config_path, "config file")->check(CLI::ExistingFile);
    cmd->add_option("--listen", listen.listen,
                    "proxy address HOST:PORT (over the config's listen)");
    cmd->add_option("--admin-listen", listen.admin_listen,
                    "admin address HOST:PORT (over the config's admin.listen)");
  }

  std::string check_path;
  auto* check =
      app.add_subcommand("check", "validate a config; print FILE:LINE:COL: message per problem");
  check->add_option("--config,-c", check_path, "config file")->check(CLI::ExistingFile);

  auto* ca = app.add_subcommand("ca", "the tollgate CA");
  ca->require_subcommand(1);
  std::string ca_dir = "./tollgate-data/ca";
  auto* ca_init_cmd =
      ca->add_subcommand("init", "create the CA (ECDSA P-256, key 0600) if absent; print its path");
  ca_init_cmd->add_option("--dir", ca_dir, "folder of ca.crt and ca.key");
  std::string bundle_out, bundle_dir, bundle_config;
  auto* ca_bundle_cmd = ca->add_subcommand(
      "bundle", "system roots + the tollgate CA (for SSL_CERT_FILE, REQUESTS_CA_BUNDLE)");
  ca_bundle_cmd->add_option("--out,-o", bundle_out, "write here (default: stdout)");
  ca_bundle_cmd->add_option("--dir", bundle_dir,
                            "CA folder (default: from --config or the defaults)");
  ca_bundle_cmd->add_option("--config,-c", bundle_config, "config file naming tls.ca_cert")
      ->check(CLI::ExistingFile);

  rules::EstimateArgs estimate_args;
  auto* estimate = app.add_subcommand("estimate", "price one request offline");
  estimate->add_option("--config,-c", estimate_args.config_path, "config file")
      ->check(CLI::ExistingFile);
  estimate->add_option("--url", estimate_args.url, "request URL")->required();
  estimate->add_option("--method,-X", estimate_args.method, "HTTP method");
  estimate->add_option("--data,-d", estimate_args.data, "body: JSON text or @file");
  estimate->add_option("-H,--header", estimate_args.headers, "'Name: value'");
  estimate->add_flag("--json", estimate_args.json, "one JSON object");

  std::string admin_url, status_config;
  bool status_json = false;
  auto* status = app.add_subcommand("status", "budgets and balances of a running tollgate");
  status->add_option(
      "--admin", admin_url,
      "admin URL (default: from --config, else " + std::string(proxy::k_default_admin_url) + ")");
  status->add_option("--config,-c", status_config, "read the admin address from this config")
      ->check(CLI::ExistingFile);
  status->add_flag("--json", status_json, "JSON instead of a table");

  proxy::ReportOptions report_options;
  std::string report_config;
  auto* report = app.add_subcommand("report", "spend of a running tollgate, grouped");
  report->add_option(
      "--admin", report_options.admin_url,
      "admin URL (default: from --config, else " + std::string(proxy::k_default_admin_url) + ")");
  report->add_option("--config,-c", report_config, "read the admin address from this config")
      ->check(CLI::ExistingFile);
  report->add_option("--since", report_options.since,
                     "RFC 3339 time or a duration back from now (default 24h)");
  report->add_option("--until", report_options.until, "RFC 3339 time or a duration back from now");
  report->add_option("--by", report_options.by,
                     "model, client, credential, provider, endpoint, budget, day or hour "
                     "(comma-separated for several; default model)");
  report->add_option("--currency", report_options.currency, "only this currency");
  report->add_option("--top", report_options.top, "only the N groups that spent the most");
  report->add_flag("--csv", report_options.csv, "CSV instead of a table");

  auto* receipts = app.add_subcommand("receipts", "the signed receipts of cost records");
  receipts->require_subcommand(1);
  std::string receipts_file, receipts_key;
  auto* receipts_verify = receipts->add_subcommand(
      "verify", "check an export of GET /v1/receipts offline: hashes, links, signatures");
  receipts_verify->add_option("FILE", receipts_file, "the NDJSON export")
      ->required()
      ->check(CLI::ExistingFile);
  receipts_verify->add_option("--key", receipts_key, "public key PEM (GET /v1/receipts/key)")
      ->check(CLI::ExistingFile);

  std::string key;
  auto* key_id = app.add_subcommand(
      "key-id", "the id a provider key appears under in budgets, records and metrics");
  key_id->add_option("KEY", key, "the key, bare or as 'Bearer KEY'")->required();

  auto* prices = app.add_subcommand("prices", "LiteLLM's price table and the catalog");
  prices->require_subcommand(1);
  rules::PricesImportArgs import_args;
  auto* prices_import = prices->add_subcommand(
      "import", "a LiteLLM price table as catalog YAML; prints what differs from the catalog");
  prices_import->add_option("FILE", import_args.file, "model_prices_and_context_window.json")
      ->required();
  prices_import->add_option("--provider,-p", import_args.provider,
                            "one provider of the catalog (default: every one the file prices)");
  prices_import->add_option("--out,-o", import_args.out,
                            "write the YAML here (default: stdout; the differences then go to "
                            "stderr)");
  prices_import
      ->add_option("--config,-c", import_args.config_path,
                   "the catalog in use (default: the embedded one)")
      ->check(CLI::ExistingFile);

  auto* version = app.add_subcommand("version", "print the version");
  auto* defaults = app.add_subcommand("defaults", "print the embedded default config (YAML)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (version->parsed()) {
      std::cout << "tollgate " << TOLLGATE_VERSION << "\n";
      return 0;
    }
    if (key_id->parsed()) {
      const auto id = rules::key_id(key);
      if (id.empty()) {
        std::cerr << "key-id: the key is empty\n";
        return 1;
      }
      std::cout << id << "\n";
      return 0;
    }
    if (check->parsed()) return rules::check_command(check_path, std::cout, std::cerr);
    if (prices_import->parsed())
      return rules::prices_import_command(import_args, std::cout, std::cerr);
    if (estimate->parsed()) return rules::estimate_command(estimate_args, std::cout, std::cerr);
    if (defaults->parsed()) {
      std::cout << rules::embedded_defaults_text();
      return 0;
    }
    if (status->parsed()) {
      if (admin_url.empty() && !status_config.empty()) admin_url = admin_url_of(status_config);
      if (admin_url.empty() && !status_config.empty()) return 1;
      if (admin_url.empty()) admin_url = proxy::k_default_admin_url;
      return proxy::status_command(admin_url, status_json, std::cout, std::cerr);
    }
    if (report->parsed()) {
      auto& url = report_options.admin_url;
      if (url.empty() && !report_config.empty()) url = admin_url_of(report_config);
      if (url.empty() && !report_config.empty()) return 1;
      if (url.empty()) url = proxy::k_default_admin_url;
      return proxy::report_command(report_options, std::cout, std::cerr);
    }
    if (receipts_verify->parsed())
      return proxy::receipts_verify_command(receipts_file, receipts_key, std::cout, std::cerr);
    if (ca_init_cmd->parsed()) return ca_init(ca_dir);
    if (ca_bundle_cmd->parsed()) return ca_bundle(bundle_config, bundle_dir, bundle_out);
    return run_command(config_path, listen);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
