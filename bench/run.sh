#!/usr/bin/env bash
# Side-by-side benchmark (issue 6, DESIGN §10): nginx as the TLS upstream, tollgate (intercepted,
# and in base-URL mode, DESIGN §14), squid ssl-bump, tinyproxy and direct calls, driven by the same
# clients (curl --parallel and bench/loadgen) on loopback. Appends a dated section to
# bench/RESULTS.md.
#
# usage: bench/run.sh [--rounds N] [--requests N] [--sequential N] [--idle "1000 10000"]
#                     [--wait-quiet SECONDS] [--results FILE] [--no-build]
# Every server it starts is stopped on exit; every client run is bounded by `timeout`.
set -euo pipefail
. "$(dirname "$0")/pki.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
ROUNDS=5
REQUESTS=5000
SEQUENTIAL=2000
IDLE_COUNTS="1000 10000"
WAIT_QUIET=0
RESULTS=$ROOT/bench/RESULTS.md
DO_BUILD=1
FIRST_HOSTS_PER_ROUND=10
CONCURRENCY=32
COMMAND_LINE="bench/run.sh $*"

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --sequential) SEQUENTIAL=$2; shift 2 ;;
    --idle) IDLE_COUNTS=$2; shift 2 ;;
    --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
DIR=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
chmod 755 "$DIR"
RAW=$DIR/raw.txt
: >"$RAW"
PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -n "${KEEP_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 idle intercepted connections need ~20,000 descriptors in the proxy and the client.
ulimit -n "$(ulimit -Hn)" || true

wait_quiet() {
  local waited=0 load
  while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if "$PY" -c "import sys; sys.exit(0 if float('$load') < 0.5 else 1)"; then break; fi
    [ "$waited" -ge "$WAIT_QUIET" ] && break
    sleep 10; waited=$((waited + 10))
  done
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
}

# --- build ----------------------------------------------------------------------------------------
if [ "$DO_BUILD" = 1 ]; then
  log "building tollgate, loadgen and ledger_bench in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTOLLGATE_BENCH=ON -DTOLLGATE_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target loadgen >/dev/null
  cmake --build "$BUILD" -j2 --target tollgate >/dev/null 2>&1 || log "tollgate did not build: benchmarked without it"
  cmake --build "$BUILD" -j2 --target ledger_bench >/dev/null 2>&1 || log "no ledger_bench target"
  cmake --build "$BUILD" -j2 --target wakeup_rtt >/dev/null 2>&1 || log "no wakeup_rtt target"
fi
LOADGEN=$BUILD/loadgen
TOLLGATE=${TOLLGATE_BIN:-$BUILD/tollgate}  # TOLLGATE_BIN benchmarks another build
[ -x "$LOADGEN" ] || { echo "run.sh: $LOADGEN missing" >&2; exit 1; }

# --- ports, certificates, files -------------------------------------------------------------------
read -r NGINX_PORT SSE_PORT SQUID_PORT TINY_PORT TOLLGATE_PORT ADMIN_PORT < <("$PY" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
mkdir -p "$DIR"/{ca,nginx,www/files,squid,tinyproxy,tollgate/data}

FIRST_HOSTS=()
for r in $(seq "$ROUNDS"); do
  for i in $(seq "$FIRST_HOSTS_PER_ROUND"); do FIRST_HOSTS+=("first-$r-$i.bench.test"); done
done

log "test CA and upstream certificate (api.openai.com, *.bench.test, 127.0.0.1)"
make_upstream_pki "$DIR/ca" "tollgate bench upstream CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=squid bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$DIR/squid/ca.key" -out "$DIR/squid/ca.crt" 2>/dev/null

CHAT_JSON='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}'
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}' >"$DIR/chat.json"
printf '%s' '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Stream to the benchmark."}],"max_tokens":64}' >"$DIR/chat_stream.json"
head -c 16384 /dev/urandom >"$DIR/www/files/16k.bin"
head -c 512 /dev/urandom >"$DIR/www/files/512.bin"

render() {  # render TEMPLATE OUT: replaces @NAME@ placeholders
  local resolve="" hosts="" h
  for h in "${FIRST_HOSTS[@]}"; do
    resolve+="    $h:443: 127.0.0.1:$NGINX_PORT"$'\n'
    hosts+="${hosts:+, }$h"
  done
  FIRST_RESOLVE=${resolve%$'\n'} FIRST_LIST=$hosts CHAT_JSON=$CHAT_JSON DIR=$DIR \
  NGINX_PORT=$NGINX_PORT SSE_PORT=$SSE_PORT SQUID_PORT=$SQUID_PORT TINY_PORT=$TINY_PORT \
  TOLLGATE_PORT=$TOLLGATE_PORT ADMIN_PORT=$ADMIN_PORT "$PY" - "$1" "$2" <<'EOF'
import os, re, sys
text = open(sys.argv[1]).read()
names = {"FIRST_HOSTS": "FIRST_LIST"}
text = re.sub(r"@([A-Z_]+)@", lambda m: os.environ[names.get(m.group(1), m.group(1))], text)
open(sys.argv[2], "w").write(text)
EOF
}
render "$ROOT/bench/conf/nginx.conf.in" "$DIR/nginx/nginx.conf"
render "$ROOT/bench/conf/squid.conf.in" "$DIR/squid/squid.conf"
render "$ROOT/bench/conf/tinyproxy.conf.in" "$DIR/tinyproxy/tinyproxy.conf"
render "$ROOT/bench/conf/tollgate.yaml.in" "$DIR/tollgate/tollgate.yaml"
{ echo "127.0.0.1 localhost api.openai.com tunnel.bench.test"; printf '127.0.0.1 %s\n' "${FIRST_HOSTS[@]}"; } >"$DIR/squid/hosts"

# --- servers --------------------------------------------------------------------------------------
wait_port() {  # wait_port PORT NAME PID
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { log "$2 exited"; return 1; }
    sleep 0.1
  done
  log "$2 not listening on $1"; return 1
}

log "starting nginx :$NGINX_PORT, SSE upstream :$SSE_PORT, squid :$SQUID_PORT, tinyproxy :$TINY_PORT"
nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" >"$DIR/nginx/stdout" 2>&1 &
PIDS+=($!); wait_port "$NGINX_PORT" nginx $!
"$PY" "$ROOT/bench/sse_upstream.py" --port "$SSE_PORT" --cert "$DIR/ca/upstream.crt" --key "$DIR/ca/upstream.key" \
  >"$DIR/sse.log" 2>&1 &
PIDS+=($!); wait_port "$SSE_PORT" sse_upstream $!

chown -R proxy:proxy "$DIR/squid"
/usr/lib/squid/security_file_certgen -c -s "$DIR/squid/ssl_db" -M 16MB >/dev/null
chown -R proxy:proxy "$DIR/squid/ssl_db"
squid -N -f "$DIR/squid/squid.conf" >"$DIR/squid/stdout" 2>&1 &
SQUID_PID=$!; PIDS+=($!); wait_port "$SQUID_PORT" squid $!

chown -R nobody:nogroup "$DIR/tinyproxy"
tinyproxy -d -c "$DIR/tinyproxy/tinyproxy.conf" >"$DIR/tinyproxy/stdout" 2>&1 &
TINY_PID=$!; PIDS+=($!); wait_port "$TINY_PORT" tinyproxy $!

HAVE_TOLLGATE=0
TOLLGATE_PID=
if [ -x "$TOLLGATE" ]; then
  "$TOLLGATE" run --config "$DIR/tollgate/tollgate.yaml" >"$DIR/tollgate/stdout" 2>&1 &
  TOLLGATE_PID=$!; PIDS+=($!)
  for _ in $(seq 100); do
    grep -q "proxy listening on" "$DIR/tollgate/stdout" && { HAVE_TOLLGATE=1; break; }
    kill -0 "$TOLLGATE_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ "$HAVE_TOLLGATE" = 1 ] || { log "tollgate did not start:"; tail -5 "$DIR/tollgate/stdout" >&2; }
fi
TOLLGATE_CA=$DIR/tollgate/data/ca/ca.crt
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
[ "$HAVE_TOLLGATE" = 1 ] && echo "rss_idle_start - rss_kb=$(rss_kb "$TOLLGATE_PID")" >>"$RAW"

# --- clients --------------------------------------------------------------------------------------
# Every path reaches the same nginx; only the way there differs.
declare -A LG_ARGS CURL_ARGS
LG_ARGS[direct]="--via direct --dial 127.0.0.1:$NGINX_PORT --sni api.openai.com --cafile $DIR/ca/ca.crt"
LG_ARGS[tollgate]="--via connect --dial 127.0.0.1:$TOLLGATE_PORT --target api.openai.com:443 --sni api.openai.com --cafile $TOLLGATE_CA"
# Base-URL mode: plain HTTP to tollgate itself, POST /openai/v1/...; tollgate goes on to the openai
# provider's first host, api.openai.com:443, which upstream.resolve maps to the same nginx.
LG_ARGS[baseurl]="--base-url http://127.0.0.1:$TOLLGATE_PORT/openai"
LG_ARGS[squid]="--via connect --dial 127.0.0.1:$SQUID_PORT --target api.openai.com:$NGINX_PORT --sni api.openai.com --cafile $DIR/squid/ca.crt"
LG_ARGS[tunnel_direct]="--via direct --dial 127.0.0.1:$NGINX_PORT --sni tunnel.bench.test --cafile $DIR/ca/ca.crt"
LG_ARGS[tunnel_tollgate]="--via connect --dial 127.0.0.1:$TOLLGATE_PORT --target tunnel.bench.test:443 --sni tunnel.bench.test --cafile $DIR/ca/ca.crt"
LG_ARGS[tunnel_tinyproxy]="--via connect --dial 127.0.0.1:$TINY_PORT --target 127.0.0.1:$NGINX_PORT --sni tunnel.bench.test --cafile $DIR/ca/ca.crt"
LG_ARGS[sse_direct]="--via direct --dial 127.0.0.1:$SSE_PORT --sni api.openai.com --cafile $DIR/ca/ca.crt"
LG_ARGS[sse_tollgate]="--via connect --dial 127.0.0.1:$TOLLGATE_PORT --target api.openai.com:8443 --sni api.openai.com --cafile $TOLLGATE_CA"
LG_ARGS[sse_squid]="--via connect --dial 127.0.0.1:$SQUID_PORT --target api.openai.com:$SSE_PORT --sni api.openai.com --cafile $DIR/squid/ca.crt"
CURL_ARGS[direct]="--connect-to api.openai.com:443:127.0.0.1:$NGINX_PORT --cacert $DIR/ca/ca.crt https://api.openai.com"
CURL_ARGS[tollgate]="--proxy http://127.0.0.1:$TOLLGATE_PORT --cacert $TOLLGATE_CA https://api.openai.com"
CURL_ARGS[baseurl]="--noproxy 127.0.0.1 http://127.0.0.1:$TOLLGATE_PORT/openai"
CURL_ARGS[squid]="--proxy http://127.0.0.1:$SQUID_PORT --cacert $DIR/squid/ca.crt https://api.openai.com:$NGINX_PORT"
CURL_ARGS[tunnel_direct]="--connect-to tunnel.bench.test:443:127.0.0.1:$NGINX_PORT --cacert $DIR/ca/ca.crt https://tunnel.bench.test"
CURL_ARGS[tunnel_tollgate]="--proxy http://127.0.0.1:$TOLLGATE_PORT --cacert $DIR/ca/ca.crt https://tunnel.bench.test"
CURL_ARGS[tunnel_tinyproxy]="--proxy http://127.0.0.1:$TINY_PORT --connect-to tunnel.bench.test:443:127.0.0.1:$NGINX_PORT --cacert $DIR/ca/ca.crt https://tunnel.bench.test"

# CPU time, in clock ticks: of a process with all its threads and descendants (squid's kid and
# helpers), waited-for children included; and of the whole machine (every CPU's non-idle time).
# Read around each throughput run, so that each path's CPU per request shows beside its rate:
# on a 2-CPU machine the client and nginx share the CPUs with the proxy, and the rate alone
# does not tell how much of it the proxy's own cost decides.
CLK_TCK=$(getconf CLK_TCK)
tree_ticks() {  # tree_ticks PID
  awk -v root="$1" '
    { line = $0; sub(/^[^(]*\(.*\) /, "", line); split(line, f, " ")
      pid = FILENAME; sub("/proc/", "", pid); sub("/stat", "", pid)
      parent[pid] = f[2]; ticks[pid] = f[12] + f[13] + f[14] + f[15] }
    END { n = 0
      for (p in ticks) { q = p; while (q != "" && q != root && q != 0 && q != 1) q = parent[q]
                         if (q == root) n += ticks[p] }
      print n }' /proc/[0-9]*/stat 2>/dev/null
}
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
proxy_pid() {  # the process whose CPU a path's proxy is; none for a direct path
  case "$1" in
    tollgate|baseurl|tunnel_tollgate|sse_tollgate) echo "$TOLLGATE_PID" ;;
    squid|sse_squid) echo "$SQUID_PID" ;;
    tunnel_tinyproxy) echo "$TINY_PID" ;;
  esac
}
CPU_MARK=
cpu_start() {  # cpu_start TARGET
  local pid; pid=$(proxy_pid "$1")
  CPU_MARK="$(machine_ticks) ${pid:--} $([ -n "$pid" ] && tree_ticks "$pid" || echo 0)"
}
cpu_end() {  # cpu_end LINE: LINE with proxy_cpu_us and machine_cpu_us per request appended
  local m0 pid p0 m1 p1
  read -r m0 pid p0 <<<"$CPU_MARK"
  [ "$pid" = - ] && pid=
  m1=$(machine_ticks); p1=0
  [ -n "$pid" ] && p1=$(tree_ticks "$pid")
  echo "$1" | awk -v m=$((m1 - m0)) -v p=$((p1 - p0)) -v hz="$CLK_TCK" -v proxied="${pid:+1}" '
    { ok = 0; for (i = 1; i <= NF; i++) if ($i ~ /^ok=/) ok = substr($i, 4) + 0
      if (ok > 0) { $0 = $0 sprintf(" machine_cpu_us=%.1f", m * 1e6 / hz / ok)
                    if (proxied) $0 = $0 sprintf(" proxy_cpu_us=%.1f", p * 1e6 / hz / ok) }
      print }'
}

record() {  # record CASE ROUND LINE
  echo "$1 $2 $3" >>"$RAW"
  case "$3" in *errors=0*non200=0*|*non200=0*errors=0*) ;; *) log "$1 round $2: $3" ;; esac
}

loadgen() {  # loadgen CASE ROUND PATH-ARGS... ; output recorded under CASE
  local case=$1 round=$2 target=$3; shift 3
  local out
  # shellcheck disable=SC2086
  cpu_start "$target"
  out=$(timeout 300 "$LOADGEN" ${LG_ARGS[$target]} "$@" 2>&1) || true
  record "$case" "$round" "$(cpu_end "$(echo "$out" | tail -1)")"
}

curl_load() {  # curl_load CASE ROUND TARGET METHOD PATH
  local case=$1 round=$2 target=$3 method=$4 path=$5
  local base=${CURL_ARGS[$target]##* } opts=${CURL_ARGS[$target]% *} t0 t1 codes
  local body=()
  [ "$method" = POST ] && body=(-H "content-type: application/json" --data-binary "@$DIR/chat.json")
  cpu_start "$target"
  t0=$(date +%s%N)
  # shellcheck disable=SC2086
  timeout 300 curl -s --http1.1 --parallel --parallel-max "$CONCURRENCY" $opts "${body[@]}" \
    -H "authorization: Bearer sk-bench-not-a-secret" -o /dev/null -w '%{http_code}\n' \
    "$base$path?i=[1-$REQUESTS]" >"$DIR/curl.codes" 2>/dev/null || true
  t1=$(date +%s%N)
  codes=$(grep -c '^200$' "$DIR/curl.codes" || true)
  record "$case" "$round" "$(cpu_end "$(awk -v ok="$codes" -v n="$REQUESTS" -v ns=$((t1 - t0)) \
    'BEGIN { printf "ok=%d non200=%d errors=0 seconds=%.3f rps=%.1f", ok, n - ok, ns / 1e9, n / (ns / 1e9) }')")"
}

smoke() {  # one request per path, so that a broken harness fails loudly before the rounds
  local t
  for t in "$@"; do
    local out
    # shellcheck disable=SC2086
    out=$(timeout 30 "$LOADGEN" ${LG_ARGS[$t]} -n 1 --method GET --path /v1/chat/completions 2>&1 || true)
    case "$t" in tunnel_*) out=$(timeout 30 "$LOADGEN" ${LG_ARGS[$t]} -n 1 --path /files/16k.bin 2>&1 || true) ;; esac
    case "$t" in sse_*) out=$(timeout 30 "$LOADGEN" ${LG_ARGS[$t]} -n 1 --workload sse --method POST --path "/v1/chat/completions?events=3&interval_ms=1" --body-file "$DIR/chat_stream.json" 2>&1 || true) ;; esac
    log "smoke $t: $out"
  done
}

PROXIES=(direct squid)
TUNNELS=(tunnel_direct tunnel_tinyproxy)
SSES=(sse_direct sse_squid)
if [ "$HAVE_TOLLGATE" = 1 ]; then PROXIES+=(tollgate baseurl); TUNNELS+=(tunnel_tollgate); SSES+=(sse_tollgate); fi
smoke "${PROXIES[@]}" "${TUNNELS[@]}" "${SSES[@]}"

wait_quiet
log "load average at start: $LOAD_AT_START; $ROUNDS rounds of $REQUESTS requests"
POST=(--method POST --path /v1/chat/completions --body-file "$DIR/chat.json")
GET=(--method GET --path /v1/chat/completions)
for round in $(seq "$ROUNDS"); do
  log "round $round"
  for t in "${PROXIES[@]}"; do
    loadgen "lg_post_$t" "$round" "$t" -c "$CONCURRENCY" -n "$REQUESTS" "${POST[@]}"
    loadgen "lg_get_$t" "$round" "$t" -c "$CONCURRENCY" -n "$REQUESTS" "${GET[@]}"
    curl_load "curl_post_$t" "$round" "$t" POST /v1/chat/completions
    curl_load "curl_get_$t" "$round" "$t" GET /v1/chat/completions
    loadgen "seq_post_$t" "$round" "$t" -c 1 -n "$SEQUENTIAL" "${POST[@]}"
  done
  # What one hop between two processes costs here: the floor under the added latency.
  [ -x "$BUILD/wakeup_rtt" ] && record hop "$round" "$("$BUILD/wakeup_rtt" 5000) errors=0 non200=0"
  # Two sizes: tinyproxy leaves Nagle on, and a 16 KiB answer then waits for a delayed ACK.
  for t in "${TUNNELS[@]}"; do
    for size in 512 16k; do
      loadgen "lg_${t}_$size" "$round" "$t" -c "$CONCURRENCY" -n "$REQUESTS" --path "/files/$size.bin"
      curl_load "curl_${t}_$size" "$round" "$t" GET "/files/$size.bin"
    done
  done
  for t in "${SSES[@]}"; do
    loadgen "$t" "$round" "$t" --workload sse -c 8 -n 40 --method POST \
      --path "/v1/chat/completions?events=50&interval_ms=2" --body-file "$DIR/chat_stream.json"
  done
  hosts=$(IFS=,; echo "${FIRST_HOSTS[*]:$(((round - 1) * FIRST_HOSTS_PER_ROUND)):$FIRST_HOSTS_PER_ROUND}")
  [ "$HAVE_TOLLGATE" = 1 ] && loadgen first_tollgate "$round" tollgate --workload first --hosts "$hosts" "${GET[@]}"
  loadgen first_squid "$round" squid --workload first --hosts "$hosts" --target-port "$NGINX_PORT" "${GET[@]}"
done

idle_rss() {  # idle_rss NAME PID TARGET COUNT
  local name=$1 pid=$2 target=$3 count=$4 before after out
  before=$(rss_kb "$pid")
  # shellcheck disable=SC2086
  timeout 600 "$LOADGEN" ${LG_ARGS[$target]} --workload idle -c "$count" --hold 120 "${GET[@]}" >"$DIR/idle.out" 2>&1 &
  local lg=$!
  for _ in $(seq 1200); do grep -q '^held=' "$DIR/idle.out" && break; kill -0 "$lg" 2>/dev/null || break; sleep 0.25; done
  sleep 1
  after=$(rss_kb "$pid")
  out=$(grep '^held=' "$DIR/idle.out" || tail -1 "$DIR/idle.out")
  kill "$lg" 2>/dev/null || true
  wait "$lg" 2>/dev/null || true
  record "idle_${name}_$count" 1 "$out rss_before_kb=$before rss_kb=$after"
  sleep 2
}
for n in $IDLE_COUNTS; do
  [ "$HAVE_TOLLGATE" = 1 ] && idle_rss tollgate "$TOLLGATE_PID" tollgate "$n"
  idle_rss squid "$SQUID_PID" squid "$n"
done
[ "$HAVE_TOLLGATE" = 1 ] && echo "rss_idle_end - rss_kb=$(rss_kb "$TOLLGATE_PID")" >>"$RAW"

if [ -x "$BUILD/ledger_bench" ]; then
  log "ledger microbenchmarks"
  timeout 300 "$BUILD/ledger_bench" --benchmark_min_time=0.5 \
    >"$DIR/ledger_bench.txt" 2>&1 || log "ledger_bench failed"
fi

log "writing $RESULTS"
"$PY" "$ROOT/bench/summarize.py" --raw "$RAW" --ledger "$DIR/ledger_bench.txt" \
  --command "$COMMAND_LINE" --load "$LOAD_AT_START" --rounds "$ROUNDS" --requests "$REQUESTS" \
  --sequential "$SEQUENTIAL" --concurrency "$CONCURRENCY" --tollgate "$HAVE_TOLLGATE" >>"$RESULTS"
log "done"
