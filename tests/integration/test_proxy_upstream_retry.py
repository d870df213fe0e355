"""Upstream keep-alive connections that the upstream closes (proxy::may_retry, upstream_pool.hpp).

The upstream here reads the second request of every connection and closes the connection without
answering: what a keep-alive close racing tollgate's request looks like, and also what an upstream
that took the request and died looks like. tollgate cannot tell the two apart, so:
- a GET (safe method) is sent again once, on a fresh connection, and answered;
- a POST is never sent twice: the client gets a 502, and the hold is settled at the estimate
  (the upstream may have acted on it);
in both cases the exchange holds and settles the budget exactly once.
"""
import json
import os
import sys
import unittest
from decimal import Decimal

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

BUDGETS = """budgets:
  - { name: daily, currency: usd, limit: 50, period: day }
  - { name: tokens, currency: keepa_token, limit: 100000, period: day }
"""


def micros(text):
    return int(Decimal(text) * 1_000_000)


class RetryBase(unittest.TestCase):
    upstream_args = {}

    def setUp(self):
        # One worker: one upstream pool, so the second request finds the first one's connection.
        self.h = Harness(extra_yaml=BUDGETS, threads=1, start=False)
        self.up = ScriptedUpstream(os.path.join(self.h.dir, "server.pem"),
                                   os.path.join(self.h.dir, "server.key"), **self.upstream_args)
        address = "127.0.0.1:%d" % self.up.port
        self.h.resolve_extra = {"api.openai.com:443": address, "api.keepa.com:443": address}
        self.h.start()
        self.session = requests.Session()

    def tearDown(self):
        failed = hasattr(self, "_outcome") and not self._outcome.success
        self.session.close()
        self.h.close(keep_logs=failed)
        self.up.stop()

    def budget(self, name):
        r = requests.get(self.h.admin_url + "/v1/budgets/" + name, timeout=10)
        r.raise_for_status()
        return r.json()["budgets"][0]

    def chat(self, req_id, usage):
        return self.session.post(
            "https://api.openai.com/v1/chat/completions",
            data=json.dumps({"model": "gpt-4o-mini", "max_tokens": 50,
                             "messages": [{"role": "user", "content": "hi"}]}),
            headers={"content-type": "application/json", "authorization": "Bearer sk-test",
                     "x-req-id": req_id, "x-fake-usage": usage},
            proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20)

    def sent(self, req_id):
        """(connection, position on it) of every copy of request `req_id` the upstream read."""
        return [(r["conn"], r["index"]) for r in self.up.requests
                if r["headers"].get("x-req-id") == req_id]


class ClosedAfterReadTest(RetryBase):
    upstream_args = {"drop_nth": 2}

    def test_get_is_sent_again_on_a_fresh_connection_and_charged_once(self):
        get = lambda asins: self.session.get(  # noqa: E731
            "https://api.keepa.com/product?key=k1&asin=" + asins,
            proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20)
        r = get("A,B")
        self.assertEqual((r.status_code, r.json()["tokensConsumed"]), (200, 2))
        r = get("C")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["tokensConsumed"], 1)
        copies = [(x["conn"], x["index"]) for x in self.up.requests_to("/product")
                  if x["path"].endswith("asin=C")]
        # Read on the pooled connection (dropped), then once more on a new one (answered).
        self.assertEqual(copies, [(1, 2), (2, 1)])
        b = self.budget("tokens")
        self.assertEqual((micros(b["spent"]), b["reserved"]), (3 * 1_000_000, "0"))

    def test_post_is_never_sent_twice(self):
        first = self.chat("a", "100,20")
        self.assertEqual(first.status_code, 200, first.text)
        estimate = micros(first.headers["x-tollgate-cost"])
        second = self.chat("b", "100,20")
        self.assertEqual(second.status_code, 502, second.text)
        self.assertEqual(second.json()["error"]["type"], "upstream_error")
        self.assertIn("read: ", second.json()["error"]["message"])
        self.assertEqual(self.sent("b"), [(1, 2)])  # once, on the pooled connection
        # The first at its usage (100 x 0.15 + 20 x 0.60 micro-USD = 27), the second at its
        # estimate: the upstream may have run it before closing.
        b = self.budget("daily")
        self.assertEqual((micros(b["spent"]), b["reserved"]), (27 + estimate, "0"))
        # The connection is usable again: the next POST goes on a fresh upstream connection.
        third = self.chat("c", "100,20")
        self.assertEqual(third.status_code, 200, third.text)
        self.assertEqual(self.sent("c"), [(2, 1)])


class IdleCloseTest(RetryBase):
    upstream_args = {"idle_close_s": 0.2}

    def test_post_after_the_upstream_closed_an_idle_connection_goes_on_a_fresh_one(self):
        self.assertEqual(self.chat("a", "10,5").status_code, 200)
        self.assertTrue(self.up.idle_closed.acquire(timeout=10), "the upstream never closed")
        r = self.chat("b", "10,5")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.sent("b"), [(2, 1)])


if __name__ == "__main__":
    unittest.main()
