#include "rules/config_loader.hpp"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rules/config_sections.hpp"
#include "rules/config_values.hpp"
#include "rules/embedded_catalog.hpp"
#include "rules/yaml_reader.hpp"

namespace rules {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_defaults = R"(# tollgate embedded defaults (DESIGN §5)
listen: 127.0.0.1:8080
admin:
  listen: 127.0.0.1:9090
  token: ${TOLLGATE_ADMIN_TOKEN:-}
data_dir: ./tollgate-data
store:
  type: sqlite
include: [catalog:openai, catalog:anthropic, catalog:gemini, catalog:keepa, catalog:veo]
budgets:
  - name: daily
    currency: usd
    limit: 50
    period: day
    timezone: UTC
    alerts: [80%, 90%, 100%]
)";

constexpr int k_max_include_depth = 16;

// Builds one Config from a main file and its includes, applied in order (includes first).
class Loader {
 public:
  std::vector<Diagnostic> errors;
  Config config;
  bool data_dir_set = false, store_path_set = false, ca_cert_set = false, ca_key_set = false;

  void load_text(std::string_view text, const std::string& file, const std::string& dir) {
    if (stack_.size() > k_max_include_depth) {
      errors.push_back({file, 0, 0, "includes nest deeper than 16 files"});
      return;
    }
    stack_.push_back(file);
    YAML::Node root;
    try {
      root = YAML::Load(protect_env_refs(text));
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp parses recursively and stops itself at a fixed depth, with the message "bad file".
      errors.push_back({file, e.mark.line + 1, e.mark.column + 1,
                        "nesting deeper than " + std::to_string(e.depth() - 1) + " levels"});
      stack_.pop_back();
      return;
    } catch (const YAML::Exception& e) {
      errors.push_back({file, e.mark.line + 1, e.mark.column + 1, "YAML syntax: " + e.msg});
      stack_.pop_back();
      return;
    }
    YamlReader reader(file, dir, errors);
    if (!root.IsNull()) apply(reader, root);
    stack_.pop_back();
  }

  void load_file(const std::string& path, const YAML::Node* from, YamlReader* includer) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      const std::string message =
          "cannot read " + std::string(from ? "included " : "") + "file '" + path + "'";
      if (includer && from)
        includer->error(*from, message);
      else
        errors.push_back({path, 0, 0, message});
      return;
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (!stack_.empty()) config.included_files.push_back(path);
    load_text(text.str(), path, fs::path(path).parent_path().string());
  }

 private:
  std::vector<std::string> stack_;

  void apply(YamlReader& r, const YAML::Node& root) {
    if (!r.expect_map(root, "the config",
                      {"listen",   "admin",          "data_dir", "threads",     "tls",
                       "upstream", "tunnel",         "clients",  "base_url",    "store",
                       "include",  "providers",      "budgets",  "rate_limits", "breakers",
                       "alerts",   "max_body_bytes", "checked",  "records",     "receipts"}))
      return;
    if (root["include"]) include(r, root["include"]);
    if (root["checked"]) checked(r, root);
    data_dir_set |= bool(root["data_dir"]);
    store_path_set |= root["store"] && root["store"].IsMap() && root["store"]["path"];
    ca_cert_set |= root["tls"] && root["tls"].IsMap() && root["tls"]["ca_cert"];
    ca_key_set |= root["tls"] && root["tls"].IsMap() && root["tls"]["ca_key"];
    detail::apply_top_level(r, root, config);
    if (root["providers"]) providers(r, root["providers"]);
    if (root["budgets"])
      named_list(r, root["budgets"], "budgets", config.budgets, detail::parse_budget);
    if (root["rate_limits"])
      named_list(r, root["rate_limits"], "rate_limits", config.rate_limits,
                 detail::parse_rate_limit);
    if (root["breakers"])
      named_list(r, root["breakers"], "breakers", config.breakers, detail::parse_breaker);
  }

  // `checked: 2026-12-02` dates the prices of the file it is in (a catalog file: one that defines
  // providers); the config keeps the oldest. A file without providers has no prices to date.
  void checked(YamlReader& r, const YAML::Node& root) {
    const auto& node = root["checked"];
    if (!root["providers"]) {
      r.error(node,
              "'checked' dates the prices of a catalog file: this file defines no "
              "providers");
      return;
    }
    const auto text = r.string(node, "checked");
    if (!text) return;
    int y = 0;
    unsigned m = 0, d = 0;
    char dash1 = 0, dash2 = 0;
    std::istringstream in(*text);
    in >> y >> dash1 >> m >> dash2 >> d;
    const std::chrono::year_month_day date{std::chrono::year{y}, std::chrono::month{m},
                                           std::chrono::day{d}};
    if (!in || in.peek() != EOF || dash1 != '-' || dash2 != '-' || text->size() != 10 ||
        !date.ok()) {
      r.error(node, "'checked' must be a date like 2026-12-02, got '" + *text + "'");
      return;
    }
    const std::chrono::sys_days day{date};
    if (!config.catalog_checked || day < *config.catalog_checked) {
      config.catalog_checked = day;
      config.catalog_checked_file = r.file();
    }
  }

  void include(YamlReader& r, const YAML::Node& node) {
    const auto names = r.strings(node, "include");
    if (!names) return;
    for (std::size_t i = 0; i < names->size(); ++i) {
      const auto& name = (*names)[i];
      const YAML::Node item = node.IsSequence() ? node[i] : node;
      if (name.starts_with("catalog:")) {
        const auto text = embedded_catalog_file(name.substr(8));
        if (!text) {
          r.error(item, "no shipped catalog named '" + name.substr(8) + "'");
          continue;
        }
        load_text(*text, name, r.dir());
        continue;
      }
      const auto path = r.path(name);
      if (std::find(stack_.begin(), stack_.end(), path) != stack_.end()) {
        r.error(item, "include cycle: '" + path + "' includes itself");
        continue;
      }
      load_file(path, &item, &r);
    }
  }

  void providers(YamlReader& r, const YAML::Node& node) {
    if (!node.IsMap()) {
      r.error(node, "'providers' must be a mapping of provider name to provider");
      return;
    }
    std::vector<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const auto name = it->first.Scalar();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        r.error(it->first, "duplicate provider '" + name + "'");
        continue;
      }
      seen.push_back(name);
      auto existing = std::find_if(config.providers.begin(), config.providers.end(),
                                   [&](const Provider& p) { return p.name == name; });
      if (existing == config.providers.end()) {
        config.providers.push_back(Provider{});
        existing = config.providers.end() - 1;
        existing->name = name;
      }
      detail::apply_provider(r, it->second, *existing);
    }
  }

  template <typename T, typename Parse>
  void named_list(YamlReader& r, const YAML::Node& node, const char* what, std::vector<T>& into,
                  Parse parse) {
    if (!r.expect_sequence(node, what)) return;
    std::vector<std::string> seen;
    for (const auto& item : node) {
      auto parsed = parse(r, item);
      if (!parsed) continue;
      if (std::find(seen.begin(), seen.end(), parsed->name) != seen.end()) {
        r.error(item, "duplicate name '" + parsed->name + "' in " + what);
        continue;
      }
      seen.push_back(parsed->name);
      auto existing = std::find_if(into.begin(), into.end(),
                                   [&](const T& t) { return t.name == parsed->name; });
      if (existing != into.end())
        *existing = std::move(*parsed);
      else
        into.push_back(std::move(*parsed));
    }
  }
};

LoadResult finish(Loader& loader, const std::string& source, const std::string& base_dir) {
  Config& c = loader.config;
  c.source_file = source;
  if (!loader.data_dir_set)
    c.data_dir = (fs::path(base_dir) / "tollgate-data").lexically_normal().string();
  if (!loader.store_path_set) c.store.path = (fs::path(c.data_dir) / "ledger.db").string();
  if (!loader.ca_cert_set) c.tls.ca_cert = (fs::path(c.data_dir) / "ca" / "ca.crt").string();
  if (!loader.ca_key_set) c.tls.ca_key = (fs::path(c.data_dir) / "ca" / "ca.key").string();
  // Cross checks run even after parse errors: every problem is reported in one pass.
  detail::validate_config(c, loader.errors);
  LoadResult result;
  result.errors = std::move(loader.errors);
  if (result.errors.empty()) result.config = std::make_shared<const Config>(std::move(c));
  return result;
}

}  // namespace

LoadResult load_config_file(const std::string& path) {
  Loader loader;
  const auto absolute = fs::absolute(path).lexically_normal().string();
  loader.load_file(absolute, nullptr, nullptr);
  return finish(loader, absolute, fs::path(absolute).parent_path().string());
}

LoadResult load_config_text(std::string_view yaml, const std::string& file_name,
                            const std::string& base_dir) {
  Loader loader;
  const auto dir = fs::absolute(base_dir).lexically_normal().string();
  loader.load_text(yaml, file_name, dir);
  return finish(loader, file_name, dir);
}

LoadResult load_embedded_defaults(const std::string& base_dir) {
  Loader loader;
  const auto dir = fs::absolute(base_dir).lexically_normal().string();
  loader.load_text(k_defaults, "<embedded>", dir);
  return finish(loader, "<embedded>", dir);
}

std::string_view embedded_defaults_text() {
  return k_defaults;
}

}  // namespace rules
