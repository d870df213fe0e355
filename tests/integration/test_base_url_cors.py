"""Browser pages in base-URL mode (DESIGN §14): the real binary over loopback, with the preflights
and the Origin fields a browser sends to http://127.0.0.1:PORT/openai/...

With base_url.cors_origins: a preflight from a listed origin is answered by tollgate (204, the
requested headers echoed, never forwarded, whatever the path); one from
another origin, or a request from another origin, is a 403 that never reaches the provider; the
answers a listed origin gets carry Access-Control-Allow-Origin with it, replacing the provider's
own CORS fields, and expose x-tollgate-*: a JSON answer, a budget refusal, a 404 of an unknown
prefix, a 407, a 502 and a stream. Without the key, no page may call; clients without Origin, or
with one naming the listener by its address, see no change."""
import json
import os
import sys
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, wait_for  # noqa: E402

APP = "http://localhost:3000"
RULES = """
base_url: { cors_origins: ["%s", "http://127.0.0.1:5173"] }
clients:
  users: { web: s3cret }
providers:
  deadend: { hosts: [dead.test], currency: usd, default_cost: 0 }
budgets:
  - { name: bc, currency: usd, limit: 0.005, period: day, match: { provider: [openai] } }
""" % APP
CHAT = "/openai/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "count to three"}]
# What the openai SDK in a browser asks a preflight for.
SDK_HEADERS = "authorization, content-type, x-stainless-lang, x-stainless-retry-count"


def session():
    s = requests.Session()
    s.trust_env = False  # these clients talk to tollgate as to a server, not through a proxy
    return s


class CorsTestBase(BudgetTestCase):
    RULES = ""

    @classmethod
    def setUpClass(cls):
        # deadend's only host is an address where nothing listens: a 502 in base-URL mode.
        cls.h = BudgetHarness(store="memory", rules=cls.RULES,
                              resolve_extra={"dead.test:443": "127.0.0.1:1"})
        cls.base = "http://127.0.0.1:%d" % cls.h.port
        cls.s = session()

    def sent(self, req_id):
        return [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == req_id]

    def preflight(self, origin, path=CHAT, **headers):
        h = {"origin": origin, "access-control-request-method": "POST",
             "access-control-request-headers": SDK_HEADERS}
        h.update(headers)
        return self.s.options(self.base + path, headers=h, timeout=10)

    def chat(self, req_id, origin=None, body=None, headers=None, **kw):
        b = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES}
        b.update(body or {})
        h = {"authorization": "Bearer sk-web", "x-fake-usage": "50,100", "x-req-id": req_id}
        if origin:
            h["origin"] = origin
        h.update(headers or {})
        return self.s.post(self.base + CHAT, json=b, headers=h, timeout=30, **kw)

    def exposed(self, r):
        return [n.strip() for n in r.headers.get("access-control-expose-headers", "").split(",")]


class CorsOriginsTest(CorsTestBase):
    RULES = RULES

    def test_preflight_from_a_listed_origin_is_answered_by_tollgate(self):
        r = self.preflight(APP, **{"x-req-id": "pre-ok"})
        self.assertEqual(r.status_code, 204, r.text)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertEqual(r.headers["access-control-allow-headers"], SDK_HEADERS)
        self.assertIn("POST", r.headers["access-control-allow-methods"].split(", "))
        self.assertEqual(r.headers["access-control-max-age"], "600")
        self.assertNotIn("access-control-allow-credentials", r.headers)
        self.assertIn("Origin", r.headers["vary"])
        self.assertEqual(r.content, b"")
        self.assertNotIn("content-length", r.headers)  # none on a 204 (RFC 9110 §8.6)
        self.assertFalse(self.sent("pre-ok"), "a preflight reached the provider")
        entry = wait_for(lambda: [e for e in self.h.access_log()
                                  if e.get("method") == "OPTIONS" and e.get("status") == 204])
        self.assertEqual(entry[0]["mode"], "base_url")

    def test_preflight_for_any_path_and_private_network_access(self):
        # A preflight for a prefix no provider has is still answered: the request itself then gets
        # a 404 the page can read. A page on a public origin asks for private network access.
        r = self.preflight("http://127.0.0.1:5173", path="/nope/v1/x",
                           **{"access-control-request-private-network": "true"})
        self.assertEqual(r.status_code, 204)
        self.assertEqual(r.headers["access-control-allow-origin"], "http://127.0.0.1:5173")
        self.assertEqual(r.headers["access-control-allow-private-network"], "true")
        r = self.s.post(self.base + "/nope/v1/x", json={}, headers={"origin": APP}, timeout=10)
        self.assertEqual(r.status_code, 404)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertIn("providers", r.json()["error"])

    def test_preflight_from_another_origin_is_a_403_never_forwarded(self):
        for origin in ("http://evil.test", "http://localhost:3001", "https://localhost:3000", "null"):
            r = self.preflight(origin, **{"x-req-id": "pre-evil"})
            self.assertEqual(r.status_code, 403, origin)
            self.assertNotIn("access-control-allow-origin", r.headers)
            self.assertIn("base_url.cors_origins", r.json()["error"]["message"])
        self.assertFalse(self.sent("pre-evil"))

    def test_a_request_from_another_origin_is_refused_before_it_costs_anything(self):
        r = self.chat("evil-post", origin="http://evil.test")
        self.assertEqual(r.status_code, 403)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertEqual(r.json()["error"]["type"], "forbidden")
        self.assertFalse(self.sent("evil-post"))

    def test_a_listed_origin_reads_the_answer_and_tollgates_fields(self):
        # The stand-in answers with a CORS policy of its own (Allow-Origin *): tollgate's replaces it.
        with session() as s:
            # A browser's preflight and its request share the keep-alive connection.
            pre = s.options(self.base + CHAT, timeout=10, headers={
                "origin": APP, "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type"})
            self.assertEqual(pre.status_code, 204)
            r = s.post(self.base + CHAT, timeout=30,
                       json={"model": "gpt-4o-mini", "max_tokens": 100, "messages": MESSAGES},
                       headers={"origin": APP, "authorization": "Bearer sk-web",
                                "x-req-id": "web-json", "x-fake-usage": "50,100",
                                "x-fake-header": "Access-Control-Allow-Origin: *"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["usage"]["completion_tokens"], 100)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)  # one field, not "*, ..."
        exposed = self.exposed(r)
        for name in ("x-tollgate-cost", "x-tollgate-budget", "x-tollgate-budget-remaining"):
            self.assertIn(name, exposed)
        self.assertNotIn("content-type", exposed)
        self.assertIn("Origin", r.headers["vary"])
        (sent,) = self.sent("web-json")
        self.assertEqual(sent["headers"]["origin"], APP)  # forwarded as sent

    def test_a_budget_refusal_is_readable_cross_origin(self):
        r = self.chat("web-refused", origin=APP, body={"max_tokens": 16000})
        body = self.assert_refusal(r, "budget", "bc")
        self.assertEqual(body["error"]["code"], "budget_exceeded")
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        exposed = self.exposed(r)
        for name in ("x-tollgate-refused", "x-tollgate-budget", "x-should-retry", "retry-after"):
            self.assertIn(name, exposed)
        self.assertFalse(self.sent("web-refused"))

    def test_a_proxy_auth_refusal_is_readable_cross_origin(self):
        r = self.chat("web-407", origin=APP,
                      headers={"proxy-authorization": "Basic d2ViOndyb25n"})  # web:wrong
        self.assertEqual(r.status_code, 407)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertFalse(self.sent("web-407"))

    def test_an_unreachable_provider_is_a_502_readable_cross_origin(self):
        r = self.s.get(self.base + "/deadend/v1/x", headers={"origin": APP}, timeout=30)
        self.assertEqual(r.status_code, 502, r.text)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertEqual(r.json()["error"]["type"], "upstream_error")

    def test_a_stream_carries_the_fields_and_stays_unbuffered(self):
        t0 = time.monotonic()
        r = self.chat("web-sse", origin=APP, body={"stream": True},
                      headers={"x-fake-spacing-ms": "300"}, stream=True)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["access-control-allow-origin"], APP)
        self.assertTrue(r.headers["content-type"].startswith("text/event-stream"))
        self.assertIn("x-tollgate-cost", self.exposed(r))
        arrivals, events = [], []
        for line in r.iter_lines():
            if line.startswith(b"data: "):
                arrivals.append(time.monotonic() - t0)
                events.append(line[6:])
        self.assertEqual(events[-1], b"[DONE]")
        self.assertGreater(arrivals[-1] - arrivals[0], 0.4, arrivals)
        self.assertFalse([e for e in events[:-1] if json.loads(e).get("usage")])

    def test_clients_without_origin_see_no_cors_fields(self):
        r = self.chat("sdk-json", headers={"x-fake-header": "Access-Control-Allow-Origin: *"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertNotIn("access-control-expose-headers", r.headers)
        self.assertIn("Origin", r.headers["vary"])


class NoCorsOriginsTest(CorsTestBase):
    """The default: base_url.cors_origins lists nothing, so no page may call."""

    def test_preflights_and_page_requests_are_refused(self):
        r = self.preflight(APP, **{"x-req-id": "none-pre"})
        self.assertEqual(r.status_code, 403)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertIn("lists no page origin", r.json()["error"]["message"])
        r = self.chat("none-post", origin=APP)
        self.assertEqual(r.status_code, 403)
        self.assertFalse(self.sent("none-pre") + self.sent("none-post"))

    def test_clients_without_origin_work_and_get_no_provider_cors(self):
        r = self.chat("none-sdk", headers={"x-fake-header": "Access-Control-Allow-Origin: *"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertNotIn("vary", r.headers)
        self.assertTrue(r.headers.get("x-tollgate-cost"))

    def test_an_origin_naming_the_listener_itself_is_no_page(self):
        # What Python's websocket-client sends by default: no page can have this origin.
        r = self.chat("none-self", origin="http://127.0.0.1:%d" % self.h.port)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(self.sent("none-self")), 1)
        r = self.chat("none-self-name", origin="http://tollgate.test:%d" % self.h.port,
                      headers={"host": "tollgate.test:%d" % self.h.port})
        self.assertEqual(r.status_code, 403)  # a DNS name could be a page's, rebound to 127.0.0.1

    def test_the_intercepted_path_keeps_the_providers_fields(self):
        # Through CONNECT the page's origin is the provider's own: its CORS policy stands.
        r = self.h.chat(req_id="none-connect",
                        headers={"origin": APP, "x-fake-header": "Access-Control-Allow-Origin: *"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["access-control-allow-origin"], "*")


if __name__ == "__main__":
    unittest.main()
