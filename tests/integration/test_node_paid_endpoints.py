"""The official Node `openai` SDK's paid endpoints beyond chat through a real tollgate (issue 14):
tests/node/paid_endpoints_through_tollgate.mjs makes a Sora video (a multipart form, as the SDK
sends it) and a batch from an uploaded input file; the ledger must hold what the catalog prices
them at, to the micro-USD.

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(ROOT, "tests", "node")
SCRIPT = os.path.join(NODE_DIR, "paid_endpoints_through_tollgate.mjs")
RULES = """budgets:
  - { name: per-test, currency: usd, limit: 500, period: day, per: header:X-Test }
"""


class NodePaidEndpointsTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        node = shutil.which("node")
        if not node:
            raise RuntimeError("node is not installed: run scripts/install-deps")
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")):
            raise RuntimeError("tests/node/node_modules is missing: run scripts/install-deps")
        cls.h = BudgetHarness(store="memory", rules=RULES)
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update({"TOLLGATE_PROXY": cls.h.proxy_url, "NODE_EXTRA_CA_CERTS": cls.h.ca_bundle})
        for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                  "NODE_OPTIONS", "NODE_USE_ENV_PROXY"):
            env.pop(k, None)
        cls.run_ = subprocess.run([node, SCRIPT], cwd=NODE_DIR, env=env, capture_output=True,
                                  text=True, timeout=60)
        try:
            cls.out = json.loads(cls.run_.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            cls.out = None

    def setUp(self):
        self.assertEqual(self.run_.returncode, 0, self.run_.stderr)
        self.assertIsNotNone(self.out, "no JSON from node:\n%s\n%s" % (self.run_.stdout,
                                                                        self.run_.stderr))

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
