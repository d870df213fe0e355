"""Keep-alive correctness on the client side: a chunked (SSE) response relayed by tollgate ends
with exactly one last-chunk, so the next response on the same connection starts right after it."""
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase, PLAIN_HOST  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402


def chat(stream, **extra):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
    if stream:
        body["stream"] = True
    body.update(extra)
    return json.dumps(body).encode()


class ChunkedKeepAliveTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

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

    def test_http10_client_gets_the_stream_without_chunking_ended_by_the_close(self):
        for name in ["intercepted", "plain"]:
            with self.subTest(name):
                if name == "intercepted":
                    sock = tls_through(self.h.port, "api.openai.com", self.h.ca_bundle)
                    target, host = "/v1/chat/completions", "api.openai.com"
                else:
                    sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=10)
                    target, host = "http://%s/v1/chat/completions" % PLAIN_HOST, PLAIN_HOST
                with sock:
                    sock.sendall(request("POST", target, host, chat(True), {
                        "Content-Type": "application/json", "x-fake-events": "3"})
                        .replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1))
                    data = Reader(sock).drain(10)
                head, _, body = data.partition(b"\r\n\r\n")
                self.assertNotIn(b"transfer-encoding", head.lower())
                self.assertIn(b"\r\nConnection: close", head)
                self.assertTrue(body.startswith(b"data: {"), body[:100])
                self.assertTrue(body.endswith(b"\n\ndata: [DONE]\n\n"), body[-100:])
                self.assertEqual(body.count(b"data: "), 4)  # 3 events and [DONE], no usage chunk

    def test_plain_http_sse_then_another_request(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            first, second = self.two_on_one_connection(
                sock, "http://%s/v1/chat/completions" % PLAIN_HOST, PLAIN_HOST, chat(True))
        self.check(first, second)


class ResponseShapesTest(HarnessTestCase):
    """Answers of every framing, each followed by a second request on the same client connection,
    which must get its own answer (the framing tollgate wrote was exact)."""

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(start=False)
        cls.up = ScriptedUpstream(os.path.join(cls.h.dir, "server.pem"), os.path.join(cls.h.dir, "server.key"))
        cls.h.resolve_extra = {"api.anthropic.com:443": "127.0.0.1:%d" % cls.up.port}
        cls.h.start()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.up.stop()

    def exchange_then_another(self, script, method="GET"):
        with tls_through(self.h.port, "api.anthropic.com", self.h.ca_bundle) as tls:
            reader = Reader(tls)
            tls.sendall(request(method, "/v1/models", "api.anthropic.com", headers={"x-script": script}))
            first = reader.read_response(head_request=method == "HEAD")
            tls.sendall(request("GET", "/v1/models", "api.anthropic.com"))
            second = reader.read_response()
        self.assertEqual(second.status, 200, second.raw)
        self.assertEqual(json.loads(second.body)["path"], "/v1/models")
        return first

    def test_close_delimited_body_is_relayed_chunked(self):
        first = self.exchange_then_another("close-delimited")
        self.assertEqual((first.status, first.body), (200, b"all of it, until the close"))
        self.assertEqual(first.headers.get("transfer-encoding"), "chunked")

    def test_103_early_hints_are_not_taken_for_the_answer(self):
        first = self.exchange_then_another("early-hints")
        self.assertEqual((first.status, first.body), (200, b"ok"))

    def test_204_has_no_body(self):
        first = self.exchange_then_another("no-content")
        self.assertEqual((first.status, first.body, first.headers.get("x-n")), (204, b"", "1"))
        self.assertNotIn("transfer-encoding", first.headers)

    def test_head_keeps_the_length_and_sends_no_body(self):
        first = self.exchange_then_another("head", method="HEAD")
        self.assertEqual((first.status, first.headers.get("content-length")), (200, "1234"))
        self.assertNotIn("transfer-encoding", first.headers)

    def test_chunk_extensions_and_trailers(self):
        first = self.exchange_then_another("chunked-trailer")
        self.assertEqual((first.status, first.body), (200, b"hello world"))


if __name__ == "__main__":
    unittest.main()
