#!/usr/bin/env bash
# Creates tollgate's CA with `tollgate ca init` (or reuses the one already in DIR) and turns it into
# the Secret `tollgate-ca` (type kubernetes.io/tls) that k8s/base mounts at /etc/tollgate/ca.
# With --admin-token it adds the Secret `tollgate-admin` (a fresh random bearer token for the admin
# API's mutating calls; running it again rotates the token).
#
# Prints the manifests (no cluster needed) unless --apply is given.
#   k8s/make-ca-secret.sh --dir ./tollgate-ca > secrets.yaml
#   k8s/make-ca-secret.sh --admin-token --apply --namespace my-app
set -euo pipefail

usage() {
  cat >&2 <<'USAGE'
usage: make-ca-secret.sh [--dir DIR] [--name NAME] [--namespace NS] [--admin-token] [--apply]
  --dir DIR        where the CA lives or is created (default ./tollgate-ca); keep it private
  --name NAME      name of the CA Secret (default tollgate-ca)
  --namespace NS   namespace written into the manifests
  --admin-token    also emit the Secret tollgate-admin with a new random admin token
  --apply          kubectl apply the manifests instead of printing them
  TOLLGATE_BIN     the tollgate binary to run (default: tollgate on PATH)
USAGE
  exit 2
}

dir=./tollgate-ca
name=tollgate-ca
namespace=""
admin_token=0
apply=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --name) [ $# -ge 2 ] || usage; name=$2; shift 2 ;;
    --namespace|-n) [ $# -ge 2 ] || usage; namespace=$2; shift 2 ;;
    --admin-token) admin_token=1; shift ;;
    --apply) apply=1; shift ;;
    -h|--help) usage ;;
    *) echo "make-ca-secret.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

tollgate=${TOLLGATE_BIN:-tollgate}
command -v "$tollgate" >/dev/null 2>&1 || {
  echo "make-ca-secret.sh: '$tollgate' not found; build it or set TOLLGATE_BIN" >&2
  exit 1
}

# ca init prints the certificate's path; the key sits next to it with the same stem.
cert=$("$tollgate" ca init --dir "$dir" | tail -n 1)
key=${cert%.crt}.key
for f in "$cert" "$key"; do
  [ -r "$f" ] || { echo "make-ca-secret.sh: $f missing after 'tollgate ca init'" >&2; exit 1; }
done

b64() { base64 -w0 < "$1"; }

# Written by hand rather than with `kubectl create secret --dry-run=client`, so that printing the
# manifests needs no kubectl at all.
manifests() {
  local ns_line=""
  [ -n "$namespace" ] && ns_line="  namespace: $namespace"
  cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $name
${ns_line:+$ns_line
}  labels:
    app.kubernetes.io/name: tollgate
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$cert")
  tls.key: $(b64 "$key")
YAML
  if [ "$admin_token" = 1 ]; then
    cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: tollgate-admin
${ns_line:+$ns_line
}  labels:
    app.kubernetes.io/name: tollgate
type: Opaque
data:
  token: $(openssl rand -hex 32 | tr -d '\n' | base64 -w0)
YAML
  fi
}

if [ "$apply" = 1 ]; then
  manifests | kubectl apply -f -
else
  manifests
fi
