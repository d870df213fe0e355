"""Base-URL mode (DESIGN §14, issue 18): an origin-form request on the proxy listener whose first
path segment names a provider goes to that provider's host over verified TLS, through the same
pipeline as intercepted traffic. Clients here trust no tollgate CA: they speak plain HTTP to
http://127.0.0.1:PORT/<provider>/..., as an SDK does with its base URL set.

Checks, with curl and Python requests: OpenAI chat JSON and stream=true SSE (usage injected and
stripped, events unbuffered), Anthropic messages, Gemini generateContent and its SSE stream, Keepa's
gzip answer, Expect: 100-continue, the upstream Host and path, the access log's mode, a budget
refusal in each provider's shape that is never forwarded, the ledger against the stand-in's bill,
the 404 of a prefix that names no provider, and absolute-form and CONNECT on the same port."""
import gzip
import json
import os
import subprocess
import sys
import time
import unittest

import httpx
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402

# 0.005 USD a day across the LLM providers: an ordinary call (max_tokens 100) fits many times,
# a call that may write 16000 gpt-4o-mini tokens (9.6 milli-USD) or 1000 Claude Sonnet tokens
# (15 milli-USD) never does, whatever ran before it.
RULES = """
budgets:
  - { name: bu, currency: usd, limit: 0.005, period: day, match: { provider: [openai, anthropic, gemini] } }
"""
MESSAGES = [{"role": "user", "content": "count to three"}]


class BaseUrlTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules=RULES)
        cls.base = "http://127.0.0.1:%d" % cls.h.port
        # No proxy from the environment: these clients talk to tollgate as to a server.
        cls.s = requests.Session()
        cls.s.trust_env = False

    def sent(self, req_id):
        return [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == req_id]

    def log_of(self, req_bytes):
        """Access log lines of base-URL exchanges whose request body had `req_bytes` bytes."""
        return wait_for(lambda: [e for e in self.h.access_log()
                                 if e.get("mode") == "base_url" and e.get("bytes_in") == req_bytes])

    def openai(self, req_id, body=None, headers=None, **kw):
        b = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES}
        b.update(body or {})
        h = {"authorization": "Bearer sk-base", "x-fake-usage": "50,100", "x-req-id": req_id}
        h.update(headers or {})
        return self.s.post(self.base + "/openai/v1/chat/completions", json=b, headers=h,
                           timeout=30, **kw)

    # --- OpenAI --------------------------------------------------------------------------------
    def test_openai_json_with_requests(self):
        r = self.openai("py-json")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usage"]["completion_tokens"], 100)
        self.assertTrue(r.headers.get("x-tollgate-cost"))
        (sent,) = self.sent("py-json")
        self.assertEqual(sent["path"], "/v1/chat/completions")  # the prefix is gone
        self.assertEqual(sent["headers"]["host"], "api.openai.com")
        self.assertEqual(sent["headers"]["authorization"], "Bearer sk-base")
        self.assertEqual(self.h.fake.state.billed.count(("py-json", 68)), 1)

    def test_openai_json_and_stream_with_httpx(self):
        # httpx with base_url, as the OpenAI and Anthropic Python SDKs use it underneath.
        body = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES}
        headers = {"authorization": "Bearer sk-base", "x-fake-usage": "50,100"}
        with httpx.Client(base_url=self.base + "/openai/v1", trust_env=False, timeout=30) as c:
            r = c.post("/chat/completions", json=body, headers=dict(headers, **{"x-req-id": "hx-json"}))
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["usage"]["completion_tokens"], 100)
            with c.stream("POST", "/chat/completions", json=dict(body, stream=True),
                          headers=dict(headers, **{"x-req-id": "hx-sse"})) as s:
                self.assertEqual(s.status_code, 200)
                events = [l.strip() for l in s.iter_lines() if l.startswith("data: ")]
            self.assertEqual(events[-1], "data: [DONE]")
            self.assertFalse(any('"usage"' in e and '"choices":[]' in e for e in events))
            r = c.post("/chat/completions", json=dict(body, max_tokens=16000),
                       headers=dict(headers, **{"x-req-id": "hx-refused"}))
            self.assertEqual(r.status_code, 429)
            self.assertEqual(r.headers["x-should-retry"], "false")
        self.assertEqual(len(self.sent("hx-json")), 1)
        self.assertEqual(len(self.sent("hx-sse")), 1)
        self.assertFalse(self.sent("hx-refused"))

    def test_openai_json_with_curl_and_expect_100_continue(self):
        body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES,
                           "user": "x" * 4000})
        out = subprocess.run(
            ["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}", "-H", "content-type: application/json",
             "-H", "authorization: Bearer sk-curl", "-H", "x-req-id: curl-json",
             "-H", "x-fake-usage: 50,100", "-H", "Expect: 100-continue", "--data-binary", "@-",
             self.base + "/openai/v1/chat/completions"],
            input=body, capture_output=True, text=True, timeout=30)
        text, _, status = out.stdout.rpartition("\n")
        self.assertEqual(status, "200", out.stdout + out.stderr)
        self.assertEqual(json.loads(text)["choices"][0]["message"]["content"], "hello")
        (sent,) = self.sent("curl-json")
        self.assertEqual(json.loads(sent["body"])["user"], "x" * 4000)
        self.assertNotIn("expect", sent["headers"])
        (entry,) = self.log_of(len(body))
        self.assertEqual((entry["host"], entry["path"], entry["status"]),
                         ("api.openai.com", "/v1/chat/completions", 200))

    def test_openai_stream_is_unbuffered_and_usage_injected_then_stripped(self):
        t0 = time.monotonic()
        r = self.openai("py-stream", body={"stream": True},
                        headers={"x-fake-spacing-ms": "400"}, stream=True)
        self.assertEqual(r.status_code, 200)
        arrivals, events = [], []
        for line in r.iter_lines():
            if line.startswith(b"data: "):
                arrivals.append(time.monotonic() - t0)
                events.append(line[6:])
        self.assertEqual(events[-1], b"[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual([c["choices"][0]["delta"]["content"] for c in chunks], ["tok0", "tok1", "tok2"])
        self.assertFalse([c for c in chunks if c.get("usage")], "the injected usage chunk leaked")
        # 400 ms between events upstream: the first reached the client long before the last.
        self.assertGreater(arrivals[-1] - arrivals[0], 0.6, arrivals)
        (sent,) = self.sent("py-stream")
        self.assertEqual(json.loads(sent["body"])["stream_options"], {"include_usage": True})
        self.assertIn(("py-stream", 68), self.h.fake.state.billed)

    def test_a_client_that_asks_for_usage_gets_its_chunk(self):
        r = self.openai("py-asked", body={"stream": True, "stream_options": {"include_usage": True}})
        usage = [json.loads(l[6:]) for l in r.iter_lines() if l.startswith(b"data: {")]
        self.assertEqual(usage[-1]["usage"]["prompt_tokens"], 50)

    def test_keep_alive_from_the_client(self):
        with requests.Session() as s:
            s.trust_env = False
            for i in range(3):
                r = s.post(self.base + "/openai/v1/chat/completions",
                           json={"model": "gpt-4o-mini", "max_tokens": 10, "messages": MESSAGES},
                           headers={"authorization": "Bearer sk-ka", "x-req-id": "ka-%d" % i},
                           timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len([r for r in self.h.fake.requests
                              if r["headers"].get("x-req-id", "").startswith("ka-")]), 3)

    # --- Anthropic, Gemini, Keepa ---------------------------------------------------------------
    def test_anthropic_messages(self):
        r = self.s.post(self.base + "/anthropic/v1/messages",
                        json={"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": MESSAGES},
                        headers={"x-api-key": "sk-ant", "anthropic-version": "2023-06-01",
                                 "x-fake-usage": "20,10", "x-req-id": "py-ant"}, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usage"], {"input_tokens": 20, "output_tokens": 10})
        (sent,) = self.sent("py-ant")
        self.assertEqual(sent["path"], "/v1/messages")
        self.assertEqual(sent["headers"]["host"], "api.anthropic.com")

    def test_gemini_generate_and_stream(self):
        url = self.base + "/gemini/v1beta/models/gemini-2.0-flash"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "generationConfig": {"maxOutputTokens": 100}}
        h = {"x-goog-api-key": "g-key", "x-fake-usage": "30,40"}
        r = self.s.post(url + ":generateContent", json=body, headers=dict(h, **{"x-req-id": "py-gem"}),
                        timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usageMetadata"]["candidatesTokenCount"], 40)
        (sent,) = self.sent("py-gem")
        self.assertEqual(sent["path"], "/v1beta/models/gemini-2.0-flash:generateContent")
        self.assertEqual(sent["headers"]["host"], "generativelanguage.googleapis.com")
        r = self.s.post(url + ":streamGenerateContent?alt=sse", json=body,
                        headers=dict(h, **{"x-req-id": "py-gem-sse"}), timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.text.count("data: "), 2)
        (sent,) = self.sent("py-gem-sse")
        self.assertEqual(sent["path"], "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")

    def test_keepa_gzip_answer_is_relayed_as_received(self):
        r = self.s.get(self.base + "/keepa/product?key=k&domain=1&asin=A1,A2",
                       headers={"accept-encoding": "gzip"}, stream=True, timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["content-encoding"], "gzip")
        payload = json.loads(gzip.decompress(r.raw.read()))
        self.assertEqual(payload["tokensConsumed"], 2)
        sent = [x for x in self.h.fake.requests if x["path"].startswith("/product?")]
        self.assertEqual(sent[-1]["headers"]["host"], "api.keepa.com")

    # --- Refusals and the ledger ----------------------------------------------------------------
    def test_budget_refusals_in_each_providers_shape_never_forwarded(self):
        r = self.openai("refuse-openai", body={"max_tokens": 16000})
        self.assert_refusal(r, "budget", "bu")
        self.assertEqual(r.json()["error"]["code"], "budget_exceeded")
        self.assertEqual(r.headers["x-should-retry"], "false")
        r = self.s.post(self.base + "/anthropic/v1/messages",
                        json={"model": "claude-sonnet-4-5", "max_tokens": 1000, "messages": MESSAGES},
                        headers={"x-api-key": "sk-ant", "x-req-id": "refuse-ant"}, timeout=30)
        self.assert_refusal(r, "budget", "bu")
        self.assertEqual(r.json()["type"], "error")
        self.assertEqual(r.json()["error"]["type"], "rate_limit_error")
        r = self.s.post(self.base + "/gemini/v1beta/models/gemini-2.0-flash:generateContent",
                        json={"contents": [{"parts": [{"text": "hi"}]}],
                              "generationConfig": {"maxOutputTokens": 60000}},
                        headers={"x-goog-api-key": "g", "x-req-id": "refuse-gem"}, timeout=30)
        self.assert_refusal(r, "budget", "bu")
        self.assertEqual(r.json()["error"]["status"], "RESOURCE_EXHAUSTED")
        for req_id in ("refuse-openai", "refuse-ant", "refuse-gem"):
            self.assertFalse(self.sent(req_id), req_id + " reached the provider")

    def test_ledger_equals_what_the_provider_charged(self):
        for i in range(3):
            self.assertEqual(self.openai("ledger-%d" % i).status_code, 200)
        self.assertEqual(self.openai("ledger-s", body={"stream": True}).status_code, 200)
        inst = self.h.settled("bu")
        self.assertIsNotNone(inst, "holds still open")
        self.assertEqual(micros(inst["spent"]), self.h.fake.charged["usd_micros"])
        self.assertGreater(micros(inst["spent"]), 0)

    # --- What is not base-URL traffic ------------------------------------------------------------
    def test_unknown_prefix_is_a_404_naming_the_providers(self):
        for path in ("/nope/v1/chat/completions", "/", "/v1/chat/completions"):
            r = self.s.post(self.base + path, json={}, timeout=10)
            self.assertEqual(r.status_code, 404, path)
            err = r.json()["error"]
            self.assertEqual(err["providers"], ["anthropic", "gemini", "keepa", "openai"])
            self.assertIn("/openai/", err["message"])
        self.assertFalse([x for x in self.h.fake.requests if x["path"].startswith("/nope")])
        # The connection stays usable after a 404.
        with requests.Session() as s:
            s.trust_env = False
            self.assertEqual(s.get(self.base + "/nope", timeout=10).status_code, 404)
            self.assertEqual(s.get(self.base + "/keepa/token?key=k", timeout=10).status_code, 200)

    def test_absolute_form_and_connect_still_work_on_the_same_port(self):
        r = requests.get("http://plain.test/echo", proxies=self.h.proxies(), timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["headers"]["host"], "plain.test")
        r = self.h.chat(req_id="via-connect")
        self.assertEqual(r.status_code, 200, r.text)
        modes = wait_for(lambda: {"http", "intercept"} <= {e.get("mode") for e in self.h.access_log()})
        self.assertTrue(modes, [e.get("mode") for e in self.h.access_log()])


if __name__ == "__main__":
    unittest.main()
