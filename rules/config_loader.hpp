#pragma once
// Loading the YAML config (DESIGN §4): includes, ${ENV}, every value typed and checked. Loading
// never stops at the first problem: a LoadResult carries either a config or all of its errors.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rules/config.hpp"
#include "rules/diagnostic.hpp"

namespace rules {

struct LoadResult {
  std::shared_ptr<const Config> config;  // nullptr when errors is not empty
  std::vector<Diagnostic> errors;
};

// Reads `path` and everything it includes (relative to the including file; `catalog:NAME` names
// a shipped catalog file, e.g. catalog:openai). Later definitions override included ones.
LoadResult load_config_file(const std::string& path);

// The same from text; `file_name` appears in messages, relative paths resolve from `base_dir`.
LoadResult load_config_text(std::string_view yaml, const std::string& file_name,
                            const std::string& base_dir);

// DESIGN §5: the shipped catalog, one `daily` budget of 50 USD, data_dir <base_dir>/tollgate-data.
LoadResult load_embedded_defaults(const std::string& base_dir);

// The YAML text of the embedded defaults (for `tollgate` with no config, and the docs).
std::string_view embedded_defaults_text();

}  // namespace rules
