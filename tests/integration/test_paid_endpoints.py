"""Paid endpoints through a real tollgate and the TLS stand-in (issue 14), and what tollgate reports
about them. Each test charges a budget instance of its own (per: header:X-Test) and checks its
ledger to the micro-USD against the amount worked out by hand, and, where the stand-in bills the
same answer, against what it billed."""
import json
import os
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402

RULES = """budgets:
  - { name: per-test, currency: usd, limit: 500, period: day, per: header:X-Test }
"""
OPENAI = "https://api.openai.com"
ANTHROPIC = "https://api.anthropic.com"
GEMINI = "https://generativelanguage.googleapis.com"


class PaidEndpointsTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=RULES, store="memory")

    def post(self, url, test, headers=None, **kw):
        h = {"Authorization": "Bearer sk-a", "x-api-key": "sk-ant", "x-goog-api-key": "g",
             "X-Test": test, "x-req-id": test}
        h.update(headers or {})
        return requests.post(url, headers=h, proxies=self.h.proxies(), verify=self.h.ca_bundle,
                             timeout=20, **kw)

    def spent(self, test):
        return micros(self.h.settled("per-test", test)["spent"])

    def billed(self, test):
        return sum(m for req, m in self.h.fake.state.billed if req == test)

    def test_sora_video_from_the_sdk_form(self):
        r = self.post(OPENAI + "/v1/videos", "video",
                      files={"prompt": (None, "a cat"), "model": (None, "sora-2-pro"),
                             "seconds": (None, "8"), "size": (None, "1792x1024")})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["x-tollgate-cost"], "4")  # 8 s x 0.50 held
        self.assertEqual(self.spent("video"), 4_000_000)
        self.assertEqual(self.billed("video"), 4_000_000)

    def test_sora_video_settled_at_what_was_made(self):
        # Asked 8 s at the default size (held at the dearest, 0.50); made 4 s at 720x1280, 0.30.
        r = self.post(OPENAI + "/v1/videos", "video-made", headers={"x-fake-seconds": "4"},
                      json={"prompt": "a cat", "model": "sora-2-pro", "seconds": "8"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["x-tollgate-cost"], "4")
        self.assertEqual(self.spent("video-made"), 1_200_000)
        self.assertEqual(self.billed("video-made"), 1_200_000)

    def test_responses_web_search(self):
        r = self.post(OPENAI + "/v1/responses", "responses",
                      headers={"x-fake-usage": "1000,200",
                               "x-fake-output": "web_search_call,web_search_call,message"},
                      json={"model": "gpt-5-mini", "input": "news?", "max_output_tokens": 500,
                            "tools": [{"type": "web_search"}]})
        self.assertEqual(r.status_code, 200, r.text)
        # 1000 x 0.25 + 200 x 2 = 650 micro-USD, two searches at 0.01
        self.assertEqual(self.spent("responses"), 650 + 20_000)
        self.assertEqual(self.billed("responses"), 650 + 20_000)

    def test_anthropic_web_search_and_1h_cache(self):
        for test, stream in (("anthropic-json", False), ("anthropic-sse", True)):
            r = self.post(ANTHROPIC + "/v1/messages", test,
                          headers={"x-fake-usage": "100,50", "x-fake-web-searches": "2",
                                   "x-fake-cache-5m": "1000", "x-fake-cache-1h": "2000"},
                          json={"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
                                "messages": [{"role": "user", "content": "news?"}],
                                "tools": [{"type": "web_search_20250305", "name": "web_search",
                                           "max_uses": 3}]})
            self.assertEqual(r.status_code, 200, r.text)
            # 100 x 3 + 50 x 15 + 1000 x 3.75 + 2000 x 6 = 16800, two searches at 0.01
            self.assertEqual(self.spent(test), 16_800 + 20_000, test)
            self.assertEqual(self.billed(test), 16_800 + 20_000, test)

    def test_gemini_grounding(self):
        for test, model, expected in (("grounded-2", "gemini-2.5-flash", 155 + 35_000),
                                      ("grounded-3", "gemini-3-flash-preview", 200 + 28_000)):
            r = self.post(GEMINI + "/v1beta/models/%s:generateContent" % model, test,
                          headers={"x-fake-usage": "100,50", "x-fake-grounding": "q1|q2"},
                          json={"contents": [{"parts": [{"text": "news?"}]}],
                                "tools": [{"google_search": {}}],
                                "generationConfig": {"maxOutputTokens": 100}})
            self.assertEqual(r.status_code, 200, r.text)
            # 2.5-flash: 100 x 0.30 + 50 x 2.50, one grounded prompt at 0.035;
            # 3-flash: 100 x 0.50 + 50 x 3, two queries at 0.014
            self.assertEqual(self.spent(test), expected, test)
            self.assertEqual(self.billed(test), expected, test)

    def test_openai_batch_priced_from_its_upload(self):
        line = json.dumps({"custom_id": "1", "method": "POST", "url": "/v1/chat/completions",
                           "body": {"model": "gpt-4o-mini", "max_tokens": 100,
                                    "messages": [{"role": "user", "content": "hi"}]}},
                          separators=(",", ":"))
        up = self.post(OPENAI + "/v1/files", "batch",
                       files={"purpose": (None, "batch"),
                              "file": ("in.jsonl", (line + "\n") * 4, "application/jsonl")})
        self.assertEqual(up.status_code, 200, up.text)
        file_id = up.json()["id"]
        r = self.post(OPENAI + "/v1/batches", "batch",
                      json={"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                            "completion_window": "24h"})
        self.assertEqual(r.status_code, 200, r.text)
        # each line: 15 x 0.15 + 100 x 0.60 = 62.25 -> 63; four lines at 50 %
        self.assertEqual(r.headers["x-tollgate-cost"], "0.000126")
        self.assertEqual(self.spent("batch"), 126)
        unseen = self.post(OPENAI + "/v1/batches", "batch-unseen",
                           json={"input_file_id": "file-elsewhere", "completion_window": "24h"})
        self.assertEqual(unseen.status_code, 400, unseen.text)
        self.assertEqual(unseen.headers["x-tollgate-refused"], "price")
        self.assertIn("batch_estimate", unseen.json()["error"]["message"])

    def test_anthropic_message_batch(self):
        params = {"model": "claude-haiku-4-5", "max_tokens": 100,
                  "messages": [{"role": "user", "content": "hi"}]}
        r = self.post(ANTHROPIC + "/v1/messages/batches", "msgbatch",
                      json={"requests": [{"custom_id": "a", "params": params},
                                         {"custom_id": "b", "params": params}]})
        self.assertEqual(r.status_code, 200, r.text)
        # each: 15 x 1 + 100 x 5 = 515; two at 50 %
        self.assertEqual(self.spent("msgbatch"), 515)

    def test_spend_under_the_billed_model(self):
        r = self.post(OPENAI + "/v1/chat/completions", "billed",
                      headers={"x-fake-usage": "100,10", "x-fake-model": "gpt-4o-2024-08-06"},
                      json={"model": "gpt-4o", "max_tokens": 10, "messages": []})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.spent("billed"), 350)  # 100 x 2.50 + 10 x 10, gpt-4o's price
        metrics = requests.get(self.h.admin_url + "/metrics", timeout=10).text
        self.assertIn('tollgate_spend_total{currency="usd",model="gpt-4o-2024-08-06",'
                      'provider="openai"}', metrics)
        # The access-log line is written once the exchange is settled.
        lines = wait_for(lambda: [l for l in self.h.access_log()
                                  if l.get("path") == "/v1/chat/completions"
                                  and l.get("cost") == "0.00035"])
        self.assertTrue(lines, self.h.access_log())
        self.assertEqual(lines[-1]["model"], "gpt-4o-2024-08-06")

    def test_unpriced_endpoint_event(self):
        for _ in range(3):
            self.post(OPENAI + "/v1/assistants", "assistants", json={"model": "gpt-4o"})
        events = [e for e in self.h.events("unpriced_endpoint")
                  if e["detail"]["path"] == "/v1/assistants"]
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["detail"]["method"], "POST")
        metrics = requests.get(self.h.admin_url + "/metrics", timeout=10).text
        self.assertIn('tollgate_unpriced_endpoint_total{method="POST",provider="openai"} 3', metrics)


if __name__ == "__main__":
    import unittest
    unittest.main()
