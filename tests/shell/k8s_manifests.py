"""Checks k8s/ and hands its pieces to the shell tests.

  k8s_manifests.py check REPO           every rendering, the catalog copies, the dashboard; exit 1 on
                                        any problem (one line each)
  k8s_manifests.py configmap REPO DIR   write the base ConfigMap's files into DIR
  k8s_manifests.py args REPO CONTAINER  the container's args in k8s/base, one per line
  k8s_manifests.py poststart REPO       the legacy overlay's postStart bash script
"""

import copy
import filecmp
import json
import os
import re
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import k8s_checks  # noqa: E402
import k8s_render  # noqa: E402

VARIANTS = {"base": "base", "legacy": "overlays/legacy-sidecar", "pvc": "overlays/pvc"}
# DESIGN §9; histograms are read through their _bucket/_sum/_count series.
COUNTERS_GAUGES = {"tollgate_requests_total", "tollgate_spend_total", "tollgate_budget_spent",
                   "tollgate_budget_reserved", "tollgate_budget_limit", "tollgate_provider_balance",
                   "tollgate_alerts_total", "tollgate_breaker_open"}
HISTOGRAMS = {"tollgate_estimate_ratio", "tollgate_overhead_seconds", "tollgate_upstream_seconds"}


def render_all(repo):
    """{variant: docs}, plus the PodMonitor component on top of base."""
    k8s = os.path.join(repo, "k8s")
    out = {v: k8s_render.render(os.path.join(k8s, p)) for v, p in VARIANTS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        # kustomize wants relative paths to other kustomizations.
        base = os.path.relpath(os.path.join(k8s, "base"), tmp)
        component = os.path.relpath(os.path.join(k8s, "components", "podmonitor"), tmp)
        with open(os.path.join(tmp, "kustomization.yaml"), "w", encoding="utf-8") as f:
            f.write(f"resources: [{base}]\ncomponents: [{component}]\n")
        out["podmonitor"] = k8s_render.render(tmp)
    return out


def check_fallback_matches(repo, renderings):
    """The fallback renderer must produce what kustomize does, or it tests the wrong thing."""
    if not k8s_render.have_kubectl() or os.environ.get("TOLLGATE_K8S_RENDER") == "python":
        return []
    errors = []
    for variant, path in VARIANTS.items():
        ours = k8s_render.by_key(k8s_render.render_python(os.path.join(repo, "k8s", path)))
        theirs = k8s_render.by_key(renderings[variant])
        if ours != theirs:
            diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            errors.append(f"{variant}: fallback renderer differs from kubectl kustomize on {diff}")
    return errors


def check_catalog(repo):
    catalog = os.path.join(repo, "rules", "catalog")
    copies = os.path.join(repo, "k8s", "base", "rules")
    want = sorted(f for f in os.listdir(catalog) if f.endswith(".yaml"))
    have = sorted(f for f in os.listdir(copies) if f.endswith(".yaml"))
    if want != have:
        return [f"k8s/base/rules holds {have}, rules/catalog holds {want}"]
    return [f"k8s/base/rules/{f} differs from rules/catalog/{f} (cp rules/catalog/*.yaml "
            "k8s/base/rules/)" for f in want
            if not filecmp.cmp(os.path.join(catalog, f), os.path.join(copies, f), shallow=False)]


def _walk_panels(panels):
    for p in panels:
        yield p
        yield from _walk_panels(p.get("panels", []))


def check_dashboard(repo):
    with open(os.path.join(repo, "k8s", "grafana-dashboard.json"), encoding="utf-8") as f:
        dash = json.load(f)
    known = COUNTERS_GAUGES | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
    errors, used, ids = [], set(), []
    for panel in _walk_panels(dash.get("panels", [])):
        ids.append(panel.get("id"))
        for target in panel.get("targets", []):
            for name in re.findall(r"\btollgate_[a-z_]+", target.get("expr", "")):
                used.add(name)
                if name not in known:
                    errors.append(f"dashboard panel '{panel.get('title')}' uses unknown metric {name}")
            if target.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"dashboard panel '{panel.get('title')}' ignores $datasource")
    if len(ids) != len(set(ids)):
        errors.append("dashboard panel ids are not unique")
    base_names = {re.sub(r"_(bucket|sum|count)$", "", n) if n not in COUNTERS_GAUGES else n
                  for n in used}
    for name in sorted((COUNTERS_GAUGES | HISTOGRAMS) - base_names):
        errors.append(f"dashboard shows no panel for {name}")
    return errors


def _deployment(docs):
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]


def _sidecar(docs):
    pod = _deployment(docs)
    return next(c for c in pod["initContainers"] + pod["containers"] if c["name"] == "tollgate")


def _set_config(docs, old, new):
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    cm["data"]["tollgate.yaml"] = cm["data"]["tollgate.yaml"].replace(old, new)


# Each mistake, made on a copy of the base rendering, and the exact message it must produce.
MUTATIONS = [
    (lambda d: _sidecar(d)["volumeMounts"][0].update(subPath="tollgate.yaml"),
     "base: config mount /etc/tollgate uses subPath: ConfigMap edits would never reach the file"),
    (lambda d: _sidecar(d)["livenessProbe"]["httpGet"].update(port=8080),
     "base: tollgate livenessProbe is /healthz on port 8080, want /healthz on the admin port 9090"),
    (lambda d: _sidecar(d)["readinessProbe"]["httpGet"].update(path="/healthz"),
     "base: tollgate readinessProbe is /healthz on port 9090, want /readyz on the admin port 9090"),
    (lambda d: _sidecar(d).pop("restartPolicy"),
     "base: tollgate must be an init container with restartPolicy: Always"),
    (lambda d: _sidecar(d)["volumeMounts"][1].update(name="tollgate-state"),
     "base: container tollgate mounts tollgate-state, which is no volume"),
    (lambda d: _sidecar(d)["securityContext"].update(readOnlyRootFilesystem=False),
     "base: tollgate securityContext (runAsNonRoot, runAsUser, readOnlyRootFilesystem, "
     "allowPrivilegeEscalation, drop, seccomp) is (True, 65532, False, False, ['ALL'], "
     "'RuntimeDefault')"),
    (lambda d: _deployment(d)["containers"][0]["env"].pop(),
     "base: app app env names ['HTTPS_PROXY', 'HTTP_PROXY', 'NODE_EXTRA_CA_CERTS', 'NO_PROXY', "
     "'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'http_proxy', 'https_proxy', 'no_proxy'] != "
     "['HTTPS_PROXY', 'HTTP_PROXY', 'NODE_EXTRA_CA_CERTS', 'NODE_USE_ENV_PROXY', 'NO_PROXY', "
     "'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'http_proxy', 'https_proxy', 'no_proxy']"),
    (lambda d: _set_config(d, "listen: 0.0.0.0:9090", "listen: 127.0.0.1:9090"),
     "base: admin.listen 127.0.0.1:9090 is loopback: the kubelet's probes and Prometheus come "
     "over the pod IP"),
    (lambda d: _set_config(d, "listen: 0.0.0.0:9090", "listen: 0.0.0.0:9191"),
     "base: tollgate livenessProbe is /healthz on port 9090, want /healthz on the admin port 9191"),
    (lambda d: _set_config(d, "ca_key: /etc/tollgate/ca/tls.key", "ca_key: /etc/tollgate/ca.key"),
     "base: tls.ca_key /etc/tollgate/ca.key is not key tls.key of Secret tollgate-ca in the mount"),
]


def self_test(base_docs, docker):
    """The checks must catch each mistake above; a check that cannot fail proves nothing."""
    errors = []
    for mutate, expected in MUTATIONS:
        docs = copy.deepcopy(base_docs)
        mutate(docs)
        got = k8s_checks.check_rendering(docs, "base", docker)
        if expected not in got:
            errors.append(f"self-test: expected {expected!r}, got {got}")
    return errors


def check(repo):
    docker = k8s_checks.dockerfile_facts(os.path.join(repo, "Dockerfile"))
    renderings = render_all(repo)
    errors = check_catalog(repo) + check_dashboard(repo)
    errors += check_fallback_matches(repo, renderings)
    if docker.get("ENTRYPOINT") != ["tollgate"]:
        errors.append(f"Dockerfile ENTRYPOINT is {docker.get('ENTRYPOINT')}, the manifests' args "
                      "assume [\"tollgate\"]")
    for variant, docs in renderings.items():
        errors += k8s_checks.check_rendering(docs, variant, docker)
    errors += self_test(renderings["base"], docker)
    for e in errors:
        print(e)
    renderer = "kubectl kustomize" if k8s_render.have_kubectl() and \
        os.environ.get("TOLLGATE_K8S_RENDER") != "python" else "fallback renderer"
    print(f"{len(renderings)} renderings ({renderer}), {len(MUTATIONS)} mutations: "
          f"{len(errors)} problem(s)")
    return 1 if errors else 0


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    command, repo = argv[1], argv[2]
    if command == "check":
        return check(repo)
    base = k8s_render.render(os.path.join(repo, "k8s", "base"))
    if command == "configmap":
        cm = next(d for d in base if d["kind"] == "ConfigMap")
        for name, text in cm["data"].items():
            with open(os.path.join(argv[3], name), "w", encoding="utf-8") as f:
                f.write(text)
    elif command == "args":
        pod = _deployment(base)
        container = next(c for c in pod["initContainers"] + pod["containers"]
                         if c["name"] == argv[3])
        print("\n".join(container.get("args", [])))
    elif command == "poststart":
        legacy = k8s_render.render(os.path.join(repo, "k8s", VARIANTS["legacy"]))
        print(_sidecar(legacy)["lifecycle"]["postStart"]["exec"]["command"][-1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
