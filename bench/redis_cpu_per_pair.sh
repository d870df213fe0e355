#!/usr/bin/env bash
# Redis's own CPU per reserve + settle: runs one ledger_bench case against a running redis-server
# and divides the time Redis spent inside EVALSHA (INFO commandstats) by the pairs the bench made
# (read back from its `total` budget, which every settlement charges 12,345 micro-units). Less
# noisy than a throughput figure on a shared VM, and it is what bounds `redis_loop` when
# redis-server's core is busy. The server is flushed first: use a throw-away one.
#   bench/redis_cpu_per_pair.sh PORT LEDGER_BENCH FILTER   e.g. 16391 build/ledger_bench 'redis_breaker_loop/16'
set -euo pipefail
port=$1 bench=$2 filter=$3
r() { redis-cli -p "$port" "$@"; }
r FLUSHALL >/dev/null
r CONFIG RESETSTAT >/dev/null
rate=$(TOLLGATE_BENCH_REDIS_URL="redis://127.0.0.1:$port/0" "$bench" --benchmark_filter="$filter" \
  --benchmark_min_time=2 2>/dev/null | grep -o 'items_per_second=[^ ]*' | head -1)
key=$(r --scan --pattern '*{total}*' | head -1)
spent=$(r BITFIELD "$key" GET i64 0 | head -1)
usec=$(r INFO commandstats | sed -n 's/^cmdstat_evalsha:.*usec=\([0-9]*\),.*/\1/p')
python3 -c "import sys; p=$spent//12345; print('%s %s pairs=%d evalsha_us_per_pair=%.2f' % (sys.argv[1], sys.argv[2], p, $usec / p))" "$filter" "$rate"
