"""SIGTERM drain with a mix of connections: a streamed answer in flight runs to its end, idle
keep-alive connections (intercepted and plain) are closed at once instead of holding the exit
up to the drain bound, and the process exits 0."""
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402

EVENTS = 5
SPACING_MS = 300


class DrainTest(HarnessTestCase):
    def setUp(self):
        type(self).h = Harness()

    def test_sigterm_finishes_a_stream_and_closes_idle_connections(self):
        h = self.h
        # An intercepted connection that served one request and now waits for the next.
        idle_tls = tls_through(h.port, "api.openai.com", h.ca_bundle)
        idle_tls.sendall(request("GET", "/echo", "api.openai.com"))
        self.assertEqual(Reader(idle_tls).read_response().status, 200)
        # A plain connection that never sent a byte.
        idle_plain = socket.create_connection(("127.0.0.1", h.port), timeout=10)

        first_event = threading.Event()
        result = {}

        def stream():
            with tls_through(h.port, "api.openai.com", h.ca_bundle, timeout=20) as tls:
                body = json.dumps({"model": "gpt-4o-mini", "stream": True, "max_tokens": 10,
                                   "messages": [{"role": "user", "content": "hi"}]}).encode()
                tls.sendall(request("POST", "/v1/chat/completions", "api.openai.com", body, {
                    "Content-Type": "application/json", "x-fake-events": str(EVENTS),
                    "x-fake-spacing-ms": str(SPACING_MS)}))
                reader = Reader(tls)
                reader.wait_for(b"data: ")
                first_event.set()
                res = reader.read_response()
                result["status"] = res.status
                result["events"] = [l for l in res.body.split(b"\n") if l.startswith(b"data: ")]
                result["after"] = reader.drain(5)  # tollgate closes once the exchange is over

        t = threading.Thread(target=stream)
        t.start()
        self.assertTrue(first_event.wait(20), h.logs())
        sent = time.monotonic()
        h.proc.send_signal(signal.SIGTERM)

        idle_tls.settimeout(5)
        self.assertEqual(idle_tls.recv(100), b"")  # close_notify: closed by the drain
        idle_plain.settimeout(5)
        self.assertEqual(idle_plain.recv(100), b"")
        closed_idle = time.monotonic() - sent
        idle_tls.close()
        idle_plain.close()

        self.assertEqual(h.proc.wait(20), 0)
        exited = time.monotonic() - sent
        t.join(20)
        self.assertEqual(result["status"], 200)
        self.assertEqual(len(result["events"]), EVENTS + 1, result)  # every event, then [DONE]
        self.assertEqual(result["events"][-1], b"data: [DONE]")
        self.assertEqual(result["after"], b"")
        # The idle ones went at once; the exit waited for the stream (about 1.2 s), not for the
        # 10 s drain bound.
        self.assertLess(closed_idle, 1.0)
        self.assertLess(exited, 5.0)


if __name__ == "__main__":
    unittest.main()
