#!/usr/bin/env bash
# Every C++ file is as .clang-format says (`make format` fixes it).
set -euo pipefail
cd "${TOLLGATE_SOURCE_DIR:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "clang-format missing (scripts/install-deps test installs it)"; exit 1; }
bad=$(git ls-files '*.cpp' '*.hpp' | while read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done)
if [ -n "$bad" ]; then
  echo "not formatted (make format):"; echo "$bad"; exit 1
fi
echo "format: every C++ file matches .clang-format"
