#include "rules/embedded_catalog.hpp"

#include <cstddef>

namespace rules::generated {
struct CatalogEntry {
  std::string_view name, text;
};
extern const CatalogEntry k_catalog[];
extern const std::size_t k_catalog_size;
}  // namespace rules::generated

namespace rules {

std::optional<std::string_view> embedded_catalog_file(std::string_view name) {
  for (std::size_t i = 0; i < generated::k_catalog_size; ++i)
    if (generated::k_catalog[i].name == name) return generated::k_catalog[i].text;
  return std::nullopt;
}

std::vector<std::string_view> embedded_catalog_names() {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < generated::k_catalog_size; ++i)
    names.push_back(generated::k_catalog[i].name);
  return names;
}

}  // namespace rules
