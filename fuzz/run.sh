#!/usr/bin/env bash
# Runs the libFuzzer targets built in $FUZZ_BUILD (make fuzz): first every input kept in
# fuzz/regressions/<target>/, then each target for FUZZ_SECONDS on a temporary copy of
# fuzz/corpus/<target>/ (new corpus files never land in the repo). Fails on any crash, leak,
# timeout or UBSan report; the inputs that caused them go to $FUZZ_BUILD/crashes/<target>/.
# FUZZ_TARGETS="sse_parser estimator" runs only those.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-$(ls fuzz/fuzz_*.cpp | sed 's|fuzz/fuzz_\(.*\)\.cpp|\1|')}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$PWD/fuzz/ubsan.supp}
# -timeout: an input that takes this long is a hang, reported like a crash.
common=(-rss_limit_mb=2048 -timeout=25)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-logs"
failed=()

for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built" >&2; failed+=("$t (not built)"); continue; }
  inputs=(fuzz/regressions/"$t"/*)
  [ -e "${inputs[0]}" ] || continue
  echo "fuzz: replaying ${#inputs[@]} regression input(s) for $t"
  if ! "$bin" "${common[@]}" "${inputs[@]}" >"$build/fuzz-logs/$t.replay.log" 2>&1; then
    echo "fuzz: $t fails on a regression input (log: $build/fuzz-logs/$t.replay.log)" >&2
    grep -m3 -E "ERROR|SUMMARY|Running: " "$build/fuzz-logs/$t.replay.log" | tail -n3 >&2
    failed+=("$t (regressions)")
  fi
done

for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || continue
  crashes="$build/crashes/$t"
  mkdir -p "$crashes" "$work/$t"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$work/$t/"
  echo "fuzz: $t for ${seconds}s"
  if "$bin" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="$crashes/" "$work/$t" >"$build/fuzz-logs/$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz-logs/$t.log" |
      tr '\n' ' '
    echo
  else
    echo "fuzz: $t failed (log: $build/fuzz-logs/$t.log, input in $crashes/)" >&2
    grep -m2 -E "SUMMARY|ERROR" "$build/fuzz-logs/$t.log" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets passed"
