"""A stand-in for the realtime WebSocket APIs, served over TLS on loopback with the test CA.

OpenAI Realtime, GA protocol (wss://api.openai.com/v1/realtime?model=M), as the openai SDKs see it:
session.created on connect; session.update -> session.updated; conversation.item.create ->
conversation.item.added; input_audio_buffer.append / commit (-> input_audio_buffer.committed, and
with server VAD (session.audio.input.turn_detection) a response the server starts by itself);
response.create -> response.created, `deltas` response.output_audio.delta events `delta_ms` apart,
then response.done with usage; response.cancel ends the running response early, status
"cancelled", its output usage cut to the deltas sent. An `error` event answers what it cannot do.

Gemini Live (/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent): setup
-> setupComplete; clientContent with turnComplete -> modelTurn chunks (binary frames of JSON), then
the usageMetadata of the turn sent twice (the second a repeat, as some servers send cumulative
snapshots), the last with turnComplete.

Billing, independent of tollgate's code: every response.done (and Live turn) is billed at
`prices` (USD per 1M tokens, per modality; cached tokens are a subset of input) rounded up to the
micro-USD per response, into `charged[connection]` where the connection is named by its
`x-test-id` header. Usage per response: `usage` (a dict of the counts below), or per connection
from the `x-fake-usage` header (JSON). The handshake needs a key: `Authorization: Bearer K` or the
subprotocol `openai-insecure-api-key.K` (else 401); `realtime` is echoed when offered.
"""
import asyncio
import base64
import json
import math
import ssl
import threading
from decimal import Decimal

import websockets

# USD per 1M tokens: text in, cached text in, text out, audio in, cached audio in, audio out.
PRICES = {
    "gpt-realtime": (4.00, 0.40, 16.00, 32.00, 0.40, 64.00),
    "gpt-realtime-mini": (0.60, 0.06, 2.40, 10.00, 0.30, 20.00),
    "gemini-2.5-flash-native-audio-preview-09-2025": (0.50, 0.50, 2.50, 3.00, 3.00, 12.00),
}

DEFAULT_USAGE = {"text_in": 100, "audio_in": 0, "cached_text": 0, "cached_audio": 0,
                 "text_out": 10, "audio_out": 50}


def bill(model, usage):
    """micro-USD for one response: (in - cached) at the rate plus cached at the cached rate."""
    t, tc, to, a, ac, ao = (Decimal(str(p)) for p in PRICES[model])
    u = usage
    micro = ((u["text_in"] - u["cached_text"]) * t + u["cached_text"] * tc + u["text_out"] * to
             + (u["audio_in"] - u["cached_audio"]) * a + u["cached_audio"] * ac + u["audio_out"] * ao)
    return math.ceil(micro)


def openai_usage(u):
    return {
        "total_tokens": u["text_in"] + u["audio_in"] + u["text_out"] + u["audio_out"],
        "input_tokens": u["text_in"] + u["audio_in"],
        "output_tokens": u["text_out"] + u["audio_out"],
        "input_token_details": {
            "text_tokens": u["text_in"], "audio_tokens": u["audio_in"], "image_tokens": 0,
            "cached_tokens": u["cached_text"] + u["cached_audio"],
            "cached_tokens_details": {"text_tokens": u["cached_text"],
                                      "audio_tokens": u["cached_audio"], "image_tokens": 0}},
        "output_token_details": {"text_tokens": u["text_out"], "audio_tokens": u["audio_out"]},
    }


class FakeRealtime:
    def __init__(self, cert, key):
        self.lock = threading.Lock()
        self.handshakes = []   # dicts: path, headers (lower-case names), extensions, subprotocol
        self.events = {}       # test id -> [client events (dicts)]
        self.charged = {}      # test id -> micro-USD
        self.closes = {}       # test id -> (code, reason) the client side (tollgate) closed with
        self.usage = dict(DEFAULT_USAGE)
        self.deltas = 4
        self.delta_ms = 10
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    # --- the server --------------------------------------------------------------------------------
    def _run(self, started):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.server = await websockets.serve(
                self._serve, "127.0.0.1", 0, ssl=self.ctx, subprotocols=["realtime"],
                max_size=None, process_request=self._check, ping_interval=None)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
        self.loop.run_until_complete(main())
        self.loop.run_forever()

    async def _check(self, path, headers):
        auth = headers.get("Authorization", "")
        protocols = headers.get("Sec-WebSocket-Protocol", "")
        keyed = auth.startswith("Bearer ") or "openai-insecure-api-key." in protocols \
            or "key=" in path
        if not keyed:
            body = json.dumps({"error": {"message": "no key", "type": "invalid_request_error"}})
            return 401, [("Content-Type", "application/json")], body.encode()
        return None

    def stop(self):
        async def close():
            self.server.close()
            await self.server.wait_closed()
        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        except Exception:  # noqa: BLE001 - shutting down
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _serve(self, ws, path=None):
        path = ws.path
        headers = {k.lower(): v for k, v in ws.request_headers.raw_items()}
        test_id = headers.get("x-test-id", "")
        with self.lock:
            self.handshakes.append({"path": path, "headers": headers, "test_id": test_id,
                                    "extensions": [type(e).__name__ for e in ws.extensions],
                                    "subprotocol": ws.subprotocol})
            self.events.setdefault(test_id, [])
            self.charged.setdefault(test_id, 0)
        usage = dict(self.usage)
        if headers.get("x-fake-usage"):
            usage.update(json.loads(headers["x-fake-usage"]))
        try:
            if "BidiGenerateContent" in path:
                await _GeminiSession(self, ws, test_id, usage).run()
            else:
                await _OpenAISession(self, ws, test_id, usage, path).run()
        except websockets.ConnectionClosed:
            pass
        with self.lock:
            self.closes[test_id] = (ws.close_code, ws.close_reason)

    def record(self, test_id, event):
        with self.lock:
            self.events[test_id].append(event)

    def charge(self, test_id, micros):
        with self.lock:
            self.charged[test_id] += micros

    def sent(self, test_id, type_):
        with self.lock:
            return [e for e in self.events.get(test_id, []) if e.get("type") == type_]


class _OpenAISession:
    def __init__(self, fake, ws, test_id, usage, path):
        self.fake, self.ws, self.test_id, self.usage = fake, ws, test_id, usage
        query = dict(p.split("=", 1) for p in path.partition("?")[2].split("&") if "=" in p)
        self.model = query.get("model", "gpt-realtime")
        self.session = {"type": "realtime", "model": self.model, "output_modalities": ["audio"],
                        "max_output_tokens": "inf",
                        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                            "turn_detection": None}}}
        self.running = None  # (id, task, cancel event)
        self.count = 0
        self.seq = 0

    def event_id(self):
        self.seq += 1
        return "event_%d" % self.seq

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def run(self):
        await self.send({"type": "session.created", "event_id": self.event_id(),
                         "session": self.session})
        async for message in self.ws:
            event = json.loads(message)
            self.fake.record(self.test_id, event)
            kind = event.get("type")
            if kind == "session.update":
                self.session.update(event.get("session", {}))
                await self.send({"type": "session.updated", "event_id": self.event_id(),
                                 "session": self.session})
            elif kind == "conversation.item.create":
                await self.send({"type": "conversation.item.added", "event_id": self.event_id(),
                                 "item": event.get("item")})
            elif kind == "input_audio_buffer.commit":
                await self.send({"type": "input_audio_buffer.committed",
                                 "event_id": self.event_id(), "item_id": "item_%d" % self.seq})
                vad = ((self.session.get("audio") or {}).get("input") or {}).get("turn_detection")
                if vad and vad.get("create_response", True):
                    await self.start_response({})
            elif kind == "response.create":
                await self.start_response(event.get("response") or {})
            elif kind == "response.cancel":
                if self.running and event.get("response_id") in (None, self.running[0]):
                    self.running[2].set()
            elif kind == "input_audio_buffer.append":
                pass
        if self.running:
            self.running[2].set()
            await asyncio.gather(self.running[1], return_exceptions=True)

    async def start_response(self, params):
        if self.running and not self.running[1].done():
            await self.send({"type": "error", "event_id": self.event_id(), "error": {
                "type": "invalid_request_error", "code": "conversation_already_has_active_response",
                "message": "a response is in progress", "param": None}})
            return
        self.count += 1
        rid = "resp_%d" % self.count
        cancel = asyncio.Event()
        task = asyncio.ensure_future(self.respond(rid, params, cancel))
        self.running = (rid, task, cancel)

    async def respond(self, rid, params, cancel):
        await self.send({"type": "response.created", "event_id": self.event_id(), "response": {
            "object": "realtime.response", "id": rid, "status": "in_progress", "output": [],
            "output_modalities": params.get("output_modalities", ["audio"]),
            "max_output_tokens": params.get("max_output_tokens", "inf"), "usage": None}})
        sent = 0
        status = "completed"
        for _ in range(self.fake.deltas):
            if cancel.is_set():
                status = "cancelled"
                break
            await asyncio.sleep(self.fake.delta_ms / 1000)
            await self.send({"type": "response.output_audio.delta", "event_id": self.event_id(),
                             "response_id": rid, "item_id": "item_" + rid, "output_index": 0,
                             "content_index": 0,
                             "delta": base64.b64encode(b"\x00\x01" * 2400).decode()})
            sent += 1
        if cancel.is_set() and sent < self.fake.deltas:
            status = "cancelled"
        usage = dict(self.usage)
        if status == "cancelled":  # output billed as far as it was generated
            usage["audio_out"] = usage["audio_out"] * sent // max(1, self.fake.deltas)
            usage["text_out"] = usage["text_out"] * sent // max(1, self.fake.deltas)
        self.fake.charge(self.test_id, bill(self.model, usage))
        await self.send({"type": "response.done", "event_id": self.event_id(), "response": {
            "object": "realtime.response", "id": rid, "status": status,
            "status_details": {"type": status, "reason": "client_cancelled"} if status == "cancelled" else None,
            "output": [], "usage": openai_usage(usage)}})


class _GeminiSession:
    def __init__(self, fake, ws, test_id, usage):
        self.fake, self.ws, self.test_id, self.usage = fake, ws, test_id, usage
        self.model = None

    async def send(self, obj):
        await self.ws.send(json.dumps(obj).encode())  # binary frames, as Live sends them

    async def run(self):
        async for message in self.ws:
            event = json.loads(message)
            self.fake.record(self.test_id, event)
            if "setup" in event:
                self.model = event["setup"]["model"].split("/")[-1]
                await self.send({"setupComplete": {}})
            elif (event.get("clientContent") or {}).get("turnComplete"):
                await self.turn()

    async def turn(self):
        u = self.usage
        for _ in range(self.fake.deltas):
            await asyncio.sleep(self.fake.delta_ms / 1000)
            await self.send({"serverContent": {"modelTurn": {"parts": [{"inlineData": {
                "mimeType": "audio/pcm;rate=24000",
                "data": base64.b64encode(b"\x00" * 4800).decode()}}]}}})
        meta = {"promptTokenCount": u["text_in"] + u["audio_in"],
                "responseTokenCount": u["text_out"] + u["audio_out"],
                "totalTokenCount": u["text_in"] + u["audio_in"] + u["text_out"] + u["audio_out"],
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u["text_in"]},
                                        {"modality": "AUDIO", "tokenCount": u["audio_in"]}],
                "responseTokensDetails": [{"modality": "TEXT", "tokenCount": u["text_out"]},
                                          {"modality": "AUDIO", "tokenCount": u["audio_out"]}]}
        self.fake.charge(self.test_id, bill(self.model, u))
        await self.send({"serverContent": {"generationComplete": True}, "usageMetadata": meta})
        await self.send({"serverContent": {"turnComplete": True}, "usageMetadata": meta})
