#pragma once
// The offline commands of the CLI (DESIGN §3): `tollgate check` and `tollgate estimate`.
// They write to the given streams and return the process exit code.

#include <chrono>
#include <ostream>
#include <string>
#include <vector>

namespace rules {

// Validates the config (the embedded defaults when `config_path` is empty): every problem to
// `err` as FILE:LINE:COL: message and 1; else a one-line summary to `out` and 0, with a warning
// to `err` when the prices were checked more than k_catalog_max_age_days before `now`.
int check_command(const std::string& config_path, std::ostream& out, std::ostream& err,
                  std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

struct EstimateArgs {
  std::string config_path, url, method = "GET", data;  // data: JSON text or @file
  std::vector<std::string> headers;                    // "Name: value"
  bool json = false;
};

// Prices one request offline. Exit 0: priced; 1: refused (unknown model...) or invalid config;
// 2: bad arguments (URL, unreadable @file, malformed header).
int estimate_command(const EstimateArgs& args, std::ostream& out, std::ostream& err);

struct PricesImportArgs {
  std::string file;         // LiteLLM's model_prices_and_context_window.json
  std::string provider;     // "": every provider of the catalog with entries in the file
  std::string out;          // "" or "-": the YAML to `out`
  std::string config_path;  // the catalog in use: this config, else the embedded defaults
};

// `tollgate prices import`: the file's prices of each provider as catalog YAML (to args.out,
// else `out`), and every price that differs from the catalog in use, model by model (to `out`
// when the YAML went to a file, else to `err`). Exit 0: written; 1: unreadable file or config;
// 2: bad arguments (a provider the catalog does not have).
int prices_import_command(const PricesImportArgs& args, std::ostream& out, std::ostream& err);

}  // namespace rules
