"""Keep-alive correctness on the client side: a chunked (SSE) response relayed by tollgate ends
with exactly one last-chunk, so the next response on the same connection starts right after it."""
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, PLAIN_HOST  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402


def chat(stream, **extra):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    if stream:
        body["stream"] = True
    body.update(extra)
    return json.dumps(body).encode()


class BaseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

    @classmethod
    def tearDownClass(cls):
        cls.h.close(keep_logs=cls._failed)

    _failed = False

    def run(self, result=None):
        result = super().run(result)
        if result and (result.failures or result.errors):
            type(self)._failed = True
        return result


class ChunkedKeepAliveTest(BaseTest):
    def two_on_one_connection(self, sock, target, host, first_body):
        """An SSE request then a JSON one on `sock`; returns both responses."""
        reader = Reader(sock)
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-test",
                   "x-fake-events": "3"}
        sock.sendall(request("POST", target, host, first_body, headers))
        first = reader.read_response()
        sock.sendall(request("POST", target, host, chat(False), headers))
        # The second response must start at the first byte after the first one's last-chunk.
        second = reader.read_response()
        return first, second

    def check(self, first, second):
        self.assertEqual(first.status, 200)
        self.assertEqual(first.headers.get("transfer-encoding"), "chunked")
        self.assertTrue(first.raw.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"), first.raw[-80:])
        self.assertEqual(first.raw.count(b"\r\n0\r\n\r\n"), 1, first.raw[-80:])
        self.assertEqual(second.status, 200)
        self.assertEqual(json.loads(second.body)["choices"][0]["message"]["content"], "hello")

    def test_intercepted_sse_with_injected_usage_then_another_request(self):
        # tollgate adds stream_options.include_usage and strips the usage chunk (rewrite path).
        with tls_through(self.h.port, "api.openai.com", self.h.ca_bundle) as tls:
            first, second = self.two_on_one_connection(tls, "/v1/chat/completions", "api.openai.com",
                                                        chat(True))
        self.check(first, second)
        self.assertNotIn(b'"usage"', first.body)

    def test_intercepted_sse_relayed_as_is_then_another_request(self):
        # The client asked for the usage chunk itself: the bytes go through unchanged.
        with tls_through(self.h.port, "api.openai.com", self.h.ca_bundle) as tls:
            first, second = self.two_on_one_connection(
                tls, "/v1/chat/completions", "api.openai.com",
                chat(True, stream_options={"include_usage": True}))
        self.check(first, second)
        self.assertIn(b'"usage"', first.body)

    def test_plain_http_sse_then_another_request(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            first, second = self.two_on_one_connection(
                sock, "http://%s/v1/chat/completions" % PLAIN_HOST, PLAIN_HOST, chat(True))
        self.check(first, second)


if __name__ == "__main__":
    unittest.main()
