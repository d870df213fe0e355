"""The admin API against a live tollgate (issue 5): every endpoint with and without the token,
metrics after known traffic, the audit log across a restart, reload (API, SIGHUP, file change,
ConfigMap symlink swap, under load) and `tollgate status`."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase, tollgate_bin  # noqa: E402

TOKEN = "s3cret-admin-token"
BUDGETS = """budgets:
  - { name: daily, currency: usd, limit: %s, period: day, alerts: [80%%, 90%%, 100%%] }
"""


class AdminHarness(Harness):
    """The shared harness with an admin token, a SQLite ledger (restarts keep state) and a budget;
    with `configmap=True` the config path is a Kubernetes-style `..data` symlink."""

    def __init__(self, limit="50", configmap=False, **kw):
        self.limit = limit
        self.configmap = configmap
        super().__init__(admin_token=TOKEN, store="sqlite", **kw)

    def config_text(self):
        return super().config_text() + BUDGETS % self.limit

    def start(self):
        if self.configmap and not os.path.islink(os.path.join(self.dir, "tollgate.yaml")):
            os.makedirs(os.path.join(self.dir, "..2024_v1"))
            os.symlink("..2024_v1", os.path.join(self.dir, "..data"))
            os.symlink("..data/tollgate.yaml", os.path.join(self.dir, "tollgate.yaml"))
        self.stdout_lines = []
        super().start()

    def restart(self):
        self.stop()
        self.start()

    def swap_configmap(self, text, version):
        """What the kubelet does: new timestamped folder, ..data_tmp -> it, rename onto ..data."""
        folder = "..2024_v%d" % version
        os.makedirs(os.path.join(self.dir, folder))
        with open(os.path.join(self.dir, folder, "tollgate.yaml"), "w") as f:
            f.write(text)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(folder, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def admin(self, method, path, token=TOKEN, **kw):
        headers = kw.pop("headers", {})
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return requests.request(method, self.admin_url + path, headers=headers, timeout=10, **kw)

    def chat(self, usage="1000,500"):
        return requests.post("https://api.openai.com/v1/chat/completions",
                             json={"model": "gpt-4o-mini", "max_tokens": 600,
                                   "messages": [{"role": "user", "content": "hi"}]},
                             headers={"authorization": "Bearer sk-test", "x-fake-usage": usage},
                             proxies=self.proxies(), verify=self.ca_bundle, timeout=20)

    def budget(self, name="daily"):
        r = self.admin("GET", "/v1/budgets/" + name, token=None)
        r.raise_for_status()
        return r.json()["budgets"][0]


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


class AdminBase(HarnessTestCase):
    harness_args = {}

    @classmethod
    def setUpClass(cls):
        cls.h = AdminHarness(**cls.harness_args)
        if not cls.h.admin_url:
            cls.h.close(keep_logs=True)
            raise AssertionError("tollgate printed no 'admin listening' line")



class AdminEndpointsTest(AdminBase):
    def test_health_and_readiness_need_no_token(self):
        r = self.h.admin("GET", "/healthz", token=None)
        self.assertEqual((r.status_code, r.text), (200, "ok\n"))
        r = self.h.admin("GET", "/readyz", token=None)
        self.assertEqual((r.status_code, r.text), (200, "ready\n"))

    def test_budgets_and_metrics_after_known_traffic(self):
        before = float(self.h.budget()["spent"])
        for _ in range(3):
            self.assertEqual(self.h.chat().status_code, 200)
        # gpt-4o-mini: 1000 input x 0.15/1M + 500 output x 0.60/1M = 0.00045 USD per request.
        self.assertTrue(wait_for(lambda: abs(float(self.h.budget()["spent"]) - before - 0.00135) < 1e-9),
                        self.h.budget())
        b = self.h.budget()
        self.assertEqual(sorted(b), sorted(["name", "key", "currency", "limit", "extra",
                                            "effective_limit", "spent", "reserved", "remaining",
                                            "refusing_above", "period_start", "resets_at", "mode"]))
        self.assertEqual((b["currency"], b["mode"], b["reserved"]), ("usd", "enforce", "0"))
        self.assertRegex(b["resets_at"], r"^\d{4}-\d\d-\d\dT00:00:00Z$")
        r = self.h.admin("GET", "/metrics", token=None)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"))
        labels = '{budget="daily",currency="usd",key=""}'
        self.assertAlmostEqual(metric(r.text, "tollgate_budget_spent" + labels), float(b["spent"]), places=9)
        self.assertEqual(metric(r.text, "tollgate_budget_limit" + labels), float(b["limit"]))
        self.assertEqual(metric(r.text, "tollgate_budget_reserved" + labels), 0.0)
        forwarded = metric(r.text, 'tollgate_requests_total{endpoint="chat",outcome="forwarded",provider="openai"}')
        self.assertGreaterEqual(forwarded, 3)
        # The overhead is observed once the exchange is complete, just after the client has its answer.
        self.assertTrue(wait_for(lambda: metric(self.h.admin("GET", "/metrics", token=None).text,
                                                "tollgate_overhead_seconds_count") >= 3))
        for name in ["tollgate_spend_total", "tollgate_estimate_ratio", "tollgate_upstream_seconds",
                     "tollgate_provider_balance", "tollgate_breaker_open"]:
            self.assertIn("# TYPE " + name, r.text)

    def test_mutations_without_and_with_the_token(self):
        calls = [("PATCH", "/v1/budgets/daily", {"limit": 60}),
                 ("POST", "/v1/budgets/daily/reset", {"reason": "test"}),
                 ("POST", "/v1/overrides", {"budget": "daily", "extra": "5", "until": "1h", "reason": "t"}),
                 ("POST", "/v1/reload", {})]
        for method, path, body in calls:
            with self.subTest(path=path):
                r = self.h.admin(method, path, token=None, json=body)
                self.assertEqual(r.status_code, 401, r.text)
                r = self.h.admin(method, path, token="wrong", json=body)
                self.assertEqual((r.status_code, r.json()), (403, {"error": "invalid bearer token"}))
                r = self.h.admin(method, path, json=body)
                self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.h.budget()["limit"], "60")
        self.h.admin("PATCH", "/v1/budgets/daily", json={"limit": "50"}).raise_for_status()

    def test_read_endpoints_and_errors(self):
        r = self.h.admin("GET", "/v1/balances", token=None)
        self.assertEqual(r.status_code, 200)
        self.assertIsInstance(r.json()["balances"], list)
        r = self.h.admin("GET", "/v1/budgets/nope", token=None)
        self.assertEqual((r.status_code, r.json()), (404, {"error": "no such budget: nope"}))
        r = self.h.admin("GET", "/v1/nothing", token=None)
        self.assertEqual(r.status_code, 404)
        r = self.h.admin("DELETE", "/v1/budgets/daily")
        self.assertEqual((r.status_code, r.headers["allow"]), (405, "GET, PATCH"))
        r = self.h.admin("PATCH", "/v1/budgets/daily", data="{not json")
        self.assertEqual(r.status_code, 400)
        r = self.h.admin("POST", "/v1/estimate", token=None, data=b" " * (1024 * 1024 + 1))
        self.assertEqual(r.status_code, 413)

    def test_estimate_uses_the_live_config(self):
        r = self.h.admin("POST", "/v1/estimate", token=None, json={
            "method": "POST", "url": "https://api.openai.com/v1/chat/completions",
            "headers": {"content-type": "application/json"},
            "body": {"model": "gpt-4o-mini", "max_tokens": 100,
                     "messages": [{"role": "user", "content": "hi"}]}})
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual((body["provider"], body["endpoint"], body["model"], body["currency"]),
                         ("openai", "chat", "gpt-4o-mini", "usd"))
        self.assertEqual(body["estimate"], "0.000063")
        self.assertEqual(body["budgets"], ["daily"])

    def test_events_record_admin_actions(self):
        last = self.h.admin("GET", "/v1/events", token=None).json()["last_id"]
        self.h.admin("PATCH", "/v1/budgets/daily", json={"limit": 51, "reason": "events"}).raise_for_status()
        events = self.h.admin("GET", "/v1/events?since=%d" % last, token=None).json()
        admin = [e for e in events["events"] if e["type"] == "admin"]
        self.assertEqual(len(admin), 1, events)
        self.assertEqual(admin[0]["budget"], "daily")
        self.assertGreater(events["last_id"], last)
        self.h.admin("PATCH", "/v1/budgets/daily", json={"limit": 50}).raise_for_status()

    def test_status_command_against_the_live_instance(self):
        out = subprocess.run([tollgate_bin(), "status", "--admin", self.h.admin_url],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("BUDGET", out.stdout)
        # An override (another test adds one) shows as "+ extra"; % is of the effective limit.
        self.assertRegex(out.stdout, r"daily\s+-\s+[0-9.]+ / 50( \+ [0-9.]+)? usd\s+[0-9.]+%")
        out = subprocess.run([tollgate_bin(), "status", "--admin", self.h.admin_url, "--json"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        combined = json.loads(out.stdout)
        self.assertEqual(combined["budgets"][0]["name"], "daily")
        self.assertIn("balances", combined)


class AdminAuditRestartTest(AdminBase):
    def test_audit_log_survives_a_restart_and_has_each_mutation_once(self):
        h = self.h
        h.admin("PATCH", "/v1/budgets/daily", json={"limit": "75.5", "reason": "raise"}).raise_for_status()
        h.admin("POST", "/v1/budgets/daily/reset", json={"reason": "invoice"}).raise_for_status()
        h.admin("POST", "/v1/overrides", json={"budget": "daily", "extra": 5, "until": "2h",
                                               "reason": "launch"}).raise_for_status()
        h.admin("PATCH", "/v1/budgets/daily", token="wrong", json={"limit": 1})  # refused: not audited
        h.restart()
        self.assertEqual(h.budget()["limit"], "75.5")  # the runtime limit was persisted
        # The override shows the same in /v1/budgets and in `tollgate status`.
        b = h.budget()
        self.assertEqual((b["extra"], b["effective_limit"]), ("5", "80.5"))
        self.assertEqual(b["refusing_above"], b["remaining"])
        out = subprocess.run([tollgate_bin(), "status", "--admin", h.admin_url],
                             capture_output=True, text=True, timeout=30)
        self.assertRegex(out.stdout, r"daily\s+-\s+0 / 75\.5 \+ 5 usd\s+0%\s+0\s+80\.5\s")
        h.admin("PATCH", "/v1/budgets/daily", json={"limit": 80, "reason": "after restart"}).raise_for_status()
        with open(os.path.join(h.dir, "data", "audit.log")) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual([l["action"] for l in lines],
                         ["budget.set_limit", "budget.reset", "override.add", "budget.set_limit"])
        self.assertEqual([l["reason"] for l in lines], ["raise", "invoice", "launch", "after restart"])
        self.assertEqual((lines[0]["before"], lines[0]["after"]), ({"limit": "50"}, {"limit": "75.5"}))
        for l in lines:
            self.assertRegex(l["caller"], r"^127\.0\.0\.1:\d+$")
            self.assertRegex(l["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class AdminReloadTest(AdminBase):
    harness_args = {"configmap": True}

    def set_limit_in_file(self, limit, valid=True):
        self.h.limit = limit
        text = self.h.config_text() + ("" if valid else "bogus_key: 1\n")
        self.h.write_config(text)

    def test_reload_via_api_valid_and_invalid(self):
        self.set_limit_in_file("70", valid=False)
        r = self.h.admin("POST", "/v1/reload")
        self.assertEqual(r.status_code, 400)
        self.assertFalse(r.json()["ok"])
        self.assertRegex(r.json()["errors"][0], r"tollgate\.yaml:\d+:1: unknown key 'bogus_key'")
        self.assertEqual(self.h.budget()["limit"], "50")
        self.set_limit_in_file("70")
        r = self.h.admin("POST", "/v1/reload")
        self.assertEqual((r.status_code, r.json()["ok"]), (200, True))
        self.assertEqual(self.h.budget()["limit"], "70")
        self.set_limit_in_file("50")
        self.h.admin("POST", "/v1/reload").raise_for_status()

    def test_sighup_reloads(self):
        self.set_limit_in_file("65")
        self.h.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: self.h.budget()["limit"] == "65"), self.h.budget())
        self.set_limit_in_file("50")
        self.h.admin("POST", "/v1/reload").raise_for_status()

    def test_configmap_symlink_swap_is_picked_up(self):
        self.h.limit = "42"
        self.h.swap_configmap(self.h.config_text(), version=int(time.time() * 1000) % 10**9)
        self.assertTrue(wait_for(lambda: self.h.budget()["limit"] == "42"), self.h.budget())
        # The reload event follows the new config by a moment (applied, then told).
        def reloads():
            events = self.h.admin("GET", "/v1/events", token=None).json()["events"]
            return [e for e in events if e["type"] == "reload"]
        self.assertTrue(wait_for(reloads), self.h.admin("GET", "/v1/events", token=None).text)
        self.h.limit = "50"
        self.h.swap_configmap(self.h.config_text(), version=int(time.time() * 1000) % 10**9 + 1)
        self.assertTrue(wait_for(lambda: self.h.budget()["limit"] == "50"))

    def test_reload_under_load_drops_nothing(self):
        failures, done = [], threading.Event()
        count = [0]

        def client():
            while not done.is_set():
                try:
                    r = self.h.chat(usage="10,5")
                    if r.status_code != 200:
                        failures.append(r.status_code)
                except requests.RequestException as e:
                    failures.append(repr(e))
                count[0] += 1

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        last_valid = None
        try:
            # At least 10 reloads, and on until the clients made 20 requests between them: on a
            # loaded machine 10 reloads may be over before many requests were made.
            i = 0
            while i < 10 or (count[0] < 20 and i < 400):
                valid = i % 2 == 0
                self.set_limit_in_file(str(100 + i), valid=valid)
                r = self.h.admin("POST", "/v1/reload")
                self.assertEqual(r.status_code, 200 if valid else 400, r.text)
                if valid:
                    last_valid = str(100 + i)
                i += 1
                time.sleep(0.1)
        finally:
            done.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(count[0], 20)
        self.assertEqual(self.h.budget()["limit"], last_valid)
        errors = [e for e in self.h.admin("GET", "/v1/events", token=None).json()["events"]
                  if e["type"] == "error"]
        self.assertGreaterEqual(len(errors), 5)
        self.set_limit_in_file("50")
        self.h.admin("POST", "/v1/reload").raise_for_status()


if __name__ == "__main__":
    unittest.main(verbosity=2)
