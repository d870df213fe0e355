"""A client that leaves in the middle of a streamed answer (DESIGN §1 step 6): tollgate keeps
reading the upstream, within bounds, until the usage in the last SSE chunk arrives, and settles
the hold at that usage, not at the estimate."""
import json
import math
import os
import sys
import time
import unittest
from decimal import Decimal

import requests
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase  # noqa: E402
from raw_http import request, tls_through  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUDGETS = """budgets:
  - { name: daily, currency: usd, limit: 50, period: day }
"""


def catalog_cost_micros(model, input_tokens, output_tokens):
    """What rules/catalog/openai.yaml prices this usage at, in micro-USD (rounded up)."""
    with open(os.path.join(ROOT, "rules", "catalog", "openai.yaml")) as f:
        price = yaml.safe_load(f)["providers"]["openai"]["models"][model]
    # USD per 1M tokens: tokens x price is micro-USD.
    exact = input_tokens * Decimal(str(price["input"])) + output_tokens * Decimal(str(price["output"]))
    return math.ceil(exact)


def micros(text):
    return int(Decimal(text) * 1_000_000)


class ClientGoneTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness(extra_yaml=BUDGETS)

    def budget(self):
        r = requests.get(self.h.admin_url + "/v1/budgets/daily", timeout=10)
        r.raise_for_status()
        return r.json()["budgets"][0]

    def leave_after_first_event(self, body, events):
        """Streams a chat whose events come 200 ms apart; closes the socket after the first one.
        Returns the estimate tollgate announced (x-tollgate-cost) in micro-USD."""
        tls = tls_through(self.h.port, "api.openai.com", self.h.ca_bundle)
        tls.sendall(request("POST", "/v1/chat/completions", "api.openai.com", json.dumps(body).encode(),
                            {"Content-Type": "application/json", "Authorization": "Bearer sk-test",
                             "x-fake-usage": "20000,10000", "x-fake-spacing-ms": "200",
                             "x-fake-events": str(events)}))
        data = b""
        while b"data: " not in data:
            chunk = tls.recv(65536)
            self.assertTrue(chunk, data)
            data += chunk
        tls.close()  # gone: the rest of the stream (about 1 s) has nowhere to go
        head = data.split(b"\r\n\r\n", 1)[0].decode()
        cost = [l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("x-tollgate-cost:")]
        return micros(cost[0])

    def wait_settled(self, spent_before, timeout=15):
        deadline = time.time() + timeout
        b = self.budget()
        while time.time() < deadline and (b["reserved"] != "0" or micros(b["spent"]) == spent_before):
            time.sleep(0.05)
            b = self.budget()
        return b

    def check_stream(self, body):
        actual = catalog_cost_micros("gpt-4o-mini", 20000, 10000)
        before = micros(self.budget()["spent"])
        estimate = self.leave_after_first_event(body, events=6)
        self.assertNotEqual(estimate, actual)
        b = self.wait_settled(before)
        self.assertEqual(b["reserved"], "0", b)
        self.assertEqual(micros(b["spent"]) - before, actual, (b, "estimate", estimate))

    def test_usage_injected_by_tollgate_is_read_after_the_client_left(self):
        self.check_stream({"model": "gpt-4o-mini", "max_tokens": 100, "stream": True,
                           "messages": [{"role": "user", "content": "hi"}]})

    def test_usage_the_client_asked_for_is_read_after_the_client_left(self):
        self.check_stream({"model": "gpt-4o-mini", "max_tokens": 100, "stream": True,
                           "stream_options": {"include_usage": True},
                           "messages": [{"role": "user", "content": "hi"}]})


if __name__ == "__main__":
    unittest.main()
