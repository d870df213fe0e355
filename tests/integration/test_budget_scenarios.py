"""Budget enforcement as users meet it (issue 4): the Keepa balance story, per-session budgets with
a spend breaker across sessions, shadow mode, OpenAI usage injection hidden from the client, and
refusals in each provider's own shape seen by curl and a streaming Python `requests` client."""
import json
import os
import subprocess
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, CHAT_URL, micros, wait_for  # noqa: E402

KEEPA = "https://api.keepa.com"


class KeepaBalanceTest(BudgetTestCase):
    """Keepa sells tokens that refill per minute; its catalog says refuse below 10, warn below 20."""

    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules="")
        cls.h.fake.state.keepa_reset(start=1200, refill_per_minute=30)

    def keepa(self, path, tag):
        return requests.get("%s%s%skey=K1&domain=1&tag=%s" % (KEEPA, path, "&" if "?" in path else "?", tag),
                            proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20)

    def available(self):
        """Keepa's balance as tollgate estimates it, once no request holds any of it (the last
        answer's settlement and balance reading are applied just after the client has it)."""
        def settled():
            # The first answer's balance reading may land just after the client has the answer:
            # until then there is no Keepa account to read.
            found = [b for b in self.h.balances() if b["provider"] == "keepa"]
            self.assertLessEqual(len(found), 1, found)
            return found[0] if found and micros(found[0]["holds"]) == 0 else None
        b = wait_for(settled)
        self.assertIsNotNone(b, "a Keepa hold stayed open")
        return micros(b["estimated_now"]) / 1e6

    def test_balance_story(self):
        h = self.h
        r = self.keepa("/token", "first")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["tokensLeft"], 1200)
        self.assertAlmostEqual(self.available(), 1200, delta=5)

        # Bestsellers cost 50: 1200 covers 23 of them with 10 to spare (1200 - 23*50 = 50, and
        # 50 - 50 < 10 refuses the 24th), with the refill (0.5/s) far from adding another.
        allowed = 0
        for i in range(30):
            r = self.keepa("/bestsellers", "best-%d" % i)
            if r.status_code != 200:
                break
            allowed += 1
        self.assertEqual(allowed, 23)
        body = self.assert_refusal(r, "balance", should_retry="true")
        self.assertLess(body["tokensLeft"], 60)
        self.assertGreater(body["refillIn"], 0)
        self.assertIn("Keepa balance too low", body["error"]["message"])
        self.assertIn("bestsellers", body["error"]["message"])
        hits = [e for e in h.fake.requests if e["path"].startswith("/bestsellers")]
        self.assertEqual(len(hits), 23, "the refused call reached Keepa")
        self.assertTrue(all("tag=best-23" not in e["path"] for e in hits))
        self.assertFalse(h.events("balance_warning"))

        # Spend down to about 15: a balance warning (below 20), once. Amounts are taken from the
        # balance just read, with margins for the refill (0.5/s) on a slow machine.
        n = int(self.available()) - 15
        self.assertGreater(n, 10)
        asins = ",".join("B%03d" % k for k in range(n))
        r = self.keepa("/product?asin=" + asins, "down")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["tokensConsumed"], n)
        warnings = wait_for(lambda: h.events("balance_warning"))
        self.assertEqual(len(warnings), 1, warnings)

        # k ASINs would leave about 7 (< 10): refused, and retry-after says when the refill
        # covers the deficit.
        k = int(self.available()) - 7
        ask = ",".join("C%03d" % j for j in range(k))
        r = self.keepa("/product?asin=" + ask, "low")
        self.assert_refusal(r, "balance", should_retry="true")
        wait = int(r.headers["retry-after"])
        self.assertLessEqual(wait, 10)
        self.assertFalse([e for e in h.fake.requests if "tag=low" in e["path"]])

        # The refill restores service.
        time.sleep(wait + 0.5)
        r = self.keepa("/product?asin=" + ask, "refilled")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["tokensConsumed"], k)
        self.assertEqual(len(h.events("balance_warning")), 1)


SESSION_RULES = """
providers:
  openai:
    models:
      t-quarter: { input: 0, output: 250000, max_output: 100 }   # 0.25 USD per output token
budgets:
  - { name: session, currency: usd, limit: 5, per: "header:X-Session-Id", period: total,
      idle_expiry: 1h, alerts: [80%], match: { provider: [openai] } }
breakers:
  - { name: spend-spike, currency: usd, limit: 100, window: 1h, cooldown: 10m }
"""


class SessionBudgetTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules=SESSION_RULES)
        cls.h.fake.state.prices["t-quarter"] = (0.0, 250000.0)

    def chat(self, session, output_tokens=1):
        return self.h.chat(model="t-quarter", max_tokens=output_tokens,
                           usage="7,%d" % output_tokens, headers={"X-Session-Id": session})

    def settled_sessions(self):
        """The session instances once none is held: each settlement lands just after its client
        has the answer."""
        def check():
            found = self.h.instances("session")
            return found if all(micros(i["reserved"]) == 0 for i in found.values()) else None
        return wait_for(check)

    def test_sessions_are_isolated_warned_refused_and_a_spend_breaker_spans_them(self):
        h = self.h
        # 100 concurrent sessions, one 0.25 USD request each.
        with ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(lambda i: self.chat("s-%d" % i), range(100)))
        self.assertEqual([r.status_code for r in answers], [200] * 100,
                         [r.text for r in answers if r.status_code != 200][:3])
        instances = self.settled_sessions()
        self.assertEqual(set(instances), {"s-%d" % i for i in range(100)})
        for inst in instances.values():
            self.assertEqual((micros(inst["spent"]), micros(inst["reserved"])), (250000, 0), inst)

        # Session s-0 spends up to its 5 USD; the 80 % warning fires once, at 4 USD.
        for k in range(19):
            r = self.chat("s-0")
            self.assertEqual(r.status_code, 200, r.text)
            if k == 13:  # 15 requests = 3.75 USD: no warning yet
                self.assertFalse([e for e in h.events("threshold") if e["key"] == "s-0"])
        self.assertEqual(micros(h.settled("session", "s-0")["spent"]), 5_000_000)
        warnings = [e for e in h.events("threshold") if e["budget"] == "session"]
        self.assertEqual([e["key"] for e in warnings], ["s-0"], warnings)
        self.assertIn("80", json.dumps(warnings[0]))

        r = self.chat("s-0")
        # A total budget never resets: no retry-after.
        body = self.assert_refusal(r, "budget", "session", retry_after=False)
        self.assertNotIn("retry-after", r.headers)
        self.assertIn('budget "session"', body["error"]["message"])
        self.assertIn("s-0", body["error"]["message"])
        # Other sessions are untouched by s-0's refusal.
        self.assertEqual(self.chat("s-1").status_code, 200)
        self.assertEqual(micros(h.settled("session", "s-1")["spent"]), 500000)
        self.assertEqual(micros(h.settled("session", "s-0")["spent"]), 5_000_000)

        # Total so far 25 + 4.75 + 0.25 = 30 USD. Fresh sessions spend 5 USD each: after 14 the
        # total is exactly 100 (not over), the 15th takes it over and trips the breaker.
        allowed = 0
        for i in range(20):
            r = self.chat("big-%d" % i, output_tokens=20)
            if r.status_code != 200:
                break
            allowed += 1
        self.assertEqual(allowed, 15)
        self.assert_refusal(r, "breaker", "spend-spike")
        self.assertTrue(wait_for(lambda: [e for e in h.events("breaker") if "open" in json.dumps(e)]))
        # Open means everything, even a session with money left.
        self.assert_refusal(self.chat("s-2"), "breaker", "spend-spike")
        self.assertEqual(h.fake.charged["usd_micros"], 105_000_000)
        self.assertEqual(sum(micros(b["spent"]) for b in self.settled_sessions().values()), 105_000_000)


class ShadowModeTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules="""
budgets:
  - { name: trial, currency: usd, limit: 0.0002, period: day, mode: shadow,
      match: { provider: [openai] } }
""")

    def test_shadow_refuses_nothing_and_records_what_it_would_have_refused(self):
        h = self.h
        for i in range(10):
            r = h.chat(req_id=i, usage="20,100")
            self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(h.fake.requests), 10)
        inst = h.settled("trial")
        self.assertIsNotNone(inst, "a hold stayed open")
        self.assertEqual(inst["mode"], "shadow")
        self.assertEqual(micros(inst["spent"]), h.fake.charged["usd_micros"])
        self.assertGreater(micros(inst["spent"]), micros(inst["limit"]))
        would = wait_for(lambda: h.events("would_refuse"))
        self.assertTrue(would)
        self.assertEqual({e["budget"] for e in would}, {"trial"})
        self.assertFalse(h.events("refused"))


class UsageInjectionTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(rules="""
budgets:
  - { name: daily, currency: usd, limit: 10, period: day, match: { provider: [openai] } }
""")

    def stream(self, req_id, **body):
        r = self.h.chat(req_id=req_id, usage="123,45", stream=True,
                        body={"stream": True, **body})
        self.assertEqual(r.status_code, 200, r.text)
        events = [line[len(b"data: "):] for line in r.iter_lines() if line.startswith(b"data: ")]
        r.close()
        return events

    def test_usage_is_asked_for_and_the_extra_chunk_never_reaches_the_client(self):
        h = self.h
        # Read once the other test's stream has settled (it lands just after its client is done).
        spent_before = micros(h.settled("daily")["spent"]) if h.instances("daily") else 0
        charged_before = h.fake.charged["usd_micros"]
        events = self.stream("naive")
        self.assertEqual(events[-1], b"[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(len(chunks), 3)
        self.assertTrue(all(c["choices"] for c in chunks), "a chunk without choices reached the client")
        self.assertFalse(any("usage" in c for c in chunks))
        sent = json.loads(h.fake.requests[-1]["body"])
        self.assertEqual(sent["stream_options"], {"include_usage": True})
        # The ledger was settled from the usage the client never saw.
        self.assertEqual(h.fake.charged["usd_micros"] - charged_before, 46)  # ceil(123*0.15 + 45*0.60)
        self.assertTrue(wait_for(lambda: micros(h.instance("daily")["spent"]) - spent_before == 46))

    def test_a_client_that_asked_for_usage_gets_it(self):
        events = self.stream("asked", stream_options={"include_usage": True})
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"]["prompt_tokens"], 123)


class ErrorAnswersTest(BudgetTestCase):
    """A failed request without usage costs nothing, unless the provider says error_cost: estimate."""

    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules="""
providers:
  anthropic: { error_cost: estimate }
budgets:
  - { name: all, currency: usd, limit: 10, period: day }
""")

    def test_error_status_is_free_by_default_and_the_estimate_when_configured(self):
        h = self.h
        r = h.chat(headers={"x-fake-status": "500"})
        self.assertEqual(r.status_code, 500)
        self.assertEqual(r.json()["error"]["message"], "fake failure")
        self.assertGreater(micros(r.headers["x-tollgate-cost"]), 0)
        self.assertTrue(h.settled("all"))
        self.assertEqual(micros(h.instance("all")["spent"]), 0)

        r = requests.post("https://api.anthropic.com/v1/messages",
                          json={"model": "claude-sonnet-4-5", "max_tokens": 100,
                                "messages": [{"role": "user", "content": "hi"}]},
                          headers={"x-api-key": "k", "x-fake-status": "529"},
                          proxies=h.proxies(), verify=h.ca_bundle, timeout=20)
        self.assertEqual(r.status_code, 529)
        self.assertTrue(h.settled("all"))
        self.assertEqual(micros(h.instance("all")["spent"]), micros(r.headers["x-tollgate-cost"]))


class RefusalShapesTest(BudgetTestCase):
    """Each provider's SDK must recognise the refusal as its own 429 error."""

    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules="""
budgets:
  - { name: nothing-left, currency: usd, limit: 0.000001, period: month, timezone: Europe/Berlin }
""")

    def curl(self, url, data):
        out = subprocess.run(
            ["curl", "-sS", "-i", "-x", self.h.proxy_url, "--cacert", self.h.ca_bundle, url,
             "-H", "content-type: application/json", "-H", "x-api-key: k", "-d", json.dumps(data)],
            capture_output=True, text=True, timeout=30, check=True).stdout
        # -i prints the proxy's CONNECT answer first, then the response.
        while True:
            head, _, out = out.partition("\n\n")  # text mode turned CRLF into LF
            if not out.startswith("HTTP/"):
                return head, json.loads(out)

    def test_curl_sees_openai_anthropic_and_gemini_shapes(self):
        head, body = self.curl(CHAT_URL, {"model": "gpt-4o-mini", "max_tokens": 10,
                                          "messages": [{"role": "user", "content": "hi"}]})
        self.assertTrue(head.startswith("HTTP/1.1 429"), head)
        self.assertIn("x-tollgate-refused: budget", head.lower())
        self.assertEqual(set(body["error"]), {"message", "type", "param", "code"})
        self.assertEqual(body["error"]["code"], "budget_exceeded")
        message = body["error"]["message"]
        for part in ('budget "nothing-left"', "estimate", "remaining", "deficit", "resets at"):
            self.assertIn(part, message)

        claude = {"model": "claude-sonnet-4-5", "max_tokens": 2000,
                  "messages": [{"role": "user", "content": "hi"}]}
        head, body = self.curl("https://api.anthropic.com/v1/messages", claude)
        self.assertTrue(head.startswith("HTTP/1.1 429"), head)
        self.assertEqual(body["type"], "error")
        self.assertEqual(body["error"]["type"], "rate_limit_error")
        # The estimate named is the one the pricing engine gives for these very bytes.
        estimate = self.h.admin("POST", "/v1/estimate", json={
            "method": "POST", "url": "https://api.anthropic.com/v1/messages",
            "headers": {"content-type": "application/json"}, "body": json.dumps(claude)}).json()
        self.assertIn("estimate %s usd" % estimate["estimate"], body["error"]["message"])
        self.assertGreater(micros(estimate["estimate"]), 30_000)  # 2000 output tokens at 15 USD/1M

        head, body = self.curl(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
            {"contents": [{"parts": [{"text": "hi"}]}]})
        self.assertTrue(head.startswith("HTTP/1.1 429"), head)
        self.assertEqual(body["error"]["code"], 429)
        self.assertEqual(body["error"]["status"], "RESOURCE_EXHAUSTED")
        self.assertFalse(self.h.fake.requests, "a refused request reached a provider")

    def test_python_streaming_client_gets_a_429_json_not_a_stream(self):
        with requests.post(CHAT_URL, json={"model": "gpt-4o-mini", "stream": True, "max_tokens": 10,
                                           "messages": [{"role": "user", "content": "hi"}]},
                           headers={"authorization": "Bearer sk-x"}, stream=True,
                           proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20) as r:
            body = self.assert_refusal(r, "budget", "nothing-left")
        self.assertEqual(body["error"]["type"], "budget_exceeded")
        self.assertFalse(self.h.fake.requests)


class ProxyAuthTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(store="memory", rules="""
clients:
  identify: proxy-auth
  require_auth: true
  users: { team-a: pw-a, team-b: pw-b }
budgets:
  - { name: per-team, currency: usd, limit: 1, period: day, per: client }
""")

    def proxies(self, user=None, secret=None):
        url = self.h.proxy_url
        if user:
            url = url.replace("http://", "http://%s:%s@" % (user, secret))
        return {"https": url, "http": url}

    def test_clients_authenticate_and_get_their_own_budget(self):
        for creds in [(None, None), ("team-a", "wrong"), ("nobody", "pw-a")]:
            with self.assertRaises(requests.exceptions.ProxyError) as caught:
                self.h.chat(req_id="x", proxies=self.proxies(*creds))
            self.assertIn("407", str(caught.exception))
        self.assertFalse(self.h.fake.requests)

        self.assertEqual(self.h.chat(proxies=self.proxies("team-a", "pw-a")).status_code, 200)
        self.assertEqual(self.h.chat(proxies=self.proxies("team-b", "pw-b")).status_code, 200)
        self.assertEqual(set(self.h.instances("per-team")), {"team-a", "team-b"})


if __name__ == "__main__":
    unittest.main()
