"""Exactness across processes (DESIGN §6): four tollgates on one Redis, 400 concurrent clients, one
budget. What the providers billed never exceeds the limit and equals the shared ledger to the
micro-unit, and no hold is left open, in any sidecar or in Redis."""
import os
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402
from redis_server import RedisServer  # noqa: E402

LIMIT_MICROS = 10_000
RULES = """
budgets:
  - { name: shared, currency: usd, limit: 0.01, period: day, match: { provider: [openai] } }
"""


class FourSidecarsTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        store = "redis, redis: { url: \"%s\", prefix: \"x:\" }" % cls.redis.url
        cls.sidecars = [BudgetHarness(store=store, rules=RULES, threads=1) for _ in range(4)]
        cls.h = cls.sidecars[0]

    @classmethod
    def tearDownClass(cls):
        for h in cls.sidecars[1:]:
            h.close(keep_logs=cls._failed)
        super().tearDownClass()
        cls.redis.stop()

    def test_400_clients_on_4_sidecars_never_overrun_one_budget(self):
        results = []

        def client(n):
            side = self.sidecars[n % 4]
            with requests.Session() as s:
                for j in range(2):
                    r = side.chat(req_id="%d-%d" % (n, j), usage="%d,%d" % (5 + n % 40, 1 + j * 37 + n % 60),
                                  session=s, timeout=120)
                    results.append((n % 4, r.status_code, r.headers.get("x-tollgate-refused")))

        with ThreadPoolExecutor(400) as pool:
            list(pool.map(client, range(400)))

        statuses = {s for _, s, _ in results}
        self.assertEqual(statuses - {200, 429}, set(), results[:5])
        self.assertEqual({k for _, s, k in results if s == 429}, {"budget"})
        admitted = [sum(1 for side, s, _ in results if side == i and s == 200) for i in range(4)]
        self.assertTrue(all(admitted), "every sidecar admitted some: %s" % admitted)

        charged = sum(h.fake.charged["usd_micros"] for h in self.sidecars)
        self.assertLessEqual(charged, LIMIT_MICROS, "the sidecars together overran the budget")
        for h in self.sidecars:
            inst = h.settled("shared", timeout=30)
            self.assertIsNotNone(inst, "holds left open: %s" % h.instance("shared"))
            self.assertEqual(micros(inst["spent"]), charged)
        self.assertEqual(self.redis.command("ZCARD", "x:holds"), b":0\r\n")


if __name__ == "__main__":
    unittest.main()
