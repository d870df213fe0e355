#pragma once
// Rows of text in aligned columns, for the terminal tables of `tollgate status` and `report`.

#include <algorithm>
#include <string>
#include <vector>

namespace proxy {

// Appends `rows` to `out`, each cell padded to its column's widest, two spaces between columns;
// columns from `right_from` on are aligned right (numbers).
inline void format_columns(const std::vector<std::vector<std::string>>& rows, std::string& out,
                           std::size_t right_from = static_cast<std::size_t>(-1)) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::size_t pad = width[i] - row[i].size();
      if (i >= right_from) line.append(pad, ' ');
      line += row[i];
      if (i + 1 < row.size()) line.append((i >= right_from ? 0 : pad) + 2, ' ');
    }
    out += line + "\n";
  }
}

}  // namespace proxy
