"""Two tollgate sidecars sharing one budget through a real redis-server (DESIGN §6): concurrent
clients on both never overrun it together, and the shared ledger matches the provider's bill."""
import os
import sys
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import TwoSidecarsTestCase, micros, wait_for  # noqa: E402

RULES = """
budgets:
  - { name: shared, currency: usd, limit: 0.002, period: day, match: { provider: [openai] } }
"""


class SharedRedisBudgetTest(TwoSidecarsTestCase):
    RULES = RULES

    def test_two_sidecars_never_overrun_a_shared_budget(self):
        results = {}

        def client(n):
            side = self.h if n % 2 else self.h2
            with requests.Session() as s:
                for j in range(3):
                    i = n * 3 + j
                    results[i] = (side, side.chat(req_id=i, usage="%d,%d" % (10 + i % 21, 1 + i % 100),
                                                  session=s))

        with ThreadPoolExecutor(60) as pool:
            list(pool.map(client, range(60)))

        statuses = [r.status_code for _, r in results.values()]
        self.assertEqual(set(statuses) - {200, 429}, set(), [r.text for _, r in results.values()
                                                             if r.status_code not in (200, 429)][:3])
        ok_each = [sum(1 for side, r in results.values() if side is h and r.status_code == 200)
                   for h in (self.h, self.h2)]
        self.assertTrue(all(ok_each), "both sidecars admitted some requests: %s" % ok_each)
        self.assertGreater(statuses.count(429), 100)

        charged = self.h.fake.charged["usd_micros"] + self.h2.fake.charged["usd_micros"]
        self.assertLessEqual(charged, 2000, "the two sidecars together overran the budget")
        for side in (self.h, self.h2):
            inst = side.settled("shared")
            self.assertIsNotNone(inst, "holds left open: %s" % side.instance("shared"))
            # Each sidecar reads the same shared books.
            self.assertEqual(micros(inst["spent"]), charged)


RATE_RULES = """
budgets:
  - { name: roomy, currency: usd, limit: 100, period: day, match: { provider: [openai] } }
rate_limits:
  - { name: shared-rpm, match: { provider: openai }, requests: 3, per: 1m, shared: true }
"""


class SharedRedisRateLimitTest(TwoSidecarsTestCase):
    """A rate limit marked shared: the two sidecars draw from one bucket in Redis."""
    RULES = RATE_RULES

    def test_a_shared_rate_limit_counts_both_sidecars(self):
        answers = [(side, side.chat(req_id=i)) for i in range(4) for side in (self.h, self.h2)]
        ok = [r for _, r in answers if r.status_code == 200]
        self.assertEqual(len(ok), 3, [r.status_code for _, r in answers])
        refused = [r for _, r in answers if r.status_code != 200]
        for r in refused:
            body = self.assert_refusal(r, "rate", should_retry="true")
            self.assertEqual(body["error"]["type"], "budget_exceeded")  # OpenAI's shape, DESIGN §7
            self.assertIn('rate limit "shared-rpm" reached: 3 requests per 1m', body["error"]["message"])
            self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
            self.assertLessEqual(int(r.headers["retry-after"]), 20)
        # Refused requests never reached the provider; the three that did are in the shared books.
        self.assertEqual(sum(1 for side in (self.h, self.h2) for x in side.fake.requests
                             if x["path"] == "/v1/chat/completions"), 3)
        for side in (self.h, self.h2):
            self.assertIsNotNone(side.settled("roomy"))


BREAKER_RULES = """
budgets:
  - { name: roomy, currency: usd, limit: 100, period: day, match: { provider: [openai] } }
breakers:
  - { name: shared-spike, currency: usd, limit: 0.0001, window: 1h, cooldown: 10m, shared: true }
"""


class SharedRedisBreakerTest(TwoSidecarsTestCase):
    """A spend breaker marked shared: spend through one sidecar opens it for both, and the
    sidecar whose settlement opened it reports it, once."""
    RULES = BREAKER_RULES
    PREFIX = "tb:"

    def test_spend_through_one_sidecar_opens_the_breaker_for_both(self):
        first = self.h.chat(req_id=1, usage="50,100")  # about 0.00007 usd: under the limit
        self.assertEqual(first.status_code, 200, first.text)
        self.assertEqual(self.h2.chat(req_id=2, usage="50,100").status_code, 200)  # together over
        self.assertTrue(wait_for(lambda: self.h2.events("breaker")), "no breaker event")
        opened = self.h2.events("breaker")
        self.assertEqual(len(opened), 1)
        self.assertTrue(opened[0]["message"].startswith('breaker "shared-spike" opened: 0.000'),
                        opened[0])
        self.assertEqual(self.h.events("breaker"), [])
        # Both sidecars' metrics show it open, though h has made no request since.
        self.assertIn('tollgate_breaker_open{name="shared-spike"} 1',
                      self.h.admin("GET", "/metrics").text)
        for side in (self.h, self.h2):
            r = side.chat(req_id=3)
            body = self.assert_refusal(r, "breaker")
            self.assertEqual(body["error"]["type"], "budget_exceeded")
            self.assertIn('breaker "shared-spike" is open: spend over 0.0001 usd within 1h; closes ',
                          body["error"]["message"])
            self.assertGreaterEqual(int(r.headers["retry-after"]), 590)
            metrics = side.admin("GET", "/metrics").text
            self.assertIn('tollgate_breaker_open{name="shared-spike"} 1', metrics)
        # The refused requests never reached a provider.
        self.assertEqual(sum(1 for side in (self.h, self.h2) for x in side.fake.requests
                             if x["path"] == "/v1/chat/completions"), 2)


if __name__ == "__main__":
    unittest.main()
