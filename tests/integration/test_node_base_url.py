"""The official Node SDKs (openai, @anthropic-ai/sdk, @google/genai) with their base URL set to
tollgate (DESIGN §14): no proxy agent, no CA. tests/node/base_url_sdks.mjs makes the calls and
prints what each SDK saw; this test starts tollgate and checks it: JSON and streamed answers with
usage, the requests the stand-in got (prefix removed, provider Host), a budget refusal that each SDK
raises as its own error, and the ledger against the stand-in's bill.

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from node_script import NODE_DIR, NodeScriptChecks, run_node_script  # noqa: E402
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(NODE_DIR, "base_url_sdks.mjs")

# 0.005 USD a day: the six answered calls fit (the dearest, Claude at 50 in / 100 out, is 1.65
# milli-USD); the three refused calls ask for more output than the whole limit.
RULES = """
budgets:
  - { name: node-base, currency: usd, limit: 0.005, period: day, match: { provider: [openai, anthropic, gemini] } }
"""


class NodeBaseUrlTest(NodeScriptChecks, BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules=RULES)
        cls.run_, cls.out = run_node_script(
            SCRIPT, {"TOLLGATE_BASE": "http://127.0.0.1:%d" % cls.h.port},
            modules=("openai", "@anthropic-ai/sdk", "@google/genai"), timeout=120)

    def step(self, name):
        value = self.out[name]
        self.assertNotIn("failed", value, value)
        return value

    def sent(self, req_id):
        return [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == req_id]

    def test_openai_sdk_json_and_stream(self):
        chat = self.step("openai_json")
        self.assertEqual(chat["content"], "hello")
        self.assertEqual(chat["usage"]["completion_tokens"], 100)
        self.assertTrue(chat["x_tollgate_cost"])
        self.assertEqual(chat["fetch_calls"], 1)
        (sent,) = self.sent("node-base-openai")
        self.assertEqual(sent["path"], "/v1/chat/completions")
        self.assertEqual(sent["headers"]["host"], "api.openai.com")
        self.assertEqual(sent["headers"]["authorization"], "Bearer sk-node-base")
        stream = self.step("openai_stream")
        self.assertEqual(stream["text"], "tok0tok1tok2")
        self.assertIsNone(stream["usage"])  # injected for tollgate, stripped for the client
        self.assertIn(("node-base-openai-sse", 68), self.h.fake.state.billed)

    def test_anthropic_sdk_json_and_stream(self):
        msg = self.step("anthropic_json")
        self.assertEqual(msg["text"], "hi")
        self.assertEqual(msg["usage"]["output_tokens"], 100)
        (sent,) = self.sent("node-base-ant")
        self.assertEqual(sent["path"], "/v1/messages")
        self.assertEqual(sent["headers"]["host"], "api.anthropic.com")
        # Older SDKs send x-api-key, 1.x Authorization: Bearer; the catalog reads either.
        self.assertIn("sk-ant-node", sent["headers"].get("x-api-key") or sent["headers"]["authorization"])
        stream = self.step("anthropic_stream")
        self.assertEqual(stream["text"], "hi")
        self.assertEqual(stream["output_tokens"], 100)
        self.assertEqual(len(self.sent("node-base-ant-sse")), 1)

    def test_genai_sdk_json_and_stream(self):
        r = self.step("gemini_json")
        self.assertEqual(r["text"], "hi")
        self.assertEqual(r["usage"]["candidatesTokenCount"], 100)
        (sent,) = self.sent("node-base-gem")
        self.assertEqual(sent["path"], "/v1beta/models/gemini-2.0-flash:generateContent")
        self.assertEqual(sent["headers"]["host"], "generativelanguage.googleapis.com")
        self.assertEqual(sent["headers"]["x-goog-api-key"], "g-node")
        stream = self.step("gemini_stream")
        self.assertEqual(stream["text"], "tok0tok1")
        self.assertEqual(stream["usage"]["candidatesTokenCount"], 100)
        (sent,) = self.sent("node-base-gem-sse")
        self.assertEqual(sent["path"], "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")

    def test_refusals_are_each_sdks_own_error_after_one_attempt(self):
        for name in ("openai_refused", "anthropic_refused", "gemini_refused"):
            with self.subTest(name):
                r = self.step(name)
                self.assertNotIn("answered", r, r)
                self.assertEqual(r["error"]["status"], 429, r)
                self.assertEqual(r["fetch_calls"], 1, "the SDK retried a refusal")
                self.assertLess(r["ms"], 2000)
        self.assertTrue(self.out["openai_refused"]["error"]["is_rate_limit_error"])
        self.assertTrue(self.out["anthropic_refused"]["error"]["is_rate_limit_error"])
        self.assertEqual(self.out["gemini_refused"]["error"]["name"], "ApiError")
        self.assertIn("RESOURCE_EXHAUSTED", self.out["gemini_refused"]["error"]["message"])
        for req_id in ("node-base-openai-refused", "node-base-ant-refused", "node-base-gem-refused"):
            self.assertFalse(self.sent(req_id), req_id + " reached the provider")

    def test_ledger_equals_what_the_provider_charged(self):
        inst = self.h.settled("node-base")
        self.assertIsNotNone(inst, "holds still open")
        self.assertEqual(len(self.h.fake.requests), 6)
        self.assertEqual(micros(inst["spent"]), self.h.fake.charged["usd_micros"])


if __name__ == "__main__":
    unittest.main()
