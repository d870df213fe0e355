"""Where the money went (DESIGN §13): after a mix of JSON, streamed, refused, client-gone and
upstream-error exchanges from two clients with two keys and three models, the cost records say
what the stand-in provider charged, to the micro-USD: /v1/spend by model and by credential,
/v1/records as CSV, `tollgate report`; the receipts export verifies offline and a tampered copy
does not. After kill -9 mid-load and a restart, records and ledger agree exactly."""
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
from collections import defaultdict
from decimal import Decimal

import requests
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402
from harness import tollgate_bin  # noqa: E402
from raw_http import request as raw_request, tls_through  # noqa: E402
from redis_server import RedisServer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHAT = "https://api.openai.com/v1/chat/completions"
MODELS = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
CLIENTS = ["team-a", "team-b"]
KEYS = ["sk-alpha-1111", "sk-beta-2222"]
RULES = """clients: { identify: "header:x-client" }
receipts: { sign: true }
budgets:
  - { name: daily, currency: usd, limit: 1, period: day, match: { provider: openai } }
  - { name: per-client, currency: usd, limit: 1, period: day, per: client, match: { provider: openai } }
"""


def catalog_prices():
    with open(os.path.join(ROOT, "rules", "catalog", "openai.yaml")) as f:
        models = yaml.safe_load(f)["providers"]["openai"]["models"]
    return {m: (models[m]["input"], models[m]["output"]) for m in MODELS}


def key_id(key):
    out = subprocess.run([tollgate_bin(), "key-id", key], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


class RecordsAndReportsTest(BudgetTestCase):
    @classmethod
    def store(cls):
        return "sqlite"

    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=RULES, store=cls.store())
        # The stand-in bills the three models at the catalog's list prices, with its own code.
        cls.h.fake.state.prices.update(catalog_prices())
        cls.responses = []  # (kind, model, client, key, response or None)
        cls.run_mix()
        cls.settled = cls.h.settled("daily")

    @classmethod
    def post(cls, model, client, key, tag, usage, stream=False, max_tokens=100, extra=None):
        headers = {"authorization": "Bearer " + key, "x-client": client, "x-fake-usage": usage,
                   "x-req-id": "%s|%s|%s|%s" % (model, client, key, tag)}
        headers.update(extra or {})
        body = {"model": model, "max_tokens": max_tokens, "stream": stream,
                "messages": [{"role": "user", "content": "what did this cost?"}]}
        r = requests.post(CHAT, json=body, headers=headers, proxies=cls.h.proxies(),
                          verify=cls.h.ca_bundle, timeout=30)
        if stream:
            _ = r.content
        return r

    @classmethod
    def leave_mid_stream(cls, model, client, key, tag):
        """A streamed chat the client leaves after its first event; tollgate reads on for usage."""
        tls = tls_through(cls.h.port, "api.openai.com", cls.h.ca_bundle)
        body = json.dumps({"model": model, "max_tokens": 100, "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]}).encode()
        tls.sendall(raw_request("POST", "/v1/chat/completions", "api.openai.com", body, {
            "Content-Type": "application/json", "Authorization": "Bearer " + key,
            "x-client": client, "x-fake-usage": "300,40", "x-fake-spacing-ms": "150",
            "x-fake-events": "5", "x-req-id": "%s|%s|%s|%s" % (model, client, key, tag)}))
        data = b""
        while b"data: " not in data:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
        tls.close()
        head = data.split(b"\r\n\r\n", 1)[0].decode()
        fields = (l.split(": ", 1) for l in head.split("\r\n")[1:] if ": " in l)
        return {name.lower(): value for name, value in fields}

    @classmethod
    def run_mix(cls):
        n = 0
        for client in CLIENTS:
            for key in KEYS:
                for model in MODELS:
                    n += 1
                    r = cls.post(model, client, key, "json-%d" % n, "%d,%d" % (100 + n, 20 + n))
                    cls.responses.append(("json", model, client, key, r))
                model = MODELS[n % 3]
                r = cls.post(model, client, key, "sse-%d" % n, "%d,%d" % (200 + n, 30 + n), stream=True)
                cls.responses.append(("stream", model, client, key, r))
        # Refused: a worst case over the 1 USD budgets; never reaches the stand-in.
        for client, key in zip(CLIENTS, KEYS):
            r = cls.post("gpt-4o", client, key, "refused", "1,1", max_tokens=200000)
            cls.responses.append(("refused", "gpt-4o", client, key, r))
        # Upstream errors: the stand-in fails and bills nothing.
        for client, key in zip(CLIENTS, reversed(KEYS)):
            r = cls.post("gpt-4.1-mini", client, key, "error", "1,1", extra={"x-fake-status": "500"})
            cls.responses.append(("error", "gpt-4.1-mini", client, key, r))
        # Client gone mid-stream: settled at the usage tollgate read after the client left.
        head = cls.leave_mid_stream("gpt-4o-mini", "team-b", KEYS[0], "gone")
        cls.responses.append(("gone", "gpt-4o-mini", "team-b", KEYS[0], head))

    def billed(self, field):
        """The stand-in's bill summed by model (field 0), client (1) or key (2)."""
        out = defaultdict(int)
        for req_id, amount in self.h.fake.state.billed:
            out[req_id.split("|")[field]] += amount
        return out

    def spend(self, by):
        r = self.h.admin("GET", "/v1/spend?group_by=%s&since=1h" % by)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["groups"]

    def test_the_mix_answered_as_intended(self):
        kinds = defaultdict(list)
        for kind, *_rest, r in self.responses:
            kinds[kind].append(r)
        self.assertTrue(all(r.status_code == 200 for r in kinds["json"] + kinds["stream"]))
        self.assertTrue(all(r.status_code == 429 for r in kinds["refused"]))
        self.assertTrue(all(r.status_code == 500 for r in kinds["error"]))
        self.assertIsNotNone(self.settled, "holds left open")
        # Every answer, refusals included, names its record.
        for kind, *_rest, r in self.responses:
            headers = r if isinstance(r, dict) else r.headers
            self.assertEqual(len(headers["x-tollgate-record"]), 26, kind)

    def test_spend_by_model_and_by_credential_equals_what_the_provider_charged(self):
        by_model = self.billed(0)
        groups = self.spend("model")
        self.assertEqual({g["model"]: micros(g["spent"]) for g in groups},
                         {m: by_model[m] for m in MODELS})
        sent = defaultdict(int)
        for _kind, model, *_rest in self.responses:
            sent[model] += 1
        self.assertEqual({g["model"]: g["requests"] for g in groups}, dict(sent))
        self.assertEqual({g["model"]: g["refused"] for g in groups},
                         {"gpt-4o": 2, "gpt-4o-mini": 0, "gpt-4.1-mini": 0})
        self.assertTrue(all(g["currency"] == "usd" for g in groups))

        by_key = self.billed(2)
        groups = self.spend("credential")
        self.assertEqual({g["credential"]: micros(g["spent"]) for g in groups},
                         {key_id(k): by_key[k] for k in KEYS})
        self.assertTrue(all("sk-" not in json.dumps(g) for g in groups))

        by_client = self.billed(1)
        groups = self.spend("client,budget")
        spent = {(g["client"], g["budget"]): micros(g["spent"]) for g in groups}
        for client in CLIENTS:
            self.assertEqual(spent[(client, "per-client/" + client)], by_client[client])
        self.assertEqual(sum(v for (c, b), v in spent.items() if b == "daily"),
                         self.h.fake.charged["usd_micros"])
        # The ledger says the same.
        self.assertEqual(micros(self.settled["spent"]), self.h.fake.charged["usd_micros"])

    def test_records_csv_parses_and_sums_to_the_same(self):
        r = self.h.admin("GET", "/v1/records?format=csv&since=1h")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers["content-type"].startswith("text/csv"))
        rows = list(csv.DictReader(io.StringIO(r.text)))
        self.assertEqual(len(rows), len(self.responses))
        self.assertEqual(sum(micros(row["actual"]) for row in rows), self.h.fake.charged["usd_micros"])
        outcomes = defaultdict(int)
        for row in rows:
            outcomes[row["outcome"]] += 1
        self.assertEqual(dict(outcomes), {"complete": 16, "refused": 2, "upstream_error": 2,
                                          "client_gone": 1})
        ids = {row["id"] for row in rows}
        for _kind, *_rest, resp in self.responses:
            headers = resp if isinstance(resp, dict) else resp.headers
            self.assertIn(headers["x-tollgate-record"], ids)
        for row in rows:
            if row["outcome"] == "refused":
                self.assertEqual(row["actual"], "0")
                self.assertEqual(row["refused_by"], "budget")
                self.assertEqual(row["status"], "429")
            if row["outcome"] == "upstream_error":
                self.assertEqual(row["status"], "500")
        # The dearest first, as `order=cost` promises.
        r = self.h.admin("GET", "/v1/records?order=cost&limit=3&since=1h")
        top = [micros(x["actual"]) for x in r.json()["records"]]
        self.assertEqual(top, sorted((micros(row["actual"]) for row in rows), reverse=True)[:3])

    def test_report_prints_the_same(self):
        out = subprocess.run([tollgate_bin(), "report", "--admin", self.h.admin_url, "--by", "model",
                              "--since", "1h", "--csv"], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        self.assertEqual({row["model"]: micros(row["spent"]) for row in rows},
                         {m: self.billed(0)[m] for m in MODELS})
        out = subprocess.run([tollgate_bin(), "report", "--admin", self.h.admin_url, "--by", "client",
                              "--top", "1"], capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(lines[0].startswith("client"), out.stdout)
        self.assertEqual(len(lines), 3, out.stdout)  # header, the top client, the total
        total = lines[-1].split()
        self.assertEqual(total[0], "total")
        self.assertEqual(micros(total[4]), self.h.fake.charged["usd_micros"])

    def test_receipts_verify_offline_and_a_tampered_copy_fails(self):
        r = self.h.admin("GET", "/v1/receipts")
        self.assertEqual(r.status_code, 200, r.text)
        lines = r.text.splitlines()
        self.assertEqual(len(lines), len(self.responses))
        key = self.h.admin("GET", "/v1/receipts/key")
        self.assertEqual(key.status_code, 200)
        self.assertIn("BEGIN PUBLIC KEY", key.text)
        key_file = os.path.join(self.h.dir, "receipts.pub")
        with open(key_file, "w") as f:
            f.write(key.text)
        key_path = os.path.join(self.h.dir, "data", "receipts.key")
        self.assertEqual(os.stat(key_path).st_mode & 0o777, 0o600)

        export = os.path.join(self.h.dir, "receipts.ndjson")
        with open(export, "w") as f:
            f.write(r.text)
        out = subprocess.run([tollgate_bin(), "receipts", "verify", export, "--key", key_file],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("%d records" % len(lines), out.stdout)
        self.assertIn("every signature valid", out.stdout)

        # One byte changed in the 5th record: the verifier names it.
        record = json.loads(lines[4])
        tampered = lines[4].replace('"actual":"%s"' % record["actual"],
                                    '"actual":"%s"' % (record["actual"] + "1"), 1)
        self.assertNotEqual(tampered, lines[4])
        bad = os.path.join(self.h.dir, "tampered.ndjson")
        with open(bad, "w") as f:
            f.write("\n".join(lines[:4] + [tampered] + lines[5:]) + "\n")
        out = subprocess.run([tollgate_bin(), "receipts", "verify", bad, "--key", key_file],
                             capture_output=True, text=True, timeout=20)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("line 5, record %s" % record["id"], out.stderr)


class RecordsOnRedisTest(RecordsAndReportsTest):
    """The same mix with the budgets in Redis: the ledger is shared, the records are this
    sidecar's own (SQLite in its data_dir), and they still say what the provider charged."""

    @classmethod
    def store(cls):
        cls.redis = RedisServer()
        return 'redis, redis: { url: "%s", prefix: "rec:" }' % cls.redis.url

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.redis.stop()

    def test_the_records_live_in_the_sidecars_data_dir(self):
        self.assertTrue(os.path.exists(os.path.join(self.h.dir, "data", "records.db")))


class KillDashNineRecordsTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(threads=2, store="sqlite", rules="""clients: { identify: "header:x-client" }
budgets:
  - { name: daily, currency: usd, limit: 100, period: day, match: { provider: openai } }
  - { name: per-client, currency: usd, limit: 100, period: day, per: client, match: { provider: openai } }
""")

    def records(self):
        r = self.h.admin("GET", "/v1/records?format=ndjson&limit=100000")
        self.assertEqual(r.status_code, 200, r.text)
        return [json.loads(l) for l in r.text.splitlines()]

    def test_after_kill_9_mid_load_records_and_ledger_agree_exactly(self):
        h = self.h
        stop = threading.Event()
        seen_ids = []

        def load(n):
            with requests.Session() as s:
                i = 0
                while not stop.is_set():
                    i += 1
                    slow = i % 4 == 0
                    try:
                        r = h.chat(req_id="load-%d-%d" % (n, i), usage="%d,%d" % (10 + i % 30, 5 + i % 9),
                                   headers={"x-client": "c%d" % (n % 3),
                                            **({"x-fake-delay-ms": "3000"} if slow else {})},
                                   session=s, timeout=30)
                        if r.status_code == 200:
                            seen_ids.append(r.headers["x-tollgate-record"])
                    except requests.RequestException:
                        return

        threads = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(seen_ids) >= 30, timeout=30)
        time.sleep(0.5)
        h.stop(sig=signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(40)
        answered = list(seen_ids)
        self.assertGreater(len(answered), 10)

        h.restart()
        records = self.records()
        ids = {r["id"] for r in records}
        # Every answer the clients got before the kill has its record (settled before it went out
        # or, at worst, expired at restart).
        self.assertTrue(set(answered) <= ids, set(answered) - ids)
        self.assertTrue(any(r["outcome"] == "expired" for r in records), "no hold was in flight")
        daily = h.instance("daily")
        self.assertEqual(micros(daily["reserved"]), 0)
        self.assertEqual(sum(micros(r["actual"]) for r in records if "daily" in r["budgets"]),
                         micros(daily["spent"]))
        for key, inst in h.instances("per-client").items():
            self.assertEqual(sum(micros(r["actual"]) for r in records
                                 if "per-client/" + key in r["budgets"]), micros(inst["spent"]), key)
        groups = h.admin("GET", "/v1/spend?group_by=budget").json()["groups"]
        self.assertEqual({g["budget"]: micros(g["spent"]) for g in groups if g["budget"] == "daily"},
                         {"daily": micros(daily["spent"])})


if __name__ == "__main__":
    unittest.main()
