#!/usr/bin/env bash
# Renders k8s/base, every overlay and the PodMonitor component (kubectl kustomize when present,
# else the fallback renderer in k8s_render.py) and checks what a mistake would break: probes on the
# admin listener of the shipped config, mounts and volumes, the app's proxy and CA variables, the
# native sidecar, securityContext, the catalog copies, the dashboard's metric names. Also makes
# each of a list of mistakes on purpose and expects the exact message. No cluster needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${TOLLGATE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
# Debian's python3 carries PyYAML (python3-yaml in scripts/install-deps), whatever python is on PATH.
python=/usr/bin/python3
[ -x "$python" ] || python=python3

export PYTHONDONTWRITEBYTECODE=1
"$python" "$here/k8s_manifests.py" check "$repo"
# The fallback renderer is what a machine without kubectl tests with: it must pass on its own too.
if command -v kubectl >/dev/null 2>&1; then
  TOLLGATE_K8S_RENDER=python "$python" "$here/k8s_manifests.py" check "$repo"
fi
