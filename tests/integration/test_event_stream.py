"""GET /v1/events/stream and GET / against a live tollgate (issue 17): httpx, the client the OpenAI
and Anthropic SDKs use, reads the stream and sees a refusal made after it connected; a second
stream resumes after Last-Event-ID; the 17th stream is refused while 16 are open; the status page
is served with its security headers."""
import json
import os
import queue
import socket
import sys
import threading
import time
import unittest

import httpx
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase  # noqa: E402

RULES = """budgets:
  - { name: daily, currency: usd, limit: 0.01, period: day }
"""


class SseReader:
    """Reads one event stream on a thread: `frames` receives each event as a dict of its fields
    (comments dropped); `head` is set once the response headers are in."""

    def __init__(self, url, headers=None):
        self.frames = queue.Queue()
        self.head = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=60))
        self.closed = False
        self.sock = None
        self.thread = threading.Thread(target=self._run, args=(url, headers or {}), daemon=True)
        self.thread.start()
        self.response = self.head.get(timeout=10)

    def _run(self, url, headers):
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                self.sock = r.extensions["network_stream"].get_extra_info("socket")
                self.head.put(r)
                frame = {}
                for line in r.iter_lines():
                    line = line.rstrip("\r\n")  # httpx before 0.24 keeps the line break
                    if line == "":
                        if frame:
                            self.frames.put(frame)
                        frame = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        frame[name] = value[1:] if value.startswith(" ") else value
        except Exception as e:  # noqa: BLE001 - closing the client ends the read with an error
            if not self.closed:
                self.head.put(e)

    def next_event(self, timeout=5.0):
        """The next frame that is an event (the `retry:` frame is skipped), or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                frame = self.frames.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return None
            if "data" in frame:
                return frame
        return None

    def close(self):
        # shutdown, not close: it wakes the reading thread and sends FIN at once, which frees
        # the stream's slot in tollgate.
        self.closed = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        self.client.close()


class EventStreamTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(RULES, store="memory")

    def stream(self, path="/v1/events/stream", headers=None):
        reader = SseReader(self.h.admin_url + path, headers)
        self.addCleanup(reader.close)
        return reader

    def refuse(self):
        """A request over the budget through the proxy: 16,000 output tokens at 0.60/1M is 0.0096
        of a 0.01 budget that is already partly spent."""
        r = self.h.chat(max_tokens=16000, usage="10,10")
        self.assert_refusal(r, "budget", "daily")

    def test_refusal_after_connecting_and_resumption(self):
        self.assertEqual(self.h.chat(usage="2000,1000").status_code, 200)  # 0.0009 spent
        before = self.h.admin("GET", "/v1/events?last=1").json()["last_id"]

        live = self.stream()
        self.assertIsInstance(live.response, httpx.Response, live.response)
        self.assertEqual(live.response.status_code, 200)
        self.assertEqual(live.response.headers["content-type"], "text/event-stream; charset=utf-8")
        self.assertEqual(live.response.headers["cache-control"], "no-store")
        self.assertIsNone(live.next_event(timeout=0.3), "a stream without an id starts at now")

        self.refuse()
        frame = live.next_event()
        self.assertIsNotNone(frame, "no event within 5 s of the refusal")
        self.assertEqual(frame["event"], "refused")
        event = json.loads(frame["data"])
        self.assertEqual(int(frame["id"]), event["id"])
        self.assertGreater(event["id"], before)
        self.assertEqual((event["type"], event["budget"]), ("refused", "daily"))
        self.assertIn("would be exceeded", event["message"])
        # The same event as GET /v1/events serves it.
        listed = self.h.admin("GET", "/v1/events?since=%d" % (event["id"] - 1)).json()["events"][0]
        self.assertEqual(listed, event)

        # A client that reconnects with Last-Event-ID gets what it missed, then what is new.
        self.refuse()
        missed = live.next_event()
        self.assertEqual(int(missed["id"]), event["id"] + 1)
        resumed = self.stream(headers={"Last-Event-ID": str(event["id"])})
        self.assertEqual(resumed.response.status_code, 200)
        again = resumed.next_event()
        self.assertIsNotNone(again, "Last-Event-ID did not replay the missed event")
        self.assertEqual(again["id"], missed["id"])
        self.assertEqual(again["data"], missed["data"])
        self.refuse()
        self.assertEqual(int(resumed.next_event()["id"]), event["id"] + 2)
        self.assertEqual(int(live.next_event()["id"]), event["id"] + 2)

        # ?since= replays too (what the status page opens with).
        since = self.stream("/v1/events/stream?since=%d" % (event["id"] - 1))
        self.assertEqual(since.next_event()["data"], frame["data"])

    def test_bad_last_event_id(self):
        r = requests.get(self.h.admin_url + "/v1/events/stream", headers={"Last-Event-ID": "x"},
                         timeout=10)
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json(), {"error": "Last-Event-ID: must be an event id (a whole number)"})

    def open_raw_stream(self):
        """A stream on a plain socket (closing it sends FIN at once); returns (sock, status line)."""
        host, port = self.h.admin_url.rsplit("/", 1)[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /v1/events/stream HTTP/1.1\r\nHost: tollgate\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                break
            head += data
        return sock, head.split(b"\r\n", 1)[0].decode()

    def test_cap_on_concurrent_streams(self):
        streams = [self.open_raw_stream() for _ in range(16)]
        self.assertEqual({status for _, status in streams}, {"HTTP/1.1 200 OK"})
        r = requests.get(self.h.admin_url + "/v1/events/stream", timeout=10)
        self.assertEqual(r.status_code, 503)
        self.assertEqual(r.headers["retry-after"], "10")
        self.assertEqual(r.json(), {"error": "too many event streams open (16): try again later"})
        # The admin API keeps answering while the streams are open.
        self.assertEqual(requests.get(self.h.admin_url + "/v1/budgets", timeout=5).status_code, 200)
        streams[0][0].close()
        deadline, status = time.time() + 5, None
        while time.time() < deadline and status != "HTTP/1.1 200 OK":
            sock, status = self.open_raw_stream()
            sock.close()
            time.sleep(0.05)
        self.assertEqual(status, "HTTP/1.1 200 OK", "a stream's slot was not given back when it closed")

    def test_status_page_headers(self):
        r = requests.get(self.h.admin_url + "/", timeout=10)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(r.headers["x-content-type-options"], "nosniff")
        self.assertEqual(r.headers["x-frame-options"], "DENY")
        self.assertEqual(r.headers["cache-control"], "no-store")
        csp = r.headers["content-security-policy"]
        self.assertRegex(csp, r"^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]{44}'; "
                              r"style-src 'sha256-[A-Za-z0-9+/=]{44}'; connect-src 'self';")
        self.assertIn("<title>tollgate status</title>", r.text)
        self.assertNotIn("sk-test", r.text)
        for path in ("/v1/budgets", "/v1/balances", "/v1/breakers"):
            api = requests.get(self.h.admin_url + path, timeout=10)
            self.assertEqual(api.headers["cache-control"], "no-store", path)
            self.assertEqual(api.headers["x-content-type-options"], "nosniff", path)


if __name__ == "__main__":
    unittest.main()
