"""Redis faults seen from outside (DESIGN §6): tollgate started before Redis; Redis killed and
restarted under load with each on_error (block refuses with x-tollgate-refused: store, allow
forwards and journals; either way the settlements of the outage reach Redis once it is back, none
lost, none counted twice); a stalled Redis (SIGSTOP for 2 s) never blocks unrelated exchanges on
the same worker."""
import os
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402
from harness import TUNNEL_HOST  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402
from redis_server import RedisServer  # noqa: E402

RULES = """
budgets:
  - { name: shared, currency: usd, limit: 1000, period: day, match: { provider: [openai] } }
  - { name: recent, currency: usd, limit: 1000, period: "rolling:1h", match: { provider: [anthropic] } }
"""


def store(redis, on_error):
    return "redis, redis: { url: \"%s\", prefix: \"t:\", on_error: %s }" % (redis.url, on_error)


def ready(h):
    try:
        return requests.get(h.admin_url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def claude(h, timeout=30):
    return requests.post("https://api.anthropic.com/v1/messages",
                         json={"model": "claude-sonnet-4-5", "max_tokens": 100,
                               "messages": [{"role": "user", "content": "hi"}]},
                         headers={"x-api-key": "k", "x-fake-usage": "10,10"},
                         proxies=h.proxies(), verify=h.ca_bundle, timeout=timeout)


class StartedBeforeRedisTest(BudgetTestCase):
    def test_not_ready_until_redis_comes_up_then_serves(self):
        redis = RedisServer(start=False)
        try:
            h = type(self).h = BudgetHarness(store=store(redis, "block"), rules=RULES)
            self.assertFalse(ready(h))
            r = h.chat()
            self.assert_refusal(r, "store", status=r.status_code, should_retry="true")
            redis.start()
            self.assertTrue(wait_for(lambda: ready(h)), "never ready once Redis came up")
            self.assertEqual(h.chat().status_code, 200)
            self.assertTrue(h.settled("shared"))
        finally:
            redis.stop()


class RestartUnderLoadTest(BudgetTestCase):
    """Clients keep sending while Redis is killed and, a second later, started again (its data
    kept: appendonly). Afterwards the shared ledger equals what the provider billed."""

    def run_outage(self, on_error):
        redis = RedisServer(persist=True)
        h = type(self).h = BudgetHarness(store=store(redis, on_error), rules=RULES, threads=1)
        try:
            statuses, stop = [], threading.Event()

            def client(n):
                with requests.Session() as s:
                    i = 0
                    while not stop.is_set():
                        r = h.chat(req_id="%d-%d" % (n, i), usage="%d,%d" % (10 + n, 1 + i % 50),
                                   session=s)
                        statuses.append((r.status_code, r.headers.get("x-tollgate-refused")))
                        i += 1

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(client, n) for n in range(8)]
                time.sleep(1)
                redis.kill()
                time.sleep(1.5)
                redis.start()
                self.assertTrue(wait_for(lambda: ready(h)), "not ready again after Redis came back")
                time.sleep(1)
                stop.set()
                for f in futures:
                    f.result()
            inst = h.settled("shared", timeout=20)
            self.assertIsNotNone(inst, "holds left open: %s" % h.instance("shared"))
            self.assertEqual(micros(inst["spent"]), h.fake.charged["usd_micros"])
            self.assertEqual(h.chat().status_code, 200)  # recovered without a restart
            return statuses
        finally:
            h.close(keep_logs=type(self)._failed)
            type(self).h = None
            redis.stop()

    def test_block_refuses_during_the_outage(self):
        statuses = self.run_outage("block")
        self.assertEqual({s for s, _ in statuses} - {200}, {s for s, k in statuses if k == "store"})
        self.assertTrue(any(k == "store" for _, k in statuses), "nothing refused during the outage")

    def test_allow_forwards_during_the_outage(self):
        statuses = self.run_outage("allow")
        self.assertEqual({s for s, _ in statuses}, {200})


class StalledRedisTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.h = BudgetHarness(store=store(cls.redis, "block"), rules=RULES, threads=1)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.redis.resume()
        cls.redis.stop()

    def test_a_stall_never_blocks_unrelated_exchanges_on_the_worker(self):
        h = self.h
        self.assertEqual(h.chat().status_code, 200)  # connected, scripts loaded
        self.assertEqual(claude(h).status_code, 200)
        shared = {}
        self.redis.pause()
        paused_at = time.monotonic()
        try:
            waiting = threading.Thread(target=lambda: shared.setdefault("r", h.chat(timeout=60)))
            waiting.start()
            # During the stall: a blind tunnel and a provider whose budget is not shared.
            with tls_through(h.port, TUNNEL_HOST, h.upstream_ca) as tls:
                tls.sendall(request("GET", "/echo", TUNNEL_HOST))
                self.assertEqual(Reader(tls).read_response().status, 200)
            self.assertEqual(claude(h, timeout=2).status_code, 200)
            self.assertLess(time.monotonic() - paused_at, 2.0, "they waited for Redis")
        finally:
            time.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))
            self.redis.resume()
        waiting.join(60)
        r = shared["r"]
        if r.status_code != 200:  # no reply within a second: on_error decided
            self.assert_refusal(r, "store", status=r.status_code, should_retry="true")
        self.assertTrue(wait_for(lambda: ready(h)))
        self.assertEqual(h.chat().status_code, 200)
        inst = h.settled("shared", timeout=20)
        self.assertIsNotNone(inst)
        local = h.settled("recent")  # the provider bills both
        self.assertEqual(micros(inst["spent"]) + micros(local["spent"]),
                         h.fake.charged["usd_micros"])


if __name__ == "__main__":
    unittest.main()
