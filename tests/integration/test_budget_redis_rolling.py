"""Rolling windows shared through Redis (DESIGN §6, issue 15): two tollgates on one redis-server
never admit more than a rolling budget's limit together, the window slides by Redis's clock (a
short window, waited out in real time), and a tollgate killed and started again keeps the window's
spend."""
import os
import signal
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import TwoSidecarsTestCase, micros, wait_for  # noqa: E402

WINDOW_S = 4
LIMIT_MICROS = 2000
RULES = """
budgets:
  - { name: hourly, currency: usd, limit: 0.002, period: "rolling:1h", match: { model: [gpt-4o-mini] } }
  - { name: recent, currency: usd, limit: 0.0003, period: "rolling:%ds", match: { model: [gpt-4.1-nano] } }
""" % WINDOW_S


MODELS = {"hourly": "gpt-4o-mini", "recent": "gpt-4.1-nano"}


def chat(side, budget, i=0, session=None):
    """A chat in `budget` (the budgets match on the model)."""
    return side.chat(req_id="%s-%d" % (budget, i), usage="%d,%d" % (10 + i % 21, 1 + i % 100),
                     model=MODELS[budget], session=session)


class RollingWindowTwoSidecarsTest(TwoSidecarsTestCase):
    RULES = RULES
    PREFIX = "{roll}:"

    def charged(self):
        return self.h.fake.charged["usd_micros"] + self.h2.fake.charged["usd_micros"]

    def test_1_two_sidecars_never_overrun_a_rolling_window_and_a_restart_keeps_it(self):
        results = []
        before = self.charged()

        def client(n):
            side = self.h if n % 2 else self.h2
            with requests.Session() as s:
                for j in range(3):
                    results.append((side, chat(side, "hourly", n * 3 + j, session=s)))

        with ThreadPoolExecutor(40) as pool:
            list(pool.map(client, range(40)))

        statuses = [r.status_code for _, r in results]
        self.assertEqual(set(statuses) - {200, 429}, set(),
                         [r.text for _, r in results if r.status_code not in (200, 429)][:3])
        self.assertTrue(all(any(side is h and r.status_code == 200 for side, r in results)
                            for h in (self.h, self.h2)), "both sidecars admitted some requests")
        self.assertGreater(statuses.count(429), 40)
        charged = self.charged() - before
        self.assertLessEqual(charged, LIMIT_MICROS, "the two sidecars together overran the window")
        for side in (self.h, self.h2):
            inst = side.settled("hourly")
            self.assertIsNotNone(inst, "holds left open: %s" % side.instance("hourly"))
            self.assertEqual(micros(inst["spent"]), charged)

        # Killed and started again: the window's spend is Redis's, not the process's.
        self.h.stop(signal.SIGKILL)
        self.h.restart()
        self.assertEqual(micros(self.h.instance("hourly")["spent"]), charged)
        # The burst may end with room left: its last refusals counted holds that then settled
        # below their estimate. One at a time, the restarted sidecar fills the rest and is refused
        # by the window it read back from Redis.
        for i in range(100):
            r = chat(self.h, "hourly", 1000 + i)
            if r.status_code != 200:
                break
        self.assert_refusal(r, "budget", name="hourly")
        self.assertLessEqual(self.charged() - before, LIMIT_MICROS)

    def test_2_the_window_slides_by_redis_clock(self):
        # Spend the short window from the first sidecar until it refuses.
        admitted = 0
        for i in range(50):
            r = chat(self.h, "recent", i)
            if r.status_code != 200:
                self.assert_refusal(r, "budget", name="recent")
                break
            admitted += 1
        last_charge = time.monotonic()
        self.assertGreater(admitted, 0)
        spent = micros(self.h.settled("recent")["spent"])
        self.assertGreater(spent, 0)
        # The second sidecar sees the same window, and is refused within it.
        self.assertEqual(micros(self.h2.instance("recent")["spent"]), spent)
        body = self.assert_refusal(chat(self.h2, "recent", 100), "budget", name="recent")
        self.assertIn("resets at", str(body))
        # Waited out (the window, at most a one-second bucket and the second TIME rounds down):
        # empty in both, and the second sidecar is admitted again.
        time.sleep(max(0.0, last_charge + WINDOW_S + 2.2 - time.monotonic()))
        for side in (self.h, self.h2):
            self.assertTrue(wait_for(lambda: micros(side.instance("recent")["spent"]) == 0,
                                     timeout=3), side.instance("recent"))
        self.assertEqual(chat(self.h2, "recent", 200).status_code, 200)


if __name__ == "__main__":
    unittest.main()
