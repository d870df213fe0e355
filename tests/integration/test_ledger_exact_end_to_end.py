"""The ledger under fire (issue 4): many concurrent clients against a budget that fits few of them,
and kill -9 with requests in flight. The stand-in provider bills every answer at its own price list;
tollgate's books must match that bill to the micro-unit."""
import os
import signal
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402

LIMIT_MICROS = 2000  # 0.002 USD: fits ~30 of the requests below at their estimate


class ConcurrentClientsTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(threads=2, rules="""
budgets:
  - { name: tight, currency: usd, limit: 0.002, period: day, match: { provider: [openai] } }
""")

    def test_300_requests_from_100_clients_never_overrun_and_books_match_the_provider(self):
        results = {}

        def client(n):
            with requests.Session() as s:
                for j in range(3):
                    i = n * 3 + j
                    # Usage varies per request and stays within the estimate (input ~50, output 100).
                    usage = "%d,%d" % (10 + i % 21, 1 + i % 100)
                    r = self.h.chat(req_id=i, usage=usage, session=s)
                    results[i] = r

        with ThreadPoolExecutor(100) as pool:
            list(pool.map(client, range(100)))

        self.assertEqual(len(results), 300)
        ok = {i for i, r in results.items() if r.status_code == 200}
        refused = {i for i, r in results.items() if r.status_code == 429}
        self.assertEqual(ok | refused, set(results),
                         [(r.status_code, r.text) for r in results.values() if r.status_code not in (200, 429)])
        self.assertGreater(len(ok), 5)
        self.assertGreater(len(refused), 200, "the budget fits far fewer than 300")

        for i in refused:
            body = self.assert_refusal(results[i], "budget", "tight")
            self.assertEqual(body["error"]["code"], "budget_exceeded")
            self.assertIn('budget "tight"', body["error"]["message"])
        for i in ok:
            self.assertIn("x-tollgate-cost", results[i].headers)

        seen = {e["headers"].get("x-req-id") for e in self.h.fake.requests}
        self.assertFalse(seen & {str(i) for i in refused}, "a refused request reached the provider")
        self.assertEqual(seen, {str(i) for i in ok})

        charged = self.h.fake.charged["usd_micros"]
        self.assertLessEqual(charged, LIMIT_MICROS)
        inst = self.h.settled("tight")
        self.assertIsNotNone(inst, "holds left open")
        self.assertEqual(micros(inst["spent"]), charged)
        self.assertEqual(micros(inst["limit"]), LIMIT_MICROS)


class KillDashNineTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(threads=2, rules="""
budgets:
  - { name: daily, currency: usd, limit: 100, period: day, match: { provider: [openai] } }
""")

    def test_kill_9_with_50_in_flight_then_restart_books_match(self):
        h = self.h
        # Settled before the crash: charged at the provider's usage.
        estimate = None
        for i in range(20):
            r = h.chat(req_id="done-%d" % i, usage="%d,%d" % (20 + i, 40 + i))
            self.assertEqual(r.status_code, 200, r.text)
            estimate = micros(r.headers["x-tollgate-cost"])
        settled = h.fake.charged["usd_micros"]
        wait_for(lambda: micros(h.instance("daily")["spent"]) == settled, timeout=10)
        self.assertEqual(micros(h.instance("daily")["spent"]), settled)

        # 50 requests the provider holds for 8 s; tollgate dies while they are in flight.
        answered = []  # requests whose answer made it back before the kill (a very slow machine)

        def slow(i):
            try:
                r = h.chat(req_id="inflight-%d" % i, usage="30,60", headers={"x-fake-delay-ms": "8000"},
                           timeout=30)
                answered.append(r)
            except requests.RequestException:
                pass

        threads = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(50)]
        for t in threads:
            t.start()
        arrived = wait_for(lambda: sum(1 for e in h.fake.requests
                                       if str(e["headers"].get("x-req-id", "")).startswith("inflight"))
                           == 50, timeout=20)
        self.assertTrue(arrived, "the 50 requests did not all reach the provider")
        h.stop(sig=signal.SIGKILL)
        for t in threads:
            t.join(30)
        # The provider finished (and billed) every one of them after tollgate died.
        wait_for(lambda: len(h.fake.state.billed) == 70, timeout=20)
        self.assertEqual(len(h.fake.state.billed), 70)
        charged = h.fake.charged["usd_micros"]
        self.assertFalse(answered, "the kill came after answers: the test did not test a crash")

        h.restart()
        inst = h.instance("daily")
        self.assertEqual(micros(inst["reserved"]), 0, "a hold from before the crash is still open")
        spent = micros(inst["spent"])
        self.assertGreaterEqual(spent, charged, "the ledger under-counts what the provider charged")
        # The recovery settled each of the 50 dead holds at its estimate, nothing more, nothing less.
        self.assertEqual(spent, settled + 50 * estimate)

        # And the ledger keeps working after the restart.
        r = h.chat(req_id="after", usage="1,1")
        self.assertEqual(r.status_code, 200, r.text)
        # The settlement follows the answer (the client is not kept waiting for the ledger's
        # commit): it is in the books moments later.
        expected = settled + 50 * estimate + h.fake.state.billed[-1][1]
        wait_for(lambda: micros(h.instance("daily")["spent"]) == expected, timeout=10)
        self.assertEqual(micros(h.instance("daily")["spent"]), expected)


if __name__ == "__main__":
    unittest.main()
