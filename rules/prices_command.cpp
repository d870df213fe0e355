// `tollgate prices import FILE [--provider P] [--out FILE]` (DESIGN §3): LiteLLM's price table as
// catalog YAML, compared with the catalog in use.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rules/commands.hpp"
#include "rules/config_loader.hpp"
#include "rules/litellm_prices.hpp"

namespace rules {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

int prices_import_command(const PricesImportArgs& args, std::ostream& out, std::ostream& err) {
  std::ifstream in(args.file, std::ios::binary);
  if (!in) {
    err << "prices import: cannot read '" << args.file << "'\n";
    return 1;
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto loaded = args.config_path.empty()
                          ? load_embedded_defaults(std::filesystem::current_path().string())
                          : load_config_file(args.config_path);
  for (const auto& e : loaded.errors) err << e.str() << "\n";
  if (!loaded.config) return 1;

  std::vector<const Provider*> providers;
  std::vector<std::string> names;
  for (const auto& p : loaded.config->providers) {
    names.push_back(p.name);
    if (args.provider.empty() || p.name == args.provider) providers.push_back(&p);
  }
  if (providers.empty()) {
    err << "prices import: the catalog in use has no provider '" << args.provider << "' (it has "
        << joined(names) << ")\n";
    return 2;
  }

  const bool to_file = !args.out.empty() && args.out != "-";
  std::ostream& report = to_file ? out : err;
  std::string yaml = "# Imported by `tollgate prices import` from " +
                     std::filesystem::path(args.file).filename().string() +
                     " (LiteLLM's price table), in USD per 1M tokens\n"
                     "# (per second, per image, per character and per call where so named).\n"
                     "# Include it after the catalog: its models override the catalog's.\n"
                     "providers:\n";
  std::size_t differences = 0;
  for (const Provider* p : providers) {
    const auto accepted = litellm_providers_of(*p);
    std::string error;
    const auto table = read_litellm_table(text.str(), accepted, error);
    if (!table) {
      err << "prices import: '" << args.file << "' is not LiteLLM's table: " << error << "\n";
      return 1;
    }
    for (const auto& problem : table->problems)
      report << p->name << ": left out: " << problem << "\n";
    if (table->models.empty()) {
      // A provider LiteLLM does not price (Keepa): nothing to write or compare.
      if (!args.provider.empty())
        report << p->name << ": no entry of litellm_provider " << joined(accepted) << "\n";
      continue;
    }
    yaml += litellm_models_yaml(p->name, table->models);
    std::vector<std::string> only_catalog, only_table;
    std::size_t both = 0;
    for (const auto& [name, price] : p->models)
      if (table->models.contains(name))
        ++both;
      else
        only_catalog.push_back(name);
    for (const auto& [name, price] : table->models)
      if (!p->models.contains(name)) only_table.push_back(name);
    std::map<std::string, std::int64_t> tool_defaults;
    for (const auto& e : p->endpoints)
      for (const auto& tool : e.tools)
        if (const auto each = tool.each.find(""); each != tool.each.end())
          tool_defaults.emplace(tool.name, each->second);
    const auto diffs = compare_prices(p->models, table->models, tool_defaults);
    differences += diffs.size();
    report << p->name << ": " << p->models.size() << " models in the catalog, "
           << table->models.size() << " in the table (litellm_provider " << joined(accepted)
           << "), " << both << " in both, " << diffs.size()
           << (diffs.size() == 1 ? " price differs\n" : " prices differ\n");
    for (const auto& d : diffs)
      report << p->name << " " << d.model << " " << d.field << ": catalog " << d.catalog
             << ", LiteLLM " << d.litellm << "\n";
    if (!only_catalog.empty())
      report << p->name << ": only in the catalog: " << joined(only_catalog) << "\n";
    if (!only_table.empty())
      report << p->name << ": only in the table: " << joined(only_table) << "\n";
  }

  if (!to_file) {
    out << yaml;
    return 0;
  }
  std::ofstream file(args.out, std::ios::binary | std::ios::trunc);
  if (!(file << yaml)) {
    err << "prices import: cannot write '" << args.out << "'\n";
    return 1;
  }
  report << "wrote " << args.out << " (" << differences
         << (differences == 1 ? " price differs" : " prices differ") << " from the catalog)\n";
  return 0;
}

}  // namespace rules
