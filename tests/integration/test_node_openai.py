"""The official Node `openai` SDK through a real tollgate, as a Node user sets it up: default baseURL,
undici's ProxyAgent, NODE_EXTRA_CA_CERTS with tollgate's bundle. tests/node/openai_through_tollgate.mjs
makes the calls and prints what the SDK saw; this test starts tollgate and checks it: a completion
with usage, a naive stream that never meets the usage chunk tollgate asked for, and a budget refusal
that the SDK raises as its own RateLimitError without retrying.

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from node_script import NODE_DIR, NodeScriptChecks, run_node_script  # noqa: E402
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(NODE_DIR, "openai_through_tollgate.mjs")

# 500 micro-USD a day. A call answers 50 input and 100 output tokens of gpt-4o-mini (0.15 and 0.60
# USD per 1M): ceil(7.5 + 60) = 68 micro-USD. The chat and the two streams spend 204, so a few
# more calls fit before the estimate of the next one no longer does.
RULES = """
budgets:
  - { name: node-dev, currency: usd, limit: 0.0005, period: day, match: { provider: [openai] } }
"""
PER_CALL = 68
SPEND_MAX = 30


class NodeOpenAITest(NodeScriptChecks, BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules=RULES)
        cls.run_, cls.out = run_node_script(
            SCRIPT, {"TOLLGATE_PROXY": cls.h.proxy_url, "NODE_EXTRA_CA_CERTS": cls.h.ca_bundle,
                    "SPEND_MAX": str(SPEND_MAX)},
            modules=("openai",), timeout=60)

    def sent(self, req_id):
        return [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == req_id]

    def test_chat_completion_answers_with_usage(self):
        chat = self.out["chat"]
        self.assertNotIn("failed", chat, chat)
        self.assertEqual(chat["content"], "hello")
        self.assertEqual(chat["usage"], {"prompt_tokens": 50, "completion_tokens": 100,
                                         "total_tokens": 150})
        self.assertTrue(chat["x_tollgate_cost"], "no x-tollgate-cost on a forwarded answer")
        self.assertEqual(chat["fetch_calls"], 1)
        (sent,) = self.sent("node-chat")
        self.assertEqual(sent["path"], "/v1/chat/completions")
        self.assertEqual(sent["headers"]["authorization"], "Bearer sk-node-test")

    def test_naive_stream_never_meets_an_empty_choices_chunk(self):
        stream = self.out["stream"]
        self.assertNotIn("failed", stream, stream)
        self.assertIsNone(stream["threw"], stream["threw"])
        self.assertEqual(stream["chunks"], 3)
        self.assertEqual(stream["text"], "tok0tok1tok2")
        self.assertEqual(stream["empty_choices"], 0)
        self.assertIsNone(stream["usage"])
        # tollgate did ask the provider for usage, and settled from it.
        (sent,) = self.sent("node-stream")
        self.assertEqual(json.loads(sent["body"])["stream_options"], {"include_usage": True})
        self.assertIn(("node-stream", PER_CALL), self.h.fake.state.billed)

    def test_a_client_that_asks_for_usage_gets_its_chunk(self):
        asked = self.out["asked"]
        self.assertNotIn("failed", asked, asked)
        self.assertIsNone(asked["threw"], asked["threw"])
        self.assertEqual(asked["text"], "tok0tok1tok2")
        self.assertEqual(asked["empty_choices"], 1)
        self.assertEqual(asked["usage"]["prompt_tokens"], 50)

    def test_exhausted_budget_is_a_rate_limit_error_the_sdk_does_not_retry(self):
        h, spend = self.h, self.out["spend"]
        self.assertNotIn("failed", spend, spend)
        refused = spend["refused"]
        self.assertIsNotNone(refused, "%d calls and the budget never refused" % SPEND_MAX)
        self.assertGreaterEqual(spend["answered"], 1)
        self.assertTrue(refused["is_rate_limit_error"], refused)
        self.assertEqual(refused["name"], "RateLimitError")
        self.assertEqual(refused["status"], 429)
        self.assertEqual(refused["code"], "budget_exceeded")
        self.assertEqual(refused["type"], "budget_exceeded")
        self.assertIn('budget "node-dev"', refused["message"])

        # One attempt: the SDK's fetch ran once, tollgate refused once, the provider saw nothing.
        # (openai v6 sleeps whatever retry-after says before a retry, hours for a day budget:
        # x-should-retry: false is what stops it.)
        self.assertEqual(spend["refused_fetch_calls"], 1, "the SDK retried a refusal")
        self.assertLess(spend["refused_ms"], 2000)
        self.assertEqual(refused["x_should_retry"], "false")
        self.assertGreater(int(refused["retry_after"]), 0)  # a day budget resets at midnight
        self.assertEqual(refused["x_tollgate_refused"], "budget")
        self.assertEqual(refused["x_tollgate_budget"], "node-dev")
        self.assertFalse(self.sent(refused["req_id"]), "a refused request reached the provider")
        refusals = wait_for(lambda: h.events("refused"))
        self.assertEqual(len(refusals), 1, refusals)
        self.assertEqual(refusals[0]["budget"], "node-dev")

        # Everything answered was billed once and settled exactly; the limit held.
        calls = 3 + spend["answered"]
        self.assertEqual(len(h.fake.requests), calls)
        self.assertEqual(h.fake.charged["usd_micros"], calls * PER_CALL)
        self.assertTrue(wait_for(lambda: micros(h.instance("node-dev")["spent"]) == calls * PER_CALL),
                        h.instance("node-dev"))
        # Refused only once what is left no longer covers the estimate, not earlier.
        inst, estimate = h.instance("node-dev"), micros(refusals[0]["detail"]["estimate"])
        left = micros(inst["limit"]) - calls * PER_CALL
        self.assertEqual(micros(inst["reserved"]), 0)
        self.assertLess(left, estimate)
        self.assertGreaterEqual(left + PER_CALL, estimate)


if __name__ == "__main__":
    unittest.main()
