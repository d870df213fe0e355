#pragma once
// The shipped rules/catalog/*.yaml files, compiled into the binary (rules/CMakeLists.txt
// generates their table), so that `tollgate` with no config works from any directory.

#include <optional>
#include <string_view>
#include <vector>

namespace rules {

// The text of catalog file `name` ("openai", "keepa", ...), or nullopt.
std::optional<std::string_view> embedded_catalog_file(std::string_view name);

// Every embedded catalog name, in file-name order.
std::vector<std::string_view> embedded_catalog_names();

}  // namespace rules
