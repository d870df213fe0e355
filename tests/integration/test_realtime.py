"""Realtime sessions through a real tollgate (issue 16, DESIGN §12), with the Python `websockets`
client (which offers permessage-deflate, as the openai SDKs do) and a TLS stand-in that speaks the
GA Realtime protocol and bills what it reports (support/fake_realtime.py): per-response budgets,
server-VAD responses cancelled past the limit, a refused handshake, the subprotocol key, a client
that vanishes mid-response, 24 sessions at once, Gemini Live, and the ledger against the
stand-in's bill to the micro-USD.

The numbers: every response answers 100 text tokens in, 10 text and 50 audio tokens out; on
gpt-realtime-mini (0.60 / 2.40 / 20 USD per 1M) that bills 60 + 24 + 1000 = 1084 micro-USD. With
max_output_tokens 100 the first response of a session holds 2000 (100 tokens at the audio output
price), every later one 2566: the conversation so far (110 text at 0.60 and 50 audio at 10) plus
2000. Under a 0.006 USD session budget: 0+2000, 1084+2566, 2168+2566, 3252+2566 all fit,
4336+2566 = 6902 does not: exactly four responses."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import unittest

import requests
import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, micros, wait_for  # noqa: E402
from fake_realtime import FakeRealtime  # noqa: E402
from harness import tollgate_bin  # noqa: E402
from realtime_client import next_event, open_realtime, respond  # noqa: E402

PER_RESPONSE = 1084
RULES = """
clients: { identify: "header:x-client" }
budgets:
  - { name: rt-session, currency: usd, limit: 0.006, per: session, period: total, alerts: [50%],
      warn_client: true, match: { client: [fit, crowd, gone] } }
  - { name: rt-vad, currency: usd, limit: 0.003, per: session, period: total, match: { client: [vad] } }
  - { name: rt-broke, currency: usd, limit: 0, match: { client: [broke] } }
  - { name: rt-key, currency: usd, limit: 10, per: credential, match: { client: [key] } }
  - { name: rt-live, currency: usd, limit: 1, per: session, period: total, match: { client: [live] } }
"""
MAX_100 = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 100}}


def start_with_realtime(rules, **kw):
    """A BudgetHarness whose OpenAI and Gemini hosts are the realtime stand-in."""
    h = BudgetHarness(rules=rules, start=False, **kw)
    rt = FakeRealtime(os.path.join(h.dir, "server.pem"), os.path.join(h.dir, "server.key"))
    h.resolve_extra = {"api.openai.com:443": "127.0.0.1:%d" % rt.port,
                       "generativelanguage.googleapis.com:443": "127.0.0.1:%d" % rt.port}
    h.realtime = rt
    h.start()
    return h


class RealtimeTestCase(BudgetTestCase):
    @classmethod
    def tearDownClass(cls):
        if cls.h:
            cls.h.realtime.stop()
        super().tearDownClass()

    def run_async(self, coro, timeout=60):
        return asyncio.run(asyncio.wait_for(coro, timeout))

    def session_spent(self, budget, key):
        inst = self.h.settled(budget, key)
        self.assertIsNotNone(inst, "holds still open on %s/%s" % (budget, key))
        return micros(inst["spent"])

    def charged(self, test_id):
        return wait_for(lambda: self.h.realtime.charged.get(test_id), 5) or 0


class RealtimeBudgetTest(RealtimeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = start_with_realtime(RULES)

    def test_session_budget_admits_exactly_the_responses_that_fit(self):
        async def scenario():
            ws = await open_realtime(self.h, test_id="fit", headers={"x-client": "fit"})
            session = ws.response_headers["x-tollgate-session"]
            offered = ws.request_headers.get("Sec-WebSocket-Extensions")
            await next_event(ws, {"session.created"})
            await ws.send(json.dumps(MAX_100))
            await next_event(ws, {"session.updated"})
            answers, warnings = [], []
            while True:
                await ws.send(json.dumps({"type": "response.create",
                                          "event_id": "ev_%d" % len(answers)}))
                while True:
                    event = await next_event(ws)
                    if event["type"] == "tollgate.budget_warning":
                        warnings.append(event)
                    if event["type"] in ("response.done", "error"):
                        break
                answers.append(event)
                if event["type"] == "error":
                    break
            with self.assertRaises(websockets.ConnectionClosed):
                await ws.recv()
            return session, offered, ws.extensions, answers, warnings, ws.close_code, ws.close_reason

        session, offered, extensions, answers, warnings, code, reason = self.run_async(scenario())
        self.assertIn("permessage-deflate", offered or "")  # the client asked for compression
        self.assertEqual(extensions, [])                      # and did not get it
        self.assertEqual([a["type"] for a in answers], ["response.done"] * 4 + ["error"])
        error = answers[-1]["error"]
        self.assertEqual(error["type"], "invalid_request_error")
        self.assertEqual(error["code"], "budget_exceeded")
        self.assertEqual(error["event_id"], "ev_4")
        self.assertIn('budget "rt-session"', error["message"])
        self.assertEqual(code, 1008)
        self.assertLess(len(reason.encode()), 123)
        self.assertEqual(reason, "tollgate: budget 'rt-session' exhausted")
        # The refused response.create never reached the provider.
        self.assertEqual(len(self.h.realtime.sent("fit", "response.create")), 4)
        hs = [x for x in self.h.realtime.handshakes if x["test_id"] == "fit"][0]
        self.assertNotIn("sec-websocket-extensions", hs["headers"])
        self.assertEqual(hs["extensions"], [])
        # The ledger is what the provider billed, which stayed within the limit.
        charged = self.charged("fit")
        self.assertEqual(charged, 4 * PER_RESPONSE)
        self.assertLessEqual(charged, 6000)
        self.assertEqual(self.session_spent("rt-session", session), charged)
        # warn_client: 50 % of 0.006 was crossed by the third response's 3252.
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["budget"], "rt-session")
        self.assertEqual(warnings[0]["percent"], 50)
        self.assertEqual(warnings[0]["spent"], "0.003252")
        def realtime_lines():
            found = [json.loads(l) for l in self.h.stdout_lines
                     if l.startswith("{") and '"mode":"realtime"' in l and session in l]
            return found if len(found) == 5 else None
        lines = wait_for(realtime_lines) or []
        self.assertEqual([l["outcome"] for l in lines], ["completed"] * 4 + ["refused"])
        self.assertEqual(sum(micros(l["cost"]) for l in lines), charged)

    def test_server_vad_responses_past_the_limit_are_cancelled_then_the_session_closed(self):
        rt = self.h.realtime
        rt.deltas, rt.delta_ms = 20, 25

        async def scenario():
            ws = await open_realtime(self.h, test_id="vad", headers={"x-client": "vad"}, via="base")
            session = ws.response_headers["x-tollgate-session"]
            await next_event(ws, {"session.created"})
            update = json.loads(json.dumps(MAX_100))
            update["session"]["audio"] = {"input": {"turn_detection": {"type": "server_vad"}}}
            await ws.send(json.dumps(update))
            await next_event(ws, {"session.updated"})
            seen = []
            for _ in range(2):  # two turns of speech: the server answers each by itself
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}))
                await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
                while True:
                    event = await next_event(ws)
                    seen.append((event["type"], (event.get("response") or {}).get("status")))
                    if event["type"] in ("response.done", "error"):
                        break
            error = await next_event(ws)
            with self.assertRaises(websockets.ConnectionClosed):
                await ws.recv()
            return session, seen, error, ws.close_code, ws.close_reason

        try:
            session, seen, error, code, reason = self.run_async(scenario())
        finally:
            rt.deltas, rt.delta_ms = 4, 10
        dones = [s for s in seen if s[0] == "response.done"]
        # 0.003 USD: the first (2000 held, 1084 billed) fits, the second (2566 more) does not.
        self.assertEqual(dones, [("response.done", "completed"), ("response.done", "cancelled")])
        self.assertEqual(error["type"], "error")
        self.assertEqual(error["error"]["code"], "budget_exceeded")
        self.assertEqual(code, 1008)
        self.assertTrue(reason.startswith("tollgate: budget 'rt-vad'"), reason)
        cancels = rt.sent("vad", "response.cancel")
        self.assertEqual([c.get("response_id") for c in cancels], ["resp_2"])
        charged = self.charged("vad")
        self.assertGreater(charged, PER_RESPONSE)      # the cancelled one was billed too
        self.assertLess(charged, 2 * PER_RESPONSE)     # but less than a whole response
        self.assertEqual(self.session_spent("rt-vad", session), charged)

    def test_a_spent_budget_answers_the_handshake_with_the_providers_429(self):
        sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=10)
        sock.sendall(b"GET /openai/v1/realtime?model=gpt-realtime-mini HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     b"Authorization: Bearer sk-rt\r\nx-client: broke\r\nx-test-id: broke\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 429"), head)
        self.assertIn(b"x-tollgate-refused: budget", head.lower())
        self.assertEqual(json.loads(body)["error"]["code"], "budget_exceeded")
        self.assertFalse([x for x in self.h.realtime.handshakes if x["test_id"] == "broke"])

    def test_the_subprotocol_key_is_the_same_credential_as_authorization(self):
        async def scenario():
            browser = await open_realtime(
                self.h, test_id="key-sub", headers={"x-client": "key"},
                subprotocols=["realtime", "openai-insecure-api-key.sk-sub-1"])
            await next_event(browser, {"session.created"})
            await browser.send(json.dumps(MAX_100))
            await respond(browser)
            protocol = browser.subprotocol
            await browser.close()
            server = await open_realtime(self.h, test_id="key-auth", headers={"x-client": "key"},
                                         key="sk-sub-1")
            await next_event(server, {"session.created"})
            await server.send(json.dumps(MAX_100))
            await respond(server)
            await server.close()
            return protocol

        protocol = self.run_async(scenario())
        self.assertEqual(protocol, "realtime")  # the provider's choice, echoed
        key_id = subprocess.run([tollgate_bin(), "key-id", "sk-sub-1"], capture_output=True,
                                text=True, check=True).stdout.strip()
        inst = self.h.settled("rt-key", key_id)
        self.assertIsNotNone(inst)
        self.assertEqual(micros(inst["spent"]), self.charged("key-sub") + self.charged("key-auth"))
        self.assertEqual(micros(inst["spent"]), 2 * PER_RESPONSE)
        hs = [x for x in self.h.realtime.handshakes if x["test_id"] == "key-sub"][0]
        self.assertIn("openai-insecure-api-key.sk-sub-1", hs["headers"]["sec-websocket-protocol"])
        time.sleep(0.3)  # the log is written in batches
        self.assertFalse([l for l in self.h.stdout_lines if "sk-sub-1" in l])

    def test_a_client_that_vanishes_mid_response_is_settled_from_the_providers_usage(self):
        rt = self.h.realtime
        rt.deltas, rt.delta_ms = 20, 25

        async def scenario():
            ws = await open_realtime(self.h, test_id="gone", headers={"x-client": "gone"})
            session = ws.response_headers["x-tollgate-session"]
            await next_event(ws, {"session.created"})
            await ws.send(json.dumps(MAX_100))
            await ws.send(json.dumps({"type": "response.create"}))
            await next_event(ws, {"response.output_audio.delta"})
            ws.transport.abort()  # no Close frame: the TCP connection just ends
            return session

        try:
            session = self.run_async(scenario())
            inst = self.h.settled("rt-session", session, timeout=10)
        finally:
            rt.deltas, rt.delta_ms = 4, 10
        self.assertIsNotNone(inst, "a hold outlived its session")
        self.assertEqual([c.get("response_id") for c in rt.sent("gone", "response.cancel")],
                         ["resp_1"])
        charged = self.charged("gone")
        self.assertGreater(charged, 0)
        self.assertEqual(micros(inst["spent"]), charged)
        self.assertEqual(wait_for(lambda: rt.closes.get("gone")), (1001, "client went away"))

    def test_24_concurrent_sessions_are_metered_apart(self):
        async def one(i):
            ws = await open_realtime(self.h, test_id="crowd-%d" % i, headers={"x-client": "crowd"},
                                     via="proxy" if i % 2 else "base")
            session = ws.response_headers["x-tollgate-session"]
            await next_event(ws, {"session.created"})
            await ws.send(json.dumps(MAX_100))
            answers = []
            while not answers or answers[-1] != "error":
                event, _ = await respond(ws)
                answers.append(event["type"])
            with self.assertRaises(websockets.ConnectionClosed):
                await ws.recv()
            return session, answers

        async def crowd():
            return await asyncio.gather(*(one(i) for i in range(24)))

        results = self.run_async(crowd(), timeout=120)
        sessions = [s for s, _ in results]
        self.assertEqual(len(set(sessions)), 24)
        for i, (session, answers) in enumerate(results):
            self.assertEqual(answers, ["response.done"] * 4 + ["error"], "session %d" % i)
            charged = self.charged("crowd-%d" % i)
            self.assertEqual(charged, 4 * PER_RESPONSE)
            self.assertEqual(self.session_spent("rt-session", session), charged)
        metrics = requests.get(self.h.admin_url + "/metrics", timeout=10).text
        self.assertTrue(wait_for(lambda: "tollgate_realtime_sessions 0" in requests.get(
            self.h.admin_url + "/metrics", timeout=10).text))
        self.assertIn('tollgate_realtime_responses_total{model="gpt-realtime-mini",outcome='
                      '"completed",provider="openai"}', metrics)

    def test_gemini_live_turns_are_settled_once_from_their_usage(self):
        async def scenario():
            ws = await open_realtime(
                self.h, test_id="live", headers={"x-client": "live"}, key=None, via="base",
                host="generativelanguage.googleapis.com",
                path="/ws/google.ai.generativelanguage.v1beta.GenerativeService."
                     "BidiGenerateContent?key=AIza-live")
            session = ws.response_headers["x-tollgate-session"]
            await ws.send(json.dumps({"setup": {
                "model": "models/gemini-2.5-flash-native-audio-preview-09-2025",
                "generationConfig": {"maxOutputTokens": 1000, "responseModalities": ["AUDIO"]}}}))
            self.assertIn("setupComplete", json.loads(await ws.recv()))
            for _ in range(2):
                await ws.send(json.dumps({"clientContent": {
                    "turns": [{"role": "user", "parts": [{"text": "hello"}]}],
                    "turnComplete": True}}))
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if (message.get("serverContent") or {}).get("turnComplete"):
                        break
            await ws.close()
            return session

        session = self.run_async(scenario())
        charged = self.charged("live")
        # 100 text in at 0.50 and 50 text out at 2.50, 50 audio out at 12: two turns.
        self.assertEqual(charged, 2 * (50 + 25 + 600))
        self.assertEqual(self.session_spent("rt-live", session), charged)


class RealtimeDurationTest(RealtimeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = start_with_realtime("""
providers:
  openai:
    endpoints:
      - { name: realtime, max_duration: 2s }
budgets:
  - { name: rt-session, currency: usd, limit: 1, per: session, period: total }
""", store="memory")

    def test_max_duration_cancels_and_settles_the_response_in_flight_then_closes(self):
        rt = self.h.realtime
        rt.deltas, rt.delta_ms = 200, 25  # a response of five seconds

        async def scenario():
            # Before the handshake: tollgate's clock starts when it accepts the session, which on
            # a loaded machine may be well before the handshake returns here.
            started = time.monotonic()
            ws = await open_realtime(self.h, test_id="long")
            session = ws.response_headers["x-tollgate-session"]
            await next_event(ws, {"session.created"})
            await ws.send(json.dumps(MAX_100))
            await ws.send(json.dumps({"type": "response.create"}))
            types = []
            try:
                while True:
                    event = await next_event(ws, timeout=10)
                    types.append(event["type"])
                    if event["type"] == "error":
                        last_error = event
            except websockets.ConnectionClosed:
                pass
            return session, time.monotonic() - started, types, last_error, ws.close_code, ws.close_reason

        try:
            session, elapsed, types, error, code, reason = self.run_async(scenario())
        finally:
            rt.deltas, rt.delta_ms = 4, 10
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertLess(elapsed, 4.5)  # the response alone would take five seconds
        self.assertEqual(code, 1008)
        self.assertEqual(reason, "tollgate: the session reached its max_duration of 2s")
        self.assertEqual(error["error"]["code"], "session_expired")
        self.assertLess(types.index("response.done"), types.index("error"))
        self.assertEqual(len(rt.sent("long", "response.cancel")), 1)
        charged = self.charged("long")
        self.assertGreater(charged, 0)
        self.assertEqual(self.session_spent("rt-session", session), charged)

    def test_an_idle_session_closes_on_time_too(self):
        async def scenario():
            started = time.monotonic()  # before the handshake, as above
            ws = await open_realtime(self.h, test_id="idle", via="base")
            with self.assertRaises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            return time.monotonic() - started, ws.close_code

        elapsed, code = self.run_async(scenario())
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertLess(elapsed, 4.5)
        self.assertEqual(code, 1008)


if __name__ == "__main__":
    unittest.main()
