"""The official Node `openai` SDK's paid endpoints beyond chat through a real tollgate (issue 14):
tests/node/paid_endpoints_through_tollgate.mjs makes a Sora video (a multipart form, as the SDK
sends it) and a batch from an uploaded input file; the ledger must hold what the catalog prices
them at, to the micro-USD.

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from node_script import NODE_DIR, NodeScriptChecks, run_node_script  # noqa: E402
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(NODE_DIR, "paid_endpoints_through_tollgate.mjs")
RULES = """budgets:
  - { name: per-test, currency: usd, limit: 500, period: day, per: header:X-Test }
"""


class NodePaidEndpointsTest(NodeScriptChecks, BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules=RULES)
        cls.run_, cls.out = run_node_script(
            SCRIPT, {"TOLLGATE_PROXY": cls.h.proxy_url, "NODE_EXTRA_CA_CERTS": cls.h.ca_bundle},
            modules=("openai",), timeout=60)

    def test_video(self):
        # 8 s of sora-2-pro at 1792x1024: 0.50 a second, held and settled
        self.assertEqual(self.out["video"]["cost"], "4")
        self.assertEqual(self.out["video"]["seconds"], "8")
        self.assertEqual(micros(self.h.settled("per-test", "node-video")["spent"]), 4_000_000)

    def test_batch_from_its_upload(self):
        # two lines of 15 x 0.15 + 100 x 0.60 = 62.25 -> 63 micro-USD, at 50 %
        self.assertEqual(self.out["batch"]["cost"], "0.000063")
        self.assertEqual(micros(self.h.settled("per-test", "node-batch")["spent"]), 63)


if __name__ == "__main__":
    unittest.main()
