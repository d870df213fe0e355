"""The access log says where the money went (DESIGN §13): each provider exchange's line carries
provider, endpoint, model, currency, the estimate held, the cost charged, the budget instances
held and, for a refusal, what refused it. Amounts are decimal strings, exact to the micro-unit."""
import os
import sys
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402

CHAT = "https://api.openai.com/v1/chat/completions"
RULES = """budgets:
  - { name: daily, currency: usd, limit: 1, period: day, match: { provider: openai } }
  - { name: per-key, currency: usd, limit: 1, period: day, per: credential, match: { provider: openai } }
"""


class AccessLogBillingTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=RULES, store="memory")

    def post(self, body, usage="1000,500"):
        return requests.post(CHAT, json=body, headers={"Authorization": "Bearer sk-log",
                                                       "x-fake-usage": usage},
                             proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20)

    def line_for(self, status):
        lines = wait_for(lambda: [e for e in self.h.access_log()
                                  if e.get("provider") == "openai" and e["status"] == status])
        self.assertTrue(lines, self.h.access_log())
        return lines[-1]

    def test_a_settled_exchange_and_a_refusal(self):
        r = self.post({"model": "gpt-4o-mini", "max_tokens": 100,
                       "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status_code, 200, r.text)
        line = self.line_for(200)
        self.assertEqual(line["mode"], "intercept")
        self.assertEqual(line["endpoint"], "chat")
        self.assertEqual(line["model"], "gpt-4o-mini")
        self.assertEqual(line["currency"], "usd")
        self.assertEqual(micros(line["estimate"]), micros(r.headers["x-tollgate-cost"]))
        # 1000 input + 500 output tokens at 0.15 / 0.60 USD per 1M: 150 + 300 micro-USD.
        self.assertEqual(line["cost"], "0.00045")
        self.assertEqual(line["budgets"][0], "daily")
        self.assertTrue(line["budgets"][1].startswith("per-key/"), line["budgets"])
        self.assertNotIn("refused_by", line)
        self.assertNotIn("sk-log", str(line))

        # A request whose worst case is over the 1 USD budget: refused, nothing charged.
        r = self.post({"model": "gpt-4o", "max_tokens": 200000,
                       "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status_code, 429, r.text)
        line = self.line_for(429)
        self.assertEqual(line["refused_by"], "budget")
        self.assertEqual(line["model"], "gpt-4o")
        self.assertNotIn("cost", line)
        self.assertGreater(micros(line["estimate"]), 1_000_000)


if __name__ == "__main__":
    unittest.main()
