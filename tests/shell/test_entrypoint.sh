#!/usr/bin/env bash
# Runs what the pod runs, without a container engine: the ConfigMap of k8s/base (tollgate.yaml and
# the catalog files), the CA Secret made by k8s/make-ca-secret.sh, the CA-bundle init container's
# command and the sidecar's command line (the image's ENTRYPOINT + args), with the pod's absolute
# paths moved into a temp folder and the ports onto free loopback ports. Then `check` passes, /readyz
# answers, the legacy overlay's postStart wait returns, curl gets through the proxy (plain HTTP and
# an intercepted CONNECT verified with the bundle), and SIGTERM stops it cleanly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${TOLLGATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${TOLLGATE_BIN:-$repo/build/tollgate}
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export PYTHONDONTWRITEBYTECODE=1
manifests() { "$python" "$here/k8s_manifests.py" "$@"; }

fail() { echo "FAIL: $*" >&2; [ -s "${log:-/dev/null}" ] && sed 's/^/  tollgate| /' "$log" >&2; exit 1; }
[ -x "$bin" ] || fail "TOLLGATE_BIN $bin is not an executable"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
proxy_port=$(free_port)
admin_port=$(free_port)
http_port=$(free_port)
dead_port=$(free_port)  # nothing listens here: an upstream that refuses connections

# The pod's folders, as mounted by k8s/base.
etc=$tmp/etc/tollgate data=$tmp/var/lib/tollgate bundle_dir=$tmp/bundle
mkdir -p "$etc/ca" "$data" "$bundle_dir"
manifests configmap "$repo" "$etc"

# The Secrets, as make-ca-secret.sh prints them, projected into ca/ as the kubelet would.
TOLLGATE_BIN=$bin bash "$repo/k8s/make-ca-secret.sh" --dir "$tmp/ca-src" --admin-token \
  > "$tmp/secrets.yaml" || fail "make-ca-secret.sh failed"
"$python" - "$tmp/secrets.yaml" "$etc/ca" "$tmp/admin-token" <<'PY'
import base64, sys, yaml
docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
ca, admin = docs["tollgate-ca"], docs["tollgate-admin"]
assert ca["type"] == "kubernetes.io/tls", ca["type"]
for key in ("tls.crt", "tls.key"):
    open(f"{sys.argv[2]}/{key}", "wb").write(base64.b64decode(ca["data"][key]))
open(sys.argv[3], "wb").write(base64.b64decode(admin["data"]["token"]))
PY
chmod 0440 "$etc/ca/tls.crt" "$etc/ca/tls.key"
if command -v kubectl >/dev/null 2>&1; then
  # The hand-written Secret must carry what kubectl's own would.
  cert=$(ls "$tmp"/ca-src/*.crt)
  kubectl create secret tls tollgate-ca --cert="$cert" --key="${cert%.crt}.key" \
    --dry-run=client -o yaml > "$tmp/kubectl-secret.yaml"
  "$python" - "$tmp/secrets.yaml" "$tmp/kubectl-secret.yaml" <<'PY' || fail "Secret differs from kubectl's"
import sys, yaml
ours = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["metadata"]["name"] == "tollgate-ca")
theirs = yaml.safe_load(open(sys.argv[2]))
assert (ours["type"], ours["data"]) == (theirs["type"], theirs["data"]), "type/data differ"
PY
fi

# The pod's absolute paths and ports, moved into the temp folder. A local upstream for plain HTTP
# and an unreachable one for the intercepted host, both named through upstream.resolve.
relocate() {
  sed -e "s#/etc/tollgate#$etc#g" -e "s#/var/lib/tollgate#$data#g" -e "s#^/bundle#$bundle_dir#" \
      -e "s#127.0.0.1:8080#127.0.0.1:$proxy_port#g" -e "s#0.0.0.0:9090#127.0.0.1:$admin_port#g" \
      -e "s#/dev/tcp/127.0.0.1/9090#/dev/tcp/127.0.0.1/$admin_port#g"
}
config=$etc/tollgate.yaml
relocate < "$config" > "$config.new" && mv "$config.new" "$config"
grep -q "^upstream:" "$config" && fail "the shipped config now has upstream:; merge the test's"
cat >> "$config" <<EOF
upstream:
  resolve:
    backend.test:80: 127.0.0.1:$http_port
    api.openai.com:443: 127.0.0.1:$dead_port
  connect_timeout: 2s
EOF

# Lay the folder out as the kubelet does for a ConfigMap/projected volume: the files live in a
# timestamped folder, `..data` points at it, and each top-level name is a symlink through `..data`.
# An update writes a new folder and swaps `..data` in one rename.
mkdir "$tmp/version1" && mv "$etc"/* "$tmp/version1/" && mv "$tmp/version1" "$etc/..2026_01_01_00_00_00.1"
ln -s ..2026_01_01_00_00_00.1 "$etc/..data"
for entry in "$etc/..data"/*; do ln -s "..data/$(basename "$entry")" "$etc/$(basename "$entry")"; done
swap_config() {  # $1: sed expression applied to tollgate.yaml in the new version
  local next=..2026_01_01_00_00_00.2
  cp -a "$etc/..data/." "$etc/$next"
  sed -i -e "$1" "$etc/$next/tollgate.yaml"
  ln -s "$next" "$etc/..data_tmp" && mv -T "$etc/..data_tmp" "$etc/..data"
}

"$bin" check --config "$config" > "$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "tollgate check"; }
echo "check: $(cat "$tmp/check.out")"

# The CA-bundle init container: system roots + the CA from the Secret.
mapfile -t bundle_args < <(manifests args "$repo" tollgate-ca-bundle | relocate)
"$bin" "${bundle_args[@]}" || fail "tollgate ${bundle_args[*]}"
bundle=$bundle_dir/ca-bundle.crt
[ -s "$bundle" ] || fail "no bundle at $bundle"
grep -qF "$(sed -n 2p "$etc/ca/tls.crt")" "$bundle" || fail "the bundle lacks the tollgate CA"
roots=$(grep -c "BEGIN CERTIFICATE" "$bundle")
[ "$roots" -gt 1 ] || fail "the bundle holds $roots certificate(s), no system roots"

# The sidecar: ENTRYPOINT ["tollgate"] + the container's args, from the data folder (WORKDIR).
mapfile -t run_args < <(manifests args "$repo" tollgate | relocate)
log=$tmp/tollgate.log
(cd "$data" && TOLLGATE_ADMIN_TOKEN=$(cat "$tmp/admin-token") exec "$bin" "${run_args[@]}") \
  > "$log" 2>&1 &
tollgate_pid=$!
pids+=("$tollgate_pid")

admin=http://127.0.0.1:$admin_port
for _ in $(seq 1 100); do
  curl -fsS --noproxy '*' -o /dev/null "$admin/readyz" 2>/dev/null && break
  kill -0 "$tollgate_pid" 2>/dev/null || fail "tollgate exited before /readyz"
  sleep 0.1
done
curl -fsS --noproxy '*' -o /dev/null "$admin/readyz" || fail "/readyz never answered 200"
curl -fsS --noproxy '*' -o /dev/null "$admin/healthz" || fail "/healthz"
[ -f "$data/ledger.db" ] || fail "no SQLite ledger in data_dir"
idle_rss_kb=$(ps -o rss= -p "$tollgate_pid" | tr -d ' ')
echo "tollgate idle RSS: ${idle_rss_kb} KiB (threads: $(ls /proc/"$tollgate_pid"/task | wc -l))"

# The legacy overlay's postStart hook, against the running admin listener.
manifests poststart "$repo" | relocate > "$tmp/poststart.sh"
timeout 20 bash "$tmp/poststart.sh" || fail "the legacy postStart wait did not return 0"

# Plain HTTP through the proxy, the way the app's http_proxy sends it (absolute form).
mkdir -p "$tmp/www" && echo "hello through tollgate" > "$tmp/www/hello.txt"
(cd "$tmp/www" && exec "$python" -m http.server "$http_port" --bind 127.0.0.1) \
  > "$tmp/http.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 50); do
  curl -fsS --noproxy '*' -o /dev/null "http://127.0.0.1:$http_port/hello.txt" 2>/dev/null && break
  sleep 0.1
done
body=$(curl -fsS -x "http://127.0.0.1:$proxy_port" http://backend.test/hello.txt) \
  || fail "curl through the proxy"
[ "$body" = "hello through tollgate" ] || fail "body through the proxy: '$body'"

# An intercepted host: curl trusts tollgate's leaf through the bundle alone; the upstream is down,
# so tollgate's own 502 comes back over that TLS session.
code=$(curl -sS -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$proxy_port" \
  --cacert "$bundle" https://api.openai.com/v1/models) || fail "TLS through the proxy with the bundle"
[ "$code" = 502 ] || fail "intercepted request with a dead upstream got $code, want 502"
if curl -sS -o /dev/null -x "http://127.0.0.1:$proxy_port" --cacert /etc/ssl/certs/ca-certificates.crt \
  https://api.openai.com/v1/models 2>/dev/null; then
  fail "the intercepted host verified without the tollgate CA"
fi

# A ConfigMap edit (daily limit 50 -> 75) reaches the running sidecar without a restart.
limit_of_daily() {
  curl -fsS --noproxy '*' "$admin/v1/budgets/daily" | "$python" -c \
    'import json,sys; print(json.load(sys.stdin)["budgets"][0]["limit"])'
}
[ "$(limit_of_daily)" = 50 ] || fail "daily limit before the edit: $(limit_of_daily)"
grep -q "^    limit: 50$" "$config" || fail "the shipped config's daily limit is no longer 50"
swap_config 's/^    limit: 50$/    limit: 75/'
for _ in $(seq 1 100); do [ "$(limit_of_daily)" = 75 ] && break; sleep 0.1; done
[ "$(limit_of_daily)" = 75 ] || fail "the ConfigMap-style swap was not reloaded (limit $(limit_of_daily))"

metrics=$(curl -fsS --noproxy '*' "$admin/metrics") || fail "/metrics"
grep -q '^tollgate_requests_total' <<<"$metrics" || fail "/metrics has no tollgate_requests_total"

rss_kb=$(ps -o rss= -p "$tollgate_pid" | tr -d ' ')
echo "tollgate RSS after the requests: ${rss_kb} KiB"

kill -TERM "$tollgate_pid"
term_at=$(date +%s%N)
for _ in $(seq 1 200); do kill -0 "$tollgate_pid" 2>/dev/null || break; sleep 0.1; done
echo "tollgate stopped $(( ($(date +%s%N) - term_at) / 1000000 )) ms after SIGTERM"
kill -0 "$tollgate_pid" 2>/dev/null && fail "tollgate still running 20 s after SIGTERM (the pod grace period is 30 s)"
status=0
wait "$tollgate_pid" || status=$?
[ "$status" = 0 ] || fail "tollgate exited $status on SIGTERM"
echo "entrypoint: ok (check, bundle of $roots certificates, readyz, postStart, plain HTTP, intercept,"
echo "  ConfigMap swap reloaded, SIGTERM)"
