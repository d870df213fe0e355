"""Runs a real tollgate against fake providers on loopback.

A test creates `Harness()` (usually in setUpClass): it makes a temp dir, a test upstream CA and a
server certificate for the provider hosts (with the `openssl` CLI), starts the fake providers,
writes a tollgate config whose upstream.resolve sends every provider host to them, starts
`$TOLLGATE_BIN run --config` and reads the port and CA bundle lines. Everything it starts is
stopped by `close()` (and at exit); the process logs are printed when a test failed.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_provider import FakeProvider  # noqa: E402

PROVIDER_HOSTS = ["api.openai.com", "api.anthropic.com", "api.keepa.com",
                  "generativelanguage.googleapis.com"]
TUNNEL_HOST = "tunnel.test"
PLAIN_HOST = "plain.test"

_live = []


@atexit.register
def _cleanup():
    for h in list(_live):
        h.close()


def tollgate_bin():
    path = os.environ.get("TOLLGATE_BIN")
    if not path:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        path = os.path.join(root, "build", "tollgate")
    return os.path.abspath(path)


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_test_pki(directory):
    """Test CA + one server certificate for every fake host; returns (ca, cert, key) paths."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "upstream-ca.key", "-out", "upstream-ca.pem", "-days", "2",
             "-subj", "/O=fake upstream/CN=fake upstream CA", cwd=directory)
    sans = ",".join("DNS:" + h for h in PROVIDER_HOSTS + [TUNNEL_HOST])
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % sans)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=fake provider",
             cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "upstream-ca.pem", "-CAkey",
             "upstream-ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", "ext.cnf", cwd=directory)
    return (os.path.join(directory, "upstream-ca.pem"), os.path.join(directory, "server.pem"),
            os.path.join(directory, "server.key"))


class Harness:
    def __init__(self, extra_yaml="", threads=2, resolve_extra=None, start=True, admin_token=None,
                 store="memory"):
        self.dir = tempfile.mkdtemp(prefix="tollgate-test-")
        self.upstream_ca, cert, key = make_test_pki(self.dir)
        self.fake = FakeProvider(cert, key)
        self.plain = FakeProvider()
        self.threads = threads
        self.extra_yaml = extra_yaml
        self.admin_token = admin_token
        self.store = store
        self.resolve_extra = resolve_extra or {}
        self.proc = None
        self.stdout_lines = []
        self.proxy_url = self.ca_bundle = self.admin_url = None
        self.port = None
        _live.append(self)
        if start:
            self.start()

    def config_text(self):
        resolve = {"%s:443" % h: "127.0.0.1:%d" % self.fake.port for h in PROVIDER_HOSTS}
        resolve["%s:443" % TUNNEL_HOST] = "127.0.0.1:%d" % self.fake.port
        resolve["%s:80" % PLAIN_HOST] = "127.0.0.1:%d" % self.plain.port
        resolve["unreachable.test:80"] = "127.0.0.1:1"  # nothing listens on port 1
        resolve.update(self.resolve_extra)
        lines = [
            "listen: 127.0.0.1:0",
            "admin: { listen: 127.0.0.1:0%s }" % (", token: " + self.admin_token if self.admin_token else ""),
            "data_dir: %s" % os.path.join(self.dir, "data"),
            "threads: %d" % self.threads,
            "tls:",
            "  upstream_trust: %s" % self.upstream_ca,
            "upstream:",
            "  connect_timeout: 10s",  # a loaded CI machine, 100 handshakes at once on a Python server
            "  resolve:",
        ] + ["    %s: %s" % (k, v) for k, v in resolve.items()] + [
            "tunnel:",
            "  unknown_hosts: allow",
            "  deny_networks: [loopback, link-local]",
            "  allowed_ports: [443]",
            "store: { type: %s }" % self.store,
            "include: [catalog:openai, catalog:anthropic, catalog:gemini, catalog:keepa]",
        ]
        return "\n".join(lines) + "\n" + self.extra_yaml

    def start(self):
        self.config_path = os.path.join(self.dir, "tollgate.yaml")
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        if getattr(self, "stderr", None):
            self.stderr.close()
        self.stderr = open(self.stderr_path, "a")
        self.proc = subprocess.Popen([tollgate_bin(), "run", "--config", self.config_path],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     cwd=self.dir)
        ready = threading.Event()

        def reader():
            for line in self.proc.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                if line.startswith("tollgate: CA bundle"):
                    ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True).start()
        if not ready.wait(20) or self.proc.poll() is not None and not self.ca_bundle_line():
            raise RuntimeError("tollgate did not start:\n" + self.logs())
        m = re.match(r"tollgate: proxy listening on (http://127\.0\.0\.1:(\d+))", self.stdout_lines[0])
        self.proxy_url, self.port = m.group(1), int(m.group(2))
        self.ca_bundle = self.ca_bundle_line().rsplit(": ", 1)[1]
        time.sleep(0.2)  # an admin server prints its line right after the proxy's two
        for line in self.stdout_lines:
            m = re.match(r"tollgate: admin .*?(http://\S+)", line)
            if m:
                self.admin_url = m.group(1)

    def ca_bundle_line(self):
        return next((l for l in self.stdout_lines if l.startswith("tollgate: CA bundle")), None)

    def proxies(self):
        return {"http": self.proxy_url, "https": self.proxy_url}

    def access_log(self):
        import json
        out = []
        for line in self.stdout_lines:
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends `sig` and waits; returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    def logs(self):
        err = ""
        try:
            self.stderr.flush()
            with open(self.stderr_path) as f:
                err = f.read()
        except (OSError, AttributeError):
            pass
        return "--- stdout ---\n%s\n--- stderr ---\n%s" % ("\n".join(self.stdout_lines), err)

    def close(self, keep_logs=False):
        if self in _live:
            _live.remove(self)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if keep_logs:
            print(self.logs(), file=sys.stderr)
        for f in (getattr(self, "stderr", None), self.proc and self.proc.stdout):
            if f:
                f.close()
        self.fake.stop()
        self.plain.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class HarnessTestCase(unittest.TestCase):
    """A test class that shares one tollgate, `cls.h`, closed after the class; its logs are printed
    when a test of the class failed."""
    h = None
    _failed = False

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        result = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            type(self)._failed = True
        return result

    @classmethod
    def tearDownClass(cls):
        if cls.h:
            cls.h.close(keep_logs=cls._failed)
