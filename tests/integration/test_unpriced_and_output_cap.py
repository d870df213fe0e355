"""Unknown models and output caps through a real tollgate (issue 14): a model the catalog does not
list is priced as the endpoint's dearest and forwarded, with an `unpriced_model` event; with
`output_cap: inject` a request without max_tokens that a small budget cannot hold at its worst
case goes through, and the provider receives the maximum tollgate wrote."""
import json
import os
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402

CHAT = "https://api.openai.com/v1/chat/completions"
RULES = """providers:
  openai:
    endpoints:
      - { name: chat, output_cap: inject }
budgets:
  - { name: wide, currency: usd, limit: 500, period: day }
  - { name: mini, currency: usd, limit: 0.001, period: day, match: { model: [gpt-4o-mini] } }
"""
HI = [{"role": "user", "content": "hi"}]


class UnpricedAndOutputCapTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=RULES, store="memory")

    def post(self, body, usage="10,20"):
        return requests.post(CHAT, json=body, headers={"Authorization": "Bearer sk-a",
                                                       "x-fake-usage": usage},
                             proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20)

    def forwarded(self, model):
        return [json.loads(r["body"]) for r in self.h.fake.requests
                if r["path"] == "/v1/chat/completions" and json.loads(r["body"])["model"] == model]

    def test_unknown_model_priced_as_the_dearest_and_forwarded(self):
        r = self.post({"model": "gpt-from-the-future", "max_tokens": 20, "messages": HI})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(self.forwarded("gpt-from-the-future")), 1)
        events = self.h.events("unpriced_model")
        self.assertEqual(len(events), 1, events)
        self.assertIn("gpt-from-the-future", events[0]["message"])
        self.assertTrue(events[0]["detail"]["priced_as"])
        # Settled from the usage at the dearest model's prices: more than nothing.
        self.assertGreater(micros(self.h.settled("wide")["spent"]), 0)

    def test_output_cap_injected_under_a_small_budget(self):
        # 0.001 USD cannot hold gpt-4o-mini's 16384-token worst case (0.0098 USD); capped, the
        # request goes through with the maximum the budget affords.
        r = self.post({"model": "gpt-4o-mini", "messages": HI})
        self.assertEqual(r.status_code, 200, r.text)
        cap = int(r.headers["x-tollgate-output-cap"])
        self.assertGreater(cap, 1000)
        self.assertLess(cap, 16384)
        sent = self.forwarded("gpt-4o-mini")
        self.assertEqual(sent[-1]["max_completion_tokens"], cap)
        self.assertEqual(sent[-1]["messages"], HI)


if __name__ == "__main__":
    import unittest
    unittest.main()
