#!/usr/bin/env bash
# Interleaved A/B of ledger_bench builds on one throwaway Redis: per round and build, the
# benchmarks matching FILTER, then what Redis itself spent (INFO commandstats): Redis µs per
# reserve + settle (evalsha usec / zadd calls: one ZADD per reservation) and operations per EVALSHA.
# usage: bench/ledger_ab.sh [--rounds N] [--filter REGEX] BIN [BIN...]
set -euo pipefail
ROUNDS=3
FILTER='redis_loop/16'
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --filter) FILTER=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: $0 [--rounds N] [--filter REGEX] BIN [BIN...]" >&2; exit 2; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >"$DIR/log" 2>&1 &
REDIS=$!
trap 'kill $REDIS 2>/dev/null; wait $REDIS 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
stat() { # stat COMMAND FIELD
  redis-cli -p "$PORT" info commandstats | tr -d '\r' | grep "^cmdstat_$1:" | tr ':,' '\n\n' |
    sed -n "s/^$2=//p"
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    redis-cli -p "$PORT" flushall >/dev/null
    redis-cli -p "$PORT" config resetstat >/dev/null
    out=$(TOLLGATE_BENCH_REDIS_URL="redis://127.0.0.1:$PORT/0" "$bin" --benchmark_filter="$FILTER" \
      --benchmark_min_time=1.5 2>&1 | grep -E '^redis' || true)
    python3 - "$r" "$bin" "$(stat evalsha usec)" "$(stat evalsha calls)" "$(stat zadd calls)" "$out" <<'PY'
import re, sys
r, binary, usec, calls, zadd, out = sys.argv[1:]
usec, calls, zadd = (int(x or 0) for x in (usec, calls, zadd))
for line in out.splitlines():
    name = line.split()[0]
    rate = re.search(r"items_per_second=(\S+)", line)
    p99 = re.search(r"p99_us=(\S+)", line)
    print(f"round {r} {binary} {name} {rate.group(1) if rate else '-'}"
          + (f" p99_us={p99.group(1)}" if p99 else ""))
if zadd and calls:
    print(f"round {r} {binary} redis_us_per_reserve_settle={usec / zadd:.1f} ops_per_evalsha={2 * zadd / calls:.1f}")
PY
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
