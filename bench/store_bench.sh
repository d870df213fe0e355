#!/usr/bin/env bash
# The ledger stores side by side (issue 15, DESIGN §10): the same intercepted, priced and settled
# POSTs through two tollgates, one with the SQLite store and one with the Redis store (a local
# redis-server), each given one worker, rounds interleaved so that both see the same machine; then
# bench/ledger_bench's reserve + settle on SQLite and on Redis. Appends a dated section to
# bench/RESULTS.md with the load average: on a shared machine, the ratios of one run are what count.
#
# usage: bench/store_bench.sh [--rounds N] [--requests N] [--results FILE] [--no-build]
#                             [--baseline TOLLGATE_BINARY]
# --baseline adds a third tollgate on the same Redis, another build (an earlier Redis client).
set -euo pipefail
. "$(dirname "$0")/pki.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
ROUNDS=5
REQUESTS=5000
CONCURRENCY=32
RESULTS=$ROOT/bench/RESULTS.md
DO_BUILD=1
BASELINE=
COMMAND_LINE="bench/store_bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --baseline) BASELINE=$2; shift 2 ;;
    *) echo "store_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3
DIR=$(mktemp -d /tmp/tollgate-store-bench.XXXXXX)
chmod 755 "$DIR"
PIDS=()
log() { printf '[store-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$DO_BUILD" = 1 ]; then
  log "building tollgate, loadgen and ledger_bench in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTOLLGATE_BENCH=ON -DTOLLGATE_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target loadgen tollgate ledger_bench >/dev/null
fi
LOADGEN=$BUILD/loadgen
TOLLGATE=${TOLLGATE_BIN:-$BUILD/tollgate}

read -r NGINX_PORT REDIS_PORT SQLITE_PORT SQLITE_ADMIN REDIS_TG_PORT REDIS_ADMIN BASE_PORT BASE_ADMIN < <("$PY" - <<'PYEOF'
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PYEOF
)
mkdir -p "$DIR"/{ca,nginx,www/files,redis,sqlite/data,redis-tg/data,baseline/data}
make_upstream_pki "$DIR/ca" "tollgate store bench upstream CA"
CHAT_JSON='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}'
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}' >"$DIR/chat.json"
sed -e "s|@DIR@|$DIR|g" -e "s|@NGINX_PORT@|$NGINX_PORT|g" -e "s|@CHAT_JSON@|$CHAT_JSON|g" \
  "$ROOT/bench/conf/nginx.conf.in" >"$DIR/nginx/nginx.conf"

tollgate_config() {  # tollgate_config NAME PORT ADMIN STORE
  cat >"$DIR/$1/tollgate.yaml" <<YAML
listen: 127.0.0.1:$2
admin: { listen: 127.0.0.1:$3 }
data_dir: $DIR/$1/data
threads: 1
tls:
  upstream_trust: $DIR/ca/ca.crt
upstream:
  resolve:
    api.openai.com:443: 127.0.0.1:$NGINX_PORT
store: $4
include: [catalog:openai]
budgets:
  - { name: bench, currency: usd, limit: 1000000, period: total }
  - { name: daily, currency: usd, limit: 1000000, period: day, per: client }
YAML
}
tollgate_config sqlite "$SQLITE_PORT" "$SQLITE_ADMIN" "{ type: sqlite }"
tollgate_config redis-tg "$REDIS_TG_PORT" "$REDIS_ADMIN" \
  "{ type: redis, redis: { url: \"redis://127.0.0.1:$REDIS_PORT/0\", prefix: \"bench:\" } }"
tollgate_config baseline "$BASE_PORT" "$BASE_ADMIN" \
  "{ type: redis, redis: { url: \"redis://127.0.0.1:$REDIS_PORT/0\", prefix: \"baseline:\" } }"

wait_port() {  # wait_port PORT NAME PID
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { log "$2 exited"; return 1; }
    sleep 0.1
  done
  log "$2 not listening on $1"; return 1
}
nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" >"$DIR/nginx/stdout" 2>&1 &
PIDS+=($!); wait_port "$NGINX_PORT" nginx $!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR/redis" \
  >"$DIR/redis/stdout" 2>&1 &
PIDS+=($!); wait_port "$REDIS_PORT" redis-server $!
CASES=(sqlite redis-tg)
[ -n "$BASELINE" ] && CASES+=(baseline)
for t in "${CASES[@]}"; do
  bin=$TOLLGATE
  [ "$t" = baseline ] && bin=$BASELINE
  "$bin" run --config "$DIR/$t/tollgate.yaml" >"$DIR/$t/stdout" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "CA bundle" "$DIR/$t/stdout" && break; sleep 0.1; done
done

POST=(--method POST --path /v1/chat/completions --body-file "$DIR/chat.json" -c "$CONCURRENCY" -n "$REQUESTS")
run_case() {  # run_case NAME PORT DATA
  timeout 300 "$LOADGEN" --via connect --dial "127.0.0.1:$2" --target api.openai.com:443 \
    --sni api.openai.com --cafile "$DIR/$3/data/ca/ca.crt" "${POST[@]}" 2>&1 | tail -1
}
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_AT_START; $ROUNDS rounds of $REQUESTS POSTs, $CONCURRENCY connections"
RAW=$DIR/raw.txt
: >"$RAW"
for round in $(seq "$ROUNDS"); do
  for t in sqlite redis ${BASELINE:+baseline}; do
    case $t in
      sqlite) out=$(run_case sqlite "$SQLITE_PORT" sqlite) ;;
      redis) out=$(run_case redis "$REDIS_TG_PORT" redis-tg) ;;
      baseline) out=$(run_case baseline "$BASE_PORT" baseline) ;;
    esac
    echo "$t $round $out" >>"$RAW"
    log "$t round $round: $out"
  done
done
LOAD_AT_END=$(cut -d' ' -f1-3 /proc/loadavg)
# Store latency, queued to answered (tollgate_store_seconds from the Redis sidecar): what an
# exchange waits for its reservation; its close it no longer waits for.
curl -s "http://127.0.0.1:$REDIS_ADMIN/metrics" | grep '^tollgate_store_seconds' >"$DIR/store_seconds.txt" || true
LEDGER=$(TOLLGATE_BENCH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" timeout 600 "$BUILD/ledger_bench" \
  --benchmark_filter='^(sqlite|redis)/' --benchmark_min_time=1 2>&1 | grep -E '^(sqlite|redis)/|Load Average' || true)

"$PY" - "$RAW" "$DIR/store_seconds.txt" >"$DIR/summary.md" <<'PYEOF'
import re, statistics, sys
rps = {"sqlite": [], "redis": [], "baseline": []}
for line in open(sys.argv[1]):
    t, _, rest = line.split(" ", 2)
    m = re.search(r"rps=([\d.]+)", rest)
    if m: rps[t].append(float(m.group(1)))
print("| store | req/s per round | median req/s |")
print("|---|---|---|")
for t in ("sqlite", "redis", "baseline"):
    if not rps[t]: continue
    print("| %s | %s | %.0f |" % (t, " ".join("%.0f" % v for v in rps[t]), statistics.median(rps[t]) if rps[t] else 0))
ratios = [r / s for r, s in zip(rps["redis"], rps["sqlite"]) if s]
if ratios:
    print("\nredis / sqlite per round: %s (median %.2f; target >= 0.8)" % (" ".join("%.2f" % r for r in ratios), statistics.median(ratios)))
base = [b / s for b, s in zip(rps["baseline"], rps["sqlite"]) if s]
if base:
    print("baseline / sqlite per round: %s (median %.2f)" % (" ".join("%.2f" % r for r in base), statistics.median(base)))
# The reserve and close latency histogram: p99 from the buckets.
buckets = {}
for line in open(sys.argv[2]):
    m = re.match(r'tollgate_store_seconds_bucket\{le="([^"]+)",op="(\w+)",store="redis"\} (\d+)', line) or \
        re.match(r'tollgate_store_seconds_bucket\{op="(\w+)",store="redis",le="([^"]+)"\} (\d+)', line)
    if not m: continue
    if line.startswith('tollgate_store_seconds_bucket{le'):
        le, op, n = m.group(1), m.group(2), int(m.group(3))
    else:
        op, le, n = m.group(1), m.group(2), int(m.group(3))
    buckets.setdefault(op, []).append((float("inf") if le == "+Inf" else float(le), n))
for op in ("reserve", "close"):
    b = sorted(buckets.get(op, []))
    if not b: continue
    total = b[-1][1]
    p = next(le for le, n in b if n >= 0.99 * total)
    q = next(le for le, n in b if n >= 0.5 * total)
    print("Redis %s, queued to answered (tollgate_store_seconds, %d calls): p50 <= %g ms, p99 <= %g ms" % (op, total, q * 1000, p * 1000))
PYEOF
{
  echo
  echo "## Stores side by side — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "\`$COMMAND_LINE\` on $(nproc) cores; load average $LOAD_AT_START at the start, $LOAD_AT_END at the end."
  echo "Intercepted, priced and settled POSTs (loadgen, $CONCURRENCY connections, $REQUESTS per round),"
  echo "one worker per tollgate, two budgets per request, rounds interleaved."
  [ -n "$BASELINE" ] && echo "baseline: \`$BASELINE\` on the same Redis."
  echo
  cat "$DIR/summary.md"
  echo
  echo '```'
  echo "$LEDGER"
  echo '```'
} >>"$RESULTS"
cat "$DIR/summary.md"
echo "$LEDGER"
