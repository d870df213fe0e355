"""alerts.webhooks (issue 4): events reach a webhook receiver, a failing receiver gets retries with
backoff and each event once, and a receiver that hangs never slows a request down."""
import http.server
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase, wait_for  # noqa: E402


class Receiver:
    """A plain-HTTP webhook receiver: answers 500 to the first `failures` posts, sleeps `delay` s."""

    def __init__(self, failures=0, delay=0.0):
        self.posts = []  # (monotonic time, parsed body, status answered)
        self.failures = failures
        self.delay = delay
        lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                time.sleep(receiver.delay)
                with lock:
                    status = 500 if receiver.failures > 0 else 200
                    receiver.failures -= 1
                    receiver.posts.append((time.monotonic(), body, status, self.headers.get("content-type")))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, type_):
        return [b for _, b, status, _ in self.posts if status == 200 and b["type"] == type_]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.flaky = Receiver(failures=2)
        cls.hanging = Receiver(delay=3.0)
        cls.h = BudgetHarness(store="memory", rules="""
budgets:
  - { name: small, currency: usd, limit: 0.0005, period: day, alerts: [50%%],
      match: { provider: [openai] } }
alerts:
  webhooks:
    - { url: "%s", events: [threshold, refused] }
    - { url: "%s" }
""" % (cls.flaky.url, cls.hanging.url))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.flaky.stop()
        cls.hanging.stop()

    def test_events_are_delivered_once_with_retries_and_never_block_requests(self):
        statuses, slowest = [], 0.0
        for i in range(12):
            started = time.monotonic()
            statuses.append(self.h.chat(req_id=i, usage="20,100").status_code)
            slowest = max(slowest, time.monotonic() - started)
        self.assertIn(200, statuses)
        self.assertIn(429, statuses)
        # The hanging receiver takes 3 s per event; no request waited for it.
        self.assertLess(slowest, 1.0)

        # The flaky receiver answered 500 twice: the threshold event arrives anyway, once, within
        # its backoff (1 s + 2 s), whatever the hanging receiver is doing.
        self.assertTrue(wait_for(lambda: self.flaky.delivered("threshold") and
                                 self.flaky.delivered("refused"), timeout=8), self.flaky.posts)
        (threshold,) = self.flaky.delivered("threshold")
        self.assertEqual(threshold["budget"], "small")
        self.assertIn("50", threshold["message"])
        self.assertTrue(all(b["type"] in ("threshold", "refused") for _, b, _, _ in self.flaky.posts))
        failed = [(t, b["id"]) for t, b, status, _ in self.flaky.posts if status == 500]
        self.assertEqual(len(failed), 2)
        # Retried with backoff, not hammered: the retry of the first failure came ≥ 1 s later.
        first_id = failed[0][1]
        retry = [t for t, b, status, _ in self.flaky.posts if b["id"] == first_id][1]
        self.assertGreaterEqual(retry - failed[0][0], 0.9)
        ids = [b["id"] for _, b, status, _ in self.flaky.posts if status == 200]
        self.assertEqual(len(ids), len(set(ids)), "an event was delivered twice")
        self.assertTrue(all(ct == "application/json" for _, _, _, ct in self.flaky.posts))
        # The admin event list holds the same events.
        self.assertEqual({e["id"] for e in self.h.events("threshold")}, {threshold["id"]})


if __name__ == "__main__":
    unittest.main()
