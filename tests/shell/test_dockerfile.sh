#!/usr/bin/env bash
# The image cannot be built here (no container engine), so check what would break it: every shared
# library the built tollgate links must come from a package the runtime stage installs (or one
# bookworm-slim already has), and .dockerignore must keep what the build stage compiles.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${TOLLGATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${TOLLGATE_BIN:-$repo/build/tollgate}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "TOLLGATE_BIN $bin is not an executable"
command -v dpkg >/dev/null || { echo "skip: no dpkg to map libraries to packages"; exit 0; }

# Packages of the runtime stage's apt-get install, plus what bookworm-slim ships (libc and the C++
# runtime that apt itself needs).
runtime=$(sed -n '/^FROM debian:bookworm-slim/,/^FROM /p' "$repo/Dockerfile" \
  | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' \
  | grep -vE '^(apt-get|install|rm|y|no|recommends)$' || true)
[ -n "$runtime" ] || fail "no apt-get install in the bookworm-slim stage"
present="libc6 libgcc-s1 libstdc++6 $runtime"

package_of() {
  local lib=$1 p
  for path in "$lib" "$(realpath "$lib")" "/usr$lib"; do
    p=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$p" ] && { echo "$p"; return; }
  done
}

missing=()
count=0
while read -r lib; do
  pkg=$(package_of "$lib")
  [ -n "$pkg" ] || fail "$lib belongs to no Debian package"
  count=$((count + 1))
  grep -qw -- "$pkg" <<<"$present" || missing+=("$pkg ($lib)")
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
[ ${#missing[@]} -eq 0 ] || fail "the runtime stage does not install: ${missing[*]}"
if ldd "$bin" | grep -q 'not found'; then fail "ldd: $(ldd "$bin" | grep 'not found')"; fi

# .dockerignore must not drop what cmake needs from the context.
for needed in CMakeLists.txt scripts/install-deps rules/catalog proxy budget rules; do
  while read -r pattern; do
    case "$pattern" in ''|'#'*) continue ;; esac
    # shellcheck disable=SC2254
    case "$needed" in $pattern|$pattern/*) fail ".dockerignore pattern '$pattern' drops $needed" ;; esac
  done < "$repo/.dockerignore"
done
echo "dockerfile: $count linked libraries, all from runtime packages: $(echo $runtime)"
