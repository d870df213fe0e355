"""Every key a client sends (issue 14): Anthropic keys sent as `Authorization: Bearer` (the form of
the newest @anthropic-ai/sdk) are told apart by `per: credential` budgets, the same key sent as
x-api-key lands in the same instance, and `tollgate key-id` prints the id /v1/budgets shows."""
import os
import subprocess
import sys
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402
from harness import tollgate_bin  # noqa: E402

MESSAGES = "https://api.anthropic.com/v1/messages"
RULES = """budgets:
  - { name: per-key, currency: usd, limit: 5, period: day, per: credential, match: { provider: anthropic } }
"""


def key_id(key):
    out = subprocess.run([tollgate_bin(), "key-id", key], capture_output=True, text=True,
                         timeout=20, check=True)
    return out.stdout.strip()


class AnthropicBearerKeysTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=RULES, store="memory")

    def send(self, headers, model="claude-sonnet-4-6"):
        headers = dict(headers, **{"anthropic-version": "2023-06-01", "x-fake-usage": "10,20"})
        r = requests.post(MESSAGES, json={"model": model, "max_tokens": 20,
                                          "messages": [{"role": "user", "content": "hi"}]},
                          headers=headers, proxies=self.h.proxies(), verify=self.h.ca_bundle,
                          timeout=20)
        self.assertEqual(r.status_code, 200, r.text)
        return r

    def test_two_bearer_keys_two_instances(self):
        self.send({"Authorization": "Bearer sk-ant-first"})
        self.send({"Authorization": "Bearer sk-ant-second"}, model="claude-opus-4-6-20260205")
        self.send({"x-api-key": "sk-ant-first"})  # the first key again, the other way
        first, second = key_id("sk-ant-first"), key_id("Bearer sk-ant-second")
        self.assertRegex(first, r"^[0-9a-f]{16}$")
        self.assertNotEqual(first, second)
        a = self.h.settled("per-key", first)
        b = self.h.settled("per-key", second)
        self.assertEqual(set(self.h.instances("per-key")), {first, second})
        # 10 input + 20 output tokens: Sonnet 4.6 at 3/15, twice = 2 x 330 micros; Opus 4.6 at
        # 5/25 = 550 micros.
        self.assertEqual(micros(a["spent"]), 660)
        self.assertEqual(micros(b["spent"]), 550)


class KeyIdCommandTest(unittest.TestCase):
    def test_key_id(self):
        self.assertEqual(key_id("abc"), "ba7816bf8f01cfea")  # SHA-256("abc"), first 8 bytes
        self.assertEqual(key_id("Bearer abc"), "ba7816bf8f01cfea")
        r = subprocess.run([tollgate_bin(), "key-id", ""], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "key-id: the key is empty\n")


if __name__ == "__main__":
    unittest.main()
