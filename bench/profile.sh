#!/usr/bin/env bash
# Profiling harness for one path (issue 6): nginx (the bench upstream) and tollgate only, with
# the same configuration as bench/run.sh, then one workload through tollgate — optionally under
# `perf record` — and the proxy's RSS and context switches around it. Quicker than the
# side-by-side run when measuring one change before and after.
#
# usage: bench/profile.sh [--workload post|get|seq|idle|tunnel] [-n N] [-c N] [--perf FILE]
#                         [--repeat N] [--mode intercept|base-url|both] [--tollgate BIN] [--keep]
#   post|get: -c keep-alive connections (32), -n requests (20000); seq: one connection;
#   idle: -c idle intercepted connections (1000), RSS before/with/after; SMAPS_OUT=FILE keeps
#   tollgate's /proc/PID/smaps as it was when "after" was read (what the burst left, by mapping).
#   tunnel: GETs of a 512-byte file from nginx through a blind tunnel (CONNECT, TLS end to end),
#   -c keep-alive connections (32), -n requests.
#   --mode: how the client reaches the provider: intercepted (CONNECT + TLS, the default), in
#   base-URL mode (plain HTTP, POST /openai/v1/...), or both, one after the other in every
#   repeat on the same tollgate, so that a busy machine slows both alike (post|get|seq only).
#   --perf FILE: perf record -g of tollgate during the workload (perf report -i FILE).
#   PERF_CALL_GRAPH=dwarf: call graphs unwound from the stack (tollgate is built without frame
#   pointers, so -g sees only the innermost frames); PERF_FREQ: samples per second (1999).
#   --strace FILE: strace -c -f of tollgate during the workload (system calls per request);
#   STRACE_FLAGS replaces -c (STRACE_FLAGS='-ttt -T' writes every call with its time instead).
#   --allocs: tollgate runs with the allocation counter (liballoc_count.so, LD_PRELOAD) and each
#   post|get|seq workload prints its heap allocations per request (warm-up excluded).
#   --heaptrack FILE: tollgate runs under heaptrack (FILE.zst; the whole run, warm-up included);
#   bench/alloc_sources.py FILE.zst --requests N then splits its allocations per request by
#   library and by tollgate's own functions. Build tollgate with -DTOLLGATE_JEMALLOC=OFF for it:
#   jemalloc's own operator new is out of heaptrack's sight. (RSS and CPU figures are then not
#   the proxy's alone.)
#   --store sqlite|redis: the ledger store (sqlite, the default; redis starts a redis-server of
#   its own on a free port and puts the budget there, as bench/store_bench.sh does).
set -euo pipefail
. "$(dirname "$0")/pki.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
TOLLGATE=$BUILD/tollgate
LOADGEN=$BUILD/loadgen
WORKLOAD=post
N=20000
C=
PERF_OUT=
STRACE_OUT=
HEAPTRACK_OUT=
REPEAT=1
ALLOCS=0
STORE=sqlite
MODES=(intercept)
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) WORKLOAD=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -c) C=$2; shift 2 ;;
    --perf) PERF_OUT=$2; shift 2 ;;
    --strace) STRACE_OUT=$2; shift 2 ;;
    --heaptrack) HEAPTRACK_OUT=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --mode)
      case "$2" in
        intercept|base-url) MODES=("$2") ;;
        both) MODES=(intercept base-url) ;;
        *) echo "profile.sh: --mode intercept|base-url|both" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --tollgate) TOLLGATE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --allocs) ALLOCS=1; shift ;;
    --store)
      case "$2" in sqlite|redis) STORE=$2 ;; *) echo "profile.sh: --store sqlite|redis" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$C" ] || case "$WORKLOAD" in seq) C=1 ;; idle) C=1000 ;; *) C=32 ;; esac
PY=/usr/bin/python3
DIR=$(mktemp -d /tmp/tollgate-profile.XXXXXX)
chmod 755 "$DIR"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$KEEP" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" || true

read -r NGINX_PORT TOLLGATE_PORT ADMIN_PORT REDIS_PORT < <("$PY" -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
mkdir -p "$DIR"/{ca,nginx,www/files,tollgate/data}
make_upstream_pki "$DIR/ca" "profile CA"
CHAT_JSON='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}'
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}' >"$DIR/chat.json"
head -c 512 /dev/urandom >"$DIR/www/files/512.bin"
head -c 16384 /dev/urandom >"$DIR/www/files/16k.bin"
for f in nginx.conf tollgate.yaml; do
  case $f in nginx.conf) out=$DIR/nginx/nginx.conf ;; *) out=$DIR/tollgate/tollgate.yaml ;; esac
  FIRST_RESOLVE="" FIRST_LIST="first.bench.test" CHAT_JSON=$CHAT_JSON DIR=$DIR NGINX_PORT=$NGINX_PORT \
  SSE_PORT=1 TOLLGATE_PORT=$TOLLGATE_PORT ADMIN_PORT=$ADMIN_PORT "$PY" - "$ROOT/bench/conf/$f.in" "$out" <<'EOF'
import os, re, sys
text = open(sys.argv[1]).read()
names = {"FIRST_HOSTS": "FIRST_LIST"}
text = re.sub(r"@([A-Z_]+)@", lambda m: os.environ[names.get(m.group(1), m.group(1))], text)
open(sys.argv[2], "w").write(text)
EOF
done
if [ "$STORE" = redis ]; then
  mkdir -p "$DIR/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR/redis" \
    >"$DIR/redis/stdout" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break; sleep 0.1; done
  sed -i "s|^  type: sqlite$|  type: redis\n  redis: { url: \"redis://127.0.0.1:$REDIS_PORT/0\", prefix: \"profile:\" }|" \
    "$DIR/tollgate/tollgate.yaml"
  grep -q "type: redis" "$DIR/tollgate/tollgate.yaml" || { echo "profile.sh: no store block to change" >&2; exit 1; }
fi

nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" >"$DIR/nginx/stdout" 2>&1 &
PIDS+=($!)
PRELOAD=()
[ "$ALLOCS" = 1 ] && PRELOAD=(env LD_PRELOAD="$BUILD/liballoc_count.so" ALLOC_COUNT_FILE="$DIR/allocs")
[ -n "$HEAPTRACK_OUT" ] && PRELOAD=(heaptrack -o "$HEAPTRACK_OUT")
"${PRELOAD[@]}" "$TOLLGATE" run --config "$DIR/tollgate/tollgate.yaml" >"$DIR/tollgate/stdout" 2>"$DIR/tollgate/stderr" &
TG=$!; LAUNCHED=$!; PIDS+=($!)
for _ in $(seq 100); do grep -q "proxy listening on" "$DIR/tollgate/stdout" 2>/dev/null && break; sleep 0.1; done
# Under heaptrack, $! is heaptrack's script: the proxy is its child (signals go to it directly;
# the script ends once the recording is written).
[ -n "$HEAPTRACK_OUT" ] && TG=$(pgrep -n -f "^$TOLLGATE run --config $DIR/") && PIDS+=("$TG")
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null && break; sleep 0.1; done
LG=("$LOADGEN" --via connect --dial "127.0.0.1:$TOLLGATE_PORT" --target api.openai.com:443
    --sni api.openai.com --cafile "$DIR/tollgate/data/ca/ca.crt")
LG_TUNNEL=("$LOADGEN" --via connect --dial "127.0.0.1:$TOLLGATE_PORT" --target tunnel.bench.test:443
    --sni tunnel.bench.test --cafile "$DIR/ca/ca.crt")
LG_BASE_URL=("$LOADGEN" --base-url "http://127.0.0.1:$TOLLGATE_PORT/openai")
POST=(--method POST --path /v1/chat/completions --body-file "$DIR/chat.json")
rss() { awk '/^VmRSS/ {print $2}' "/proc/$TG/status"; }
switches() { awk '/ctxt_switches/ {s += $2} END {print s}' /proc/"$TG"/task/*/status; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$TG/stat"; }
allocs() { sleep 0.1; tr -d ' \n' <"$DIR/allocs"; }

"${LG[@]}" -n 200 -c 4 "${POST[@]}" >/dev/null  # warm up: leaf minted, pool filled
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); tollgate RSS after warm-up: $(rss) KiB"
case "$WORKLOAD" in idle|tunnel) MODES=(intercept) ;; esac
for r in $(seq "$REPEAT"); do
  for mode in "${MODES[@]}"; do
    sw0=$(switches); t0=$(cpu_ticks)
    client=("${LG[@]}")
    [ "$mode" = base-url ] && client=("${LG_BASE_URL[@]}")
    [ "${#MODES[@]}" -gt 1 ] && printf 'mode=%s ' "$mode"
    [ "$WORKLOAD" = tunnel ] && client=("${LG_TUNNEL[@]}")
    case "$WORKLOAD" in
      post|seq|get|tunnel)
        args=("${POST[@]}"); [ "$WORKLOAD" = get ] && args=(--method GET --path /v1/chat/completions)
        [ "$WORKLOAD" = tunnel ] && args=(--method GET --path /files/512.bin)
        if [ -n "$PERF_OUT" ] && [ "$r" = 1 ] && [ "$mode" = "${MODES[0]}" ]; then
          perf record -q --call-graph "${PERF_CALL_GRAPH:-fp}" -F "${PERF_FREQ:-1999}" -o "$PERF_OUT" -p "$TG" 2>/dev/null &
          PERF=$!; sleep 0.5
        fi
        if [ -n "$STRACE_OUT" ] && [ "$r" = 1 ] && [ "$mode" = "${MODES[0]}" ]; then
          strace ${STRACE_FLAGS:--c} -f -o "$STRACE_OUT" -p "$TG" 2>/dev/null &
          PERF=$!; sleep 0.5
        fi
        [ "$ALLOCS" = 1 ] && a0=$(allocs)
        "${client[@]}" -c "$C" -n "$N" "${args[@]}" | tail -1
        [ "$ALLOCS" = 1 ] && echo "  heap allocations per request: $(awk -v a="$(allocs)" -v b="$a0" -v n="$N" 'BEGIN {printf "%.1f", (a - b) / n}')"
        if [ -n "${PERF:-}" ]; then kill -INT "$PERF"; wait "$PERF" || true; PERF=; fi
        ;;
      idle)
        before=$(rss)
        "${LG[@]}" --workload idle -c "$C" --hold 600 --method GET --path /v1/chat/completions >"$DIR/idle.out" 2>&1 &
        lg=$!
        for _ in $(seq 2400); do grep -q '^held=' "$DIR/idle.out" && break; sleep 0.25; done
        sleep 1; with=$(rss)
        kill "$lg"; wait "$lg" 2>/dev/null || true
        for _ in $(seq 100); do
          [ "$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^tollgate_connections\{mode="intercept"\}/ {print $2}')" = 0 ] && break
          sleep 0.1
        done
        sleep 1; after=$(rss); [ -n "${SMAPS_OUT:-}" ] && cat "/proc/$TG/smaps" >"$SMAPS_OUT"
        echo "$(grep '^held=' "$DIR/idle.out") rss_before_kb=$before rss_with_kb=$with rss_after_close_kb=$after" \
          "per_conn_kib=$(awk -v a="$with" -v b="$before" -v c="$C" 'BEGIN {printf "%.1f", (a - b) / c}')"
        ;;
    esac
    echo "  context switches: $(( $(switches) - sw0 )), cpu ticks: $(( $(cpu_ticks) - t0 ))"
  done
done
echo "tollgate RSS at end: $(rss) KiB"
kill -TERM "$TG"; wait "$LAUNCHED" || true  # every access-log line must be out after SIGTERM
echo "access log lines after SIGTERM: $(grep -c '"mode":"\(intercept\|base_url\)"' "$DIR/tollgate/stdout" || true)"
[ "$KEEP" = 1 ] && echo "kept $DIR"
exit 0
