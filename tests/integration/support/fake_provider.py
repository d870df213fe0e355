"""Stand-ins for the paid APIs, served over TLS on loopback with a test CA.

Speaks just enough of each provider for tollgate's tests: OpenAI chat (JSON and SSE, with the
include_usage final chunk when asked), Anthropic messages (JSON and SSE), Gemini generateContent and
streamGenerateContent (?alt=sse), Keepa (gzip JSON with tokensLeft), a
slow endpoint and a header echo. Usage is configurable per request with the header
`x-fake-usage: <input>,<output>`; every request is logged and the usage returned is summed in
`charged`, so budget tests can compare tollgate's ledger with what the provider "billed".

Billing: `charged["usd_micros"]` adds, per answered chat or message, what the provider bills for
the usage it reports at the prices in `FakeState.prices` (USD per 1M tokens, rounded up to the
micro-USD per request), independently of tollgate's own pricing code. Keepa keeps a token bucket
(`FakeState.keepa_*`): it starts at `keepa_start`, refills `keepa_refill_per_minute` and every
call takes its cost; `tokensLeft` reports what is left, like the real API.
`x-fake-delay-ms` delays a chat answer (the request is logged and billed when it is answered).

Paid extras (issue 14), billed at `FakeState.extras` (USD per call, per grounded prompt or query,
per second of video by model and size) on top of the tokens:
- `/v1/responses` answers the output items `x-fake-output` lists ("web_search_call,message");
- Anthropic messages report `x-fake-web-searches` searches in usage.server_tool_use, and
  `x-fake-cache-1h` (and `x-fake-cache-5m`) cache-write tokens in usage.cache_creation;
- Gemini answers carry groundingMetadata with the queries of `x-fake-grounding` ("a|b");
- `/v1/videos` (JSON or multipart, as the SDKs send it) answers a video job of the seconds and size
  asked (or `x-fake-seconds`), billed per second; `/v1/files`, `/v1/batches` and
  `/v1/messages/batches` answer as the APIs do (a batch is billed later, so never here);
- `x-fake-model` replaces the model an answer names (the dated name a provider bills): chat (JSON
  and SSE), responses, Anthropic messages (JSON and SSE) and Gemini's modelVersion;
- chat (JSON and every SSE chunk) and responses answers name the `service_tier` they were
  processed in, as OpenAI's do: the request's "flex" or "priority", else "default" (what "auto"
  gets on a project without a default tier), or `x-fake-service-tier` when sent.

Cache reads and reasoning, reported as each provider reports them (billing stays tokens only):
`x-fake-cached: N` cached prompt tokens (OpenAI prompt_tokens_details / input_tokens_details and
Gemini cachedContentTokenCount, both part of the prompt count; Anthropic cache_read_input_tokens,
apart from input_tokens); `x-fake-reasoning: N` reasoning tokens (OpenAI's
completion_tokens_details / output_tokens_details, part of the output count; Gemini's
thoughtsTokenCount, apart from candidatesTokenCount).
"""
import email.parser
import email.policy
import math
import gzip
import http.server
import json
import ssl
import threading
import time


class FakeState:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # dicts: method, path, headers, body
        self.charged = {"input_tokens": 0, "output_tokens": 0, "keepa_tokens": 0, "usd_micros": 0}
        self.billed = []  # (x-req-id, micro-USD) per billed request
        # USD per 1M tokens (input, output): the provider's price list.
        self.prices = {"gpt-4o-mini": (0.15, 0.60), "claude-sonnet-4-5": (3.0, 15.0),
                       "gemini-2.0-flash": (0.10, 0.40), "gpt-4o": (2.50, 10.0),
                       "gpt-5-mini": (0.25, 2.0), "gemini-2.5-flash": (0.30, 2.50),
                       "gemini-3-flash-preview": (0.50, 3.0)}
        # USD per 1M cache-write tokens (5-minute, 1-hour) and per extra.
        self.cache_prices = {"claude-sonnet-4-5": (3.75, 6.0)}
        self.extras = {"web_search_call": 0.01, "anthropic_web_search": 0.01,
                       "grounded_prompt": 0.035, "grounded_query": 0.014,
                       "video": {("sora-2", None): 0.10, ("sora-2-pro", None): 0.30,
                                 ("sora-2-pro", "1024x1792"): 0.50,
                                 ("sora-2-pro", "1792x1024"): 0.50}}
        self.files = {}  # id -> (purpose, bytes)
        self.keepa_start = 1000
        self.keepa_refill_per_minute = 5
        self.keepa_t0 = time.monotonic()

    def keepa_reset(self, start, refill_per_minute):
        with self.lock:
            self.keepa_start = start
            self.keepa_refill_per_minute = refill_per_minute
            self.keepa_t0 = time.monotonic()
            self.charged["keepa_tokens"] = 0

    def keepa_left(self):
        minutes = (time.monotonic() - self.keepa_t0) / 60
        return self.keepa_start + self.keepa_refill_per_minute * minutes - self.charged["keepa_tokens"]

    def bill(self, req_id, model, inp, out):
        """What the provider charges for one answer, in micro-USD (rounded up per request)."""
        price_in, price_out = self.prices.get(model, (0.0, 0.0))
        # Prices are per 1M tokens: tokens * price USD / 1e6 = tokens * price micro-USD.
        micros = math.ceil(round(inp * price_in + out * price_out, 6))
        with self.lock:
            self.charged["usd_micros"] += micros
            self.billed.append((req_id, micros))
        return micros

    def bill_extra(self, req_id, usd):
        """An extra (tool calls, video seconds) on top of a billed answer, in micro-USD."""
        micros = math.ceil(round(usd * 1_000_000, 6))
        with self.lock:
            self.charged["usd_micros"] += micros
            self.billed.append((req_id, micros))
        return micros

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def charge(self, key, amount):
        with self.lock:
            self.charged[key] += amount


def _form(content_type, body):
    """{name: bytes} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    out = {}
    for part in message.iter_parts():
        out[part.get_param("name", header="content-disposition")] = part.get_payload(decode=True)
    return out


def _request_fields(headers, body):
    """The fields of a JSON or multipart request body, as text."""
    content_type = headers.get("content-type") or ""
    if content_type.startswith("multipart/form-data"):
        return {k: v.decode() if k != "file" else v for k, v in _form(content_type, body).items()}
    return json.loads(body or b"{}")


def _count(headers, name):
    return int(headers.get(name) or 0)


def _usage(headers, default=(10, 5)):
    value = headers.get("x-fake-usage")
    if not value:
        return default
    a, b = value.split(",")
    return int(a), int(b)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider"
    state = None  # set per server

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", extra=None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self._fake_headers()
        self.end_headers()
        self.wfile.write(body)

    def _fake_headers(self):
        # x-fake-header: "name: value" comes back as a response field (e.g. a CORS policy of the
        # provider's own, or a request id).
        for field in self.headers.get_all("x-fake-header") or []:
            name, _, value = field.partition(":")
            self.send_header(name.strip(), value.strip())

    def _json(self, status, obj, extra=None):
        self._send(status, json.dumps(obj).encode(), extra=extra)

    def _dispatch(self):
        body = self._body()
        path, _, query = self.path.partition("?")
        self.state.record({"method": self.command, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": body})
        if self.headers.get("x-fake-status"):  # a failed request: an error body, no usage
            return self._json(int(self.headers["x-fake-status"]),
                              {"error": {"message": "fake failure", "type": "server_error"}})
        if path == "/v1/chat/completions":
            return self._chat(body)
        if path == "/v1/responses":
            return self._responses(body)
        if path == "/v1/videos":
            return self._video(body)
        if path == "/v1/files":
            return self._file(body)
        if path == "/v1/batches":
            req = json.loads(body or b"{}")
            return self._json(200, {"id": "batch_1", "object": "batch", "status": "validating",
                                    "input_file_id": req.get("input_file_id")})
        if path == "/v1/messages/batches":
            return self._json(200, {"id": "msgbatch_1", "type": "message_batch",
                                    "processing_status": "in_progress"})
        if path.startswith("/v1beta/models/") and ":" in path:
            return self._gemini(path, body)
        if path == "/v1/messages" and json.loads(body or b"{}").get("stream"):
            return self._anthropic_stream(body)
        if path == "/v1/messages":
            inp, out = _usage(self.headers)
            self.state.charge("input_tokens", inp)
            self.state.charge("output_tokens", out)
            model = json.loads(body or b"{}").get("model", "")
            self.state.bill(self.headers.get("x-req-id"), model, inp, out)
            return self._json(200, {"id": "msg_1", "type": "message", "role": "assistant",
                                    "model": self.headers.get("x-fake-model") or model, "content": [{"type": "text", "text": "hi"}],
                                    "usage": self._anthropic_usage(model, inp, out)})
        if path in ("/product", "/bestsellers", "/token"):
            return self._keepa(path, query)
        if path == "/slow":
            ms = int(dict(p.split("=") for p in query.split("&") if "=" in p).get("ms", "1000"))
            time.sleep(ms / 1000)
            return self._json(200, {"slept_ms": ms})
        if path == "/echo":
            return self._json(200, {"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body.decode("latin-1")})
        return self._json(404, {"error": {"message": "no such path " + path}})

    def _service_tier(self, req):
        asked = req.get("service_tier")
        return self.headers.get("x-fake-service-tier") or (asked if asked in ("flex", "priority") else "default")

    def _chat(self, body):
        req = json.loads(body or b"{}")
        tier = self._service_tier(req)
        inp, out = _usage(self.headers)
        model = req.get("model", "gpt-4o-mini")
        req_id = self.headers.get("x-req-id")
        if not req.get("stream"):
            delay = int(self.headers.get("x-fake-delay-ms") or 0)
            if delay:
                time.sleep(delay / 1000)
            self.state.charge("input_tokens", inp)
            self.state.charge("output_tokens", out)
            self.state.bill(req_id, model, inp, out)
            return self._json(200, {
                "id": "chatcmpl-1", "object": "chat.completion",
                "model": self.headers.get("x-fake-model") or req.get("model", "gpt-4o-mini"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                             "finish_reason": "stop"}],
                "usage": self._chat_usage(inp, out), "service_tier": tier})
        spacing = int(self.headers.get("x-fake-spacing-ms") or 0) / 1000
        events = int(self.headers.get("x-fake-events") or 3)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self._fake_headers()
        self.end_headers()
        answered = self.headers.get("x-fake-model") or model

        def chunk(data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        for i in range(events):
            if i:
                time.sleep(spacing)
            event = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": answered,
                     "service_tier": tier,
                     "choices": [{"index": 0, "delta": {"content": "tok%d" % i}, "finish_reason": None}]}
            chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
        if (req.get("stream_options") or {}).get("include_usage"):
            self.state.charge("input_tokens", inp)
            self.state.charge("output_tokens", out)
            self.state.bill(req_id, model, inp, out)
            final = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": answered,
                     "service_tier": tier, "choices": [], "usage": self._chat_usage(inp, out)}
            chunk(b"data: " + json.dumps(final).encode() + b"\n\n")
        chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chat_usage(self, inp, out):
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        cached, reasoning = _count(self.headers, "x-fake-cached"), _count(self.headers, "x-fake-reasoning")
        if cached:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return usage

    def _sse_start(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self._fake_headers()
        self.end_headers()

    def _sse_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse_end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _anthropic_usage(self, model, inp, out):
        """usage of an Anthropic answer, with the cache writes and searches the headers ask for
        (billed here on top of the tokens)."""
        usage = {"input_tokens": inp, "output_tokens": out}
        req_id = self.headers.get("x-req-id")
        if _count(self.headers, "x-fake-cached"):
            usage.update({"cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": _count(self.headers, "x-fake-cached")})
        five, hour = int(self.headers.get("x-fake-cache-5m") or 0), int(self.headers.get("x-fake-cache-1h") or 0)
        if five or hour:
            usage.update({"cache_creation_input_tokens": five + hour,
                          "cache_read_input_tokens": _count(self.headers, "x-fake-cached"),
                          "cache_creation": {"ephemeral_5m_input_tokens": five,
                                             "ephemeral_1h_input_tokens": hour}})
            price_5m, price_1h = self.state.cache_prices.get(model, (0.0, 0.0))
            self.state.bill_extra(req_id, (five * price_5m + hour * price_1h) / 1e6)
        searches = int(self.headers.get("x-fake-web-searches") or 0)
        if searches:
            usage["server_tool_use"] = {"web_search_requests": searches}
            self.state.bill_extra(req_id, searches * self.state.extras["anthropic_web_search"])
        return usage

    def _anthropic_stream(self, body):
        inp, out = _usage(self.headers)
        model = json.loads(body).get("model", "")
        self.state.charge("input_tokens", inp)
        self.state.charge("output_tokens", out)
        self.state.bill(self.headers.get("x-req-id"), model, inp, out)
        usage = self._anthropic_usage(model, inp, out)
        start_usage = dict(usage, output_tokens=1)
        start_usage.pop("server_tool_use", None)
        delta_usage = {"output_tokens": out}
        if "server_tool_use" in usage:
            delta_usage["server_tool_use"] = usage["server_tool_use"]
        self._sse_start()
        events = [
            ("message_start", {"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant",
                "model": self.headers.get("x-fake-model") or model, "content": [],
                "stop_reason": None, "usage": start_usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "hi"}}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": delta_usage}),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            self._sse_chunk(b"event: %s\ndata: %s\n\n" % (name.encode(), json.dumps(data).encode()))
        self._sse_end()

    def _gemini(self, path, body):
        model, _, method = path[len("/v1beta/models/"):].partition(":")
        inp, out = _usage(self.headers)
        self.state.charge("input_tokens", inp)
        self.state.charge("output_tokens", out)
        self.state.bill(self.headers.get("x-req-id"), model, inp, out)
        usage = {"promptTokenCount": inp, "candidatesTokenCount": out, "totalTokenCount": inp + out}
        if _count(self.headers, "x-fake-cached"):
            usage["cachedContentTokenCount"] = _count(self.headers, "x-fake-cached")
        if _count(self.headers, "x-fake-reasoning"):
            usage["thoughtsTokenCount"] = _count(self.headers, "x-fake-reasoning")
            usage["totalTokenCount"] += usage["thoughtsTokenCount"]
        answered = self.headers.get("x-fake-model") or model
        queries = [q for q in (self.headers.get("x-fake-grounding") or "").split("|") if q]
        grounding = {"groundingMetadata": {"webSearchQueries": queries}} if queries else {}
        if queries:  # Gemini 3 bills each query, earlier models each grounded prompt
            self.state.bill_extra(self.headers.get("x-req-id"),
                                  len(queries) * self.state.extras["grounded_query"]
                                  if model.startswith("gemini-3") else
                                  self.state.extras["grounded_prompt"])
        if method == "generateContent":
            return self._json(200, {"candidates": [dict({"content": {"role": "model", "parts": [{"text": "hi"}]},
                                                         "finishReason": "STOP", "index": 0}, **grounding)],
                                    "usageMetadata": usage, "modelVersion": answered})
        self._sse_start()
        for i, finish in ((0, None), (1, "STOP")):
            cand = {"content": {"role": "model", "parts": [{"text": "tok%d" % i}]}, "index": 0}
            if finish:
                cand["finishReason"] = finish
                cand.update(grounding)
            chunk = {"candidates": [cand], "usageMetadata": usage if finish else {"promptTokenCount": inp},
                     "modelVersion": answered}
            self._sse_chunk(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
        self._sse_end()

    def _responses(self, body):
        req = json.loads(body or b"{}")
        inp, out = _usage(self.headers)
        model = req.get("model", "gpt-5-mini")
        req_id = self.headers.get("x-req-id")
        self.state.bill(req_id, model, inp, out)
        items = [t for t in (self.headers.get("x-fake-output") or "message").split(",") if t]
        calls = sum(1 for t in items if t == "web_search_call")
        if calls:
            self.state.bill_extra(req_id, calls * self.state.extras["web_search_call"])
        return self._json(200, {"id": "resp_1", "object": "response",
                                "model": self.headers.get("x-fake-model") or model,
                                "service_tier": self._service_tier(req),
                                "output": [dict({"type": t, "id": "item_%d" % i}, **(
                                    {"role": "assistant", "content": [
                                        {"type": "output_text", "text": "hello", "annotations": []}]}
                                    if t == "message" else {})) for i, t in enumerate(items)],
                                "usage": {"input_tokens": inp, "output_tokens": out,
                                          "input_tokens_details": {
                                              "cached_tokens": _count(self.headers, "x-fake-cached")},
                                          "output_tokens_details": {
                                              "reasoning_tokens": _count(self.headers, "x-fake-reasoning")}}})

    def _video(self, body):
        fields = _request_fields(self.headers, body)
        model = fields.get("model") or "sora-2"
        seconds = int(self.headers.get("x-fake-seconds") or fields.get("seconds") or 4)
        size = fields.get("size") or "720x1280"
        prices = self.state.extras["video"]
        rate = prices.get((model, size), prices.get((model, None), 0.0))
        self.state.bill_extra(self.headers.get("x-req-id"), seconds * rate)
        return self._json(200, {"id": "video_1", "object": "video", "model": model,
                                "status": "queued", "progress": 0, "seconds": str(seconds),
                                "size": size})

    def _file(self, body):
        fields = _form(self.headers.get("content-type") or "", body)
        purpose = (fields.get("purpose") or b"").decode()
        with self.state.lock:
            file_id = "file-%d" % (len(self.state.files) + 1)
            self.state.files[file_id] = (purpose, fields.get("file") or b"")
        return self._json(200, {"id": file_id, "object": "file", "purpose": purpose,
                                "bytes": len(fields.get("file") or b"")})

    def _keepa(self, path, query):
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        asins = [a for a in params.get("asin", "").split(",") if a]
        consumed = {"/product": max(1, len(asins)), "/bestsellers": 50, "/token": 0}[path]
        with self.state.lock:
            if self.state.keepa_left() < consumed:  # Keepa answers 429 and charges nothing
                return self._json(429, {"error": {"message": "not enough tokens"},
                                        "tokensLeft": int(self.state.keepa_left()),
                                        "refillRate": self.state.keepa_refill_per_minute})
            self.state.charged["keepa_tokens"] += consumed
            left = int(self.state.keepa_left())
        payload = {"products": [{"asin": a} for a in asins], "tokensLeft": left,
                   "tokensConsumed": consumed, "refillRate": self.state.keepa_refill_per_minute}
        self._send(200, gzip.compress(json.dumps(payload).encode()),
                   extra={"content-encoding": "gzip", "tokens-left": str(left)})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class _QuietServer(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # the tests open 100 connections at once
    tls = None

    def finish_request(self, request, client_address):
        # The handshake runs on the connection's own thread, not in accept(): 100 clients at once
        # must not queue behind one another's handshakes.
        if not self.tls:
            return super().finish_request(request, client_address)
        request.settimeout(30)
        with self.tls.wrap_socket(request, server_side=True) as tls:
            super().finish_request(tls, client_address)

    def handle_error(self, request, client_address):
        pass  # a client (tollgate) that went away mid-answer is part of several tests


class FakeProvider:
    """A threaded HTTP/1.1 server on 127.0.0.1:<port>; TLS when cert and key are given."""

    def __init__(self, cert=None, key=None):
        self.state = FakeState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.tls = ctx
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.state.requests

    @property
    def charged(self):
        return self.state.charged

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
