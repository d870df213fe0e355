#pragma once
// One configuration problem, located in its file.

#include <string>

namespace rules {

struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
  std::string message;

  // "FILE:LINE:COL: message" ("FILE: message" when the position is unknown).
  std::string str() const {
    if (line == 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
  }
};

}  // namespace rules
