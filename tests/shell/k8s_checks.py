"""What a mistake in k8s/ would break, checked on rendered manifests (no cluster needed).

check_rendering(docs, variant, dockerfile) returns one message per problem; an empty list means the
rendering is sound. Each message names the object at fault, so a failing test says what to fix.
"""

import ipaddress
import json
import os
import re
import shlex

import yaml

SIDECAR = "tollgate"
BUNDLE_INIT = "tollgate-ca-bundle"
CONFIG_MAP = "tollgate-config"
CA_SECRET = "tollgate-ca"
# The names clients read: proxies (curl reads only lower-case http_proxy), CA trust, Node's switch.
APP_ENV = {"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
           "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY"}
NO_PROXY_MUST = ["localhost", "127.0.0.1", ".svc", ".cluster.local"]
NATIVE_VARIANTS = {"base", "pvc", "podmonitor"}


def dockerfile_facts(path):
    """ENTRYPOINT, CMD (exec form) and USER of the runtime stage."""
    facts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, _, rest = line.strip().partition(" ")
            if word in ("ENTRYPOINT", "CMD"):
                facts[word] = json.loads(rest)
            elif word == "USER":
                facts[word] = rest.strip()
    return facts


def host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def _find(containers, name):
    return next((c for c in containers if c.get("name") == name), None)


def _probe_port(container, port):
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return named[0] if named else None


def _mount_for(container, path):
    """The volumeMount whose folder holds `path` (the deepest one)."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    return best


class Checker:
    def __init__(self, docs, variant, dockerfile):
        self.docs, self.variant, self.docker = docs, variant, dockerfile
        self.errors = []

    def fail(self, message):
        self.errors.append(f"{self.variant}: {message}")

    def run(self):
        deployments = [d for d in self.docs if d["kind"] == "Deployment"]
        maps = [d for d in self.docs if d["kind"] == "ConfigMap" and
                d["metadata"]["name"] == CONFIG_MAP]
        if len(deployments) != 1 or len(maps) != 1:
            self.fail(f"want one Deployment and one ConfigMap {CONFIG_MAP}, got "
                      f"{len(deployments)} and {len(maps)}")
            return self.errors
        self.deployment = deployments[0]
        self.pod = self.deployment["spec"]["template"]["spec"]
        self.data = maps[0].get("data", {})
        self.config = yaml.safe_load(self.data.get("tollgate.yaml", "")) or {}
        self.admin_port = self.check_config()
        self.sidecar = _find(_containers(self.pod), SIDECAR)
        if self.sidecar is None:
            self.fail(f"no container named {SIDECAR}")
            return self.errors
        self.check_placement()
        self.check_probes()
        self.check_mounts()
        self.check_config_mount()
        self.check_data()
        self.check_security()
        self.check_scrape()
        self.check_apps()
        if self.variant == "podmonitor":
            self.check_pod_monitor()
        return self.errors

    def check_config(self):
        includes = self.config.get("include", [])
        for name in includes:
            if name not in self.data:
                self.fail(f"tollgate.yaml includes {name}, which the ConfigMap does not carry")
        for key in self.data:
            if key != "tollgate.yaml" and key not in includes:
                self.fail(f"ConfigMap file {key} is not included by tollgate.yaml")
        listen_host, _ = host_port(str(self.config.get("listen", "")))
        if listen_host != "127.0.0.1":
            self.fail(f"listen {self.config.get('listen')} is not the pod's loopback")
        admin = str(self.config.get("admin", {}).get("listen", ""))
        admin_host, admin_port = host_port(admin)
        if admin_host in ("localhost", "") or ipaddress.ip_address(admin_host).is_loopback:
            self.fail(f"admin.listen {admin} is loopback: the kubelet's probes and Prometheus "
                      "come over the pod IP")
        return admin_port

    def check_placement(self):
        inits = [c["name"] for c in self.pod.get("initContainers", [])]
        regular = [c["name"] for c in self.pod.get("containers", [])]
        if BUNDLE_INIT not in inits:
            self.fail(f"no init container {BUNDLE_INIT}")
        elif _find(self.pod["initContainers"], BUNDLE_INIT).get("restartPolicy"):
            self.fail(f"{BUNDLE_INIT} must be a plain init container (it must finish)")
        if self.variant in NATIVE_VARIANTS:
            if SIDECAR not in inits or self.sidecar.get("restartPolicy") != "Always":
                self.fail(f"{SIDECAR} must be an init container with restartPolicy: Always")
            elif BUNDLE_INIT in inits and inits.index(BUNDLE_INIT) > inits.index(SIDECAR):
                self.fail(f"{BUNDLE_INIT} must run before {SIDECAR}")
            return
        if regular[:1] != [SIDECAR] or "restartPolicy" in self.sidecar:
            self.fail(f"{SIDECAR} must be the first regular container, without restartPolicy")
        command = (self.sidecar.get("lifecycle", {}).get("postStart", {})
                   .get("exec", {}).get("command", []))
        script = " ".join(command)
        if f"/dev/tcp/127.0.0.1/{self.admin_port}" not in script or "/readyz" not in script:
            self.fail(f"{SIDECAR} postStart must wait for /readyz on port {self.admin_port}")

    def check_probes(self):
        want = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
        for probe, path in want.items():
            get = self.sidecar.get(probe, {}).get("httpGet")
            if not get:
                self.fail(f"{SIDECAR} has no httpGet {probe}")
                continue
            port = _probe_port(self.sidecar, get.get("port"))
            if get.get("path") != path or port != self.admin_port:
                self.fail(f"{SIDECAR} {probe} is {get.get('path')} on port {port}, want {path} "
                          f"on the admin port {self.admin_port}")

    def check_mounts(self):
        volumes = {v["name"] for v in self.pod.get("volumes", [])}
        used = set()
        for c in _containers(self.pod):
            for m in c.get("volumeMounts", []):
                used.add(m["name"])
                if m["name"] not in volumes:
                    self.fail(f"container {c['name']} mounts {m['name']}, which is no volume")
        for name in sorted(volumes - used):
            self.fail(f"volume {name} is mounted by no container")

    def _volume(self, name):
        return next((v for v in self.pod.get("volumes", []) if v["name"] == name), {})

    def check_config_mount(self):
        args = self.sidecar.get("args", [])
        expected = self.docker.get("CMD")
        if args != expected:
            self.fail(f"{SIDECAR} args {args} differ from the image's CMD {expected}")
        config_path = args[args.index("--config") + 1] if "--config" in args else ""
        mount = _mount_for(self.sidecar, config_path)
        if mount is None or mount["mountPath"] != os.path.dirname(config_path):
            self.fail(f"{config_path} is not in a folder mount of {SIDECAR}")
            return
        if "subPath" in mount or "subPathExpr" in mount:
            self.fail(f"config mount {mount['mountPath']} uses subPath: ConfigMap edits would "
                      "never reach the file")
        volume = self._volume(mount["name"])
        sources = volume.get("projected", {}).get("sources", [{"configMap": volume.get("configMap")}])
        if not any((s.get("configMap") or {}).get("name") == CONFIG_MAP for s in sources):
            self.fail(f"volume {mount['name']} does not carry ConfigMap {CONFIG_MAP}")
        tls = self.config.get("tls", {})
        for field, key in (("ca_cert", "tls.crt"), ("ca_key", "tls.key")):
            path = tls.get(field, "")
            inside = os.path.relpath(path, mount["mountPath"]) if path.startswith("/") else ""
            secrets = [s["secret"] for s in sources if (s.get("secret") or {}).get("name") == CA_SECRET]
            items = [i for s in secrets for i in s.get("items", [])]
            if not any(i["key"] == key and i["path"] == inside for i in items):
                self.fail(f"tls.{field} {path} is not key {key} of Secret {CA_SECRET} in the mount")

    def check_data(self):
        data_dir = self.config.get("data_dir", "")
        store = self.config.get("store", {}).get("path", "")
        if not store.startswith(data_dir.rstrip("/") + "/"):
            self.fail(f"store.path {store} is outside data_dir {data_dir}")
        mount = _mount_for(self.sidecar, data_dir)
        if mount is None or mount["mountPath"] != data_dir or mount.get("readOnly"):
            self.fail(f"data_dir {data_dir} is not a writable mount of {SIDECAR}")
            return
        volume = self._volume(mount["name"])
        if self.variant != "pvc":
            if "emptyDir" not in volume:
                self.fail(f"data volume {mount['name']} is not an emptyDir")
            return
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        claims = {d["metadata"]["name"] for d in self.docs if d["kind"] == "PersistentVolumeClaim"}
        if claim not in claims:
            self.fail(f"data volume {mount['name']} is not a PersistentVolumeClaim of this overlay")
        if self.deployment["spec"].get("strategy", {}).get("type") != "Recreate":
            self.fail("a ledger on a ReadWriteOnce claim needs strategy Recreate")

    def check_security(self):
        want_user = int(self.docker.get("USER", "0").split(":")[0])
        pod_seccomp = self.pod.get("securityContext", {}).get("seccompProfile", {})
        for c in (self.sidecar, _find(self.pod.get("initContainers", []), BUNDLE_INIT) or {}):
            sc = c.get("securityContext", {})
            seccomp = sc.get("seccompProfile", pod_seccomp).get("type")
            got = (sc.get("runAsNonRoot"), sc.get("runAsUser"), sc.get("readOnlyRootFilesystem"),
                   sc.get("allowPrivilegeEscalation"), sc.get("capabilities", {}).get("drop"),
                   seccomp)
            if got != (True, want_user, True, False, ["ALL"], "RuntimeDefault"):
                self.fail(f"{c.get('name')} securityContext (runAsNonRoot, runAsUser, "
                          "readOnlyRootFilesystem, allowPrivilegeEscalation, drop, seccomp) is "
                          f"{got}")
        res = self.sidecar.get("resources", {})
        for kind in ("requests", "limits"):
            if set(res.get(kind, {})) != {"cpu", "memory"}:
                self.fail(f"{SIDECAR} resources.{kind} must set cpu and memory")
        token = [e for e in self.sidecar.get("env", []) if e["name"] == "TOLLGATE_ADMIN_TOKEN"]
        if not token or "secretKeyRef" not in token[0].get("valueFrom", {}):
            self.fail("TOLLGATE_ADMIN_TOKEN must come from a Secret")

    def check_scrape(self):
        notes = self.deployment["spec"]["template"]["metadata"].get("annotations", {})
        got = (notes.get("prometheus.io/scrape"), notes.get("prometheus.io/port"),
               notes.get("prometheus.io/path"))
        if got != ("true", str(self.admin_port), "/metrics"):
            self.fail(f"prometheus.io scrape/port/path annotations are {got}")

    def check_apps(self):
        bundle = _find(self.pod.get("initContainers", []), BUNDLE_INIT) or {}
        args = bundle.get("args", [])
        out = args[args.index("--out") + 1] if "--out" in args else ""
        out_mount = _mount_for(bundle, out)
        _, listen_port = host_port(str(self.config.get("listen")))
        proxy = f"http://127.0.0.1:{listen_port}"
        apps = [c for c in self.pod.get("containers", []) if c["name"] != SIDECAR]
        if not apps:
            self.fail("no app container")
        for app in apps:
            env = {e["name"]: e.get("value") for e in app.get("env", [])}
            if set(env) != APP_ENV:
                self.fail(f"app {app['name']} env names {sorted(env)} != {sorted(APP_ENV)}")
                continue
            for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
                if env[name] != proxy:
                    self.fail(f"app {app['name']} {name}={env[name]}, want {proxy}")
            skip = env["NO_PROXY"].split(",")
            if env["no_proxy"] != env["NO_PROXY"] or any(s not in skip for s in NO_PROXY_MUST):
                self.fail(f"app {app['name']} NO_PROXY/no_proxy must match and cover "
                          f"{NO_PROXY_MUST}")
            if env["NODE_USE_ENV_PROXY"] != "1":
                self.fail(f"app {app['name']} NODE_USE_ENV_PROXY must be 1")
            paths = {env[n] for n in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")}
            mount = _mount_for(app, next(iter(paths)))
            if (len(paths) != 1 or mount is None or out_mount is None or
                    mount["name"] != out_mount["name"] or
                    os.path.relpath(next(iter(paths)), mount["mountPath"]) !=
                    os.path.relpath(out, out_mount["mountPath"])):
                self.fail(f"app {app['name']} CA variables {sorted(paths)} are not the bundle "
                          f"{BUNDLE_INIT} writes ({out})")

    def check_pod_monitor(self):
        monitors = [d for d in self.docs if d["kind"] == "PodMonitor"]
        labels = self.deployment["spec"]["template"]["metadata"].get("labels", {})
        ports = {p.get("name") for p in self.sidecar.get("ports", [])
                 if p.get("containerPort") == self.admin_port}
        if len(monitors) != 1:
            self.fail("want one PodMonitor")
            return
        spec = monitors[0]["spec"]
        selector = spec.get("selector", {}).get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            self.fail(f"PodMonitor selector {selector} does not select the pod {labels}")
        for ep in spec.get("podMetricsEndpoints", []):
            if ep.get("port") not in ports or ep.get("path") != "/metrics":
                self.fail(f"PodMonitor endpoint {ep} is not /metrics on the admin port")


def check_rendering(docs, variant, dockerfile):
    return Checker(docs, variant, dockerfile).run()


def post_start_script(docs):
    """The legacy overlay's postStart command, as one shell line."""
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    return shlex.join(_find(pod["containers"], SIDECAR)["lifecycle"]["postStart"]["exec"]["command"])


