"""Protocol points of issue 2 checked on the wire: websocket relayed after the 101 (intercepted,
plain HTTP and base-URL mode), Expect: 100-continue, 431 past 64 KiB of header, 413 past the priced body limit,
Content-Length with Transfer-Encoding refused with the connection closed (inside TLS too)."""
import base64
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase, PLAIN_HOST  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402
from scripted_upstream import WS_GUID, ScriptedUpstream, encode_frame, read_frame  # noqa: E402

WS_HOST = "ws.test"
CHAT = {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


class SendingWhileReading:
    """Sends `data` on a TLS socket while a Reader reads from it, both from one thread: an OpenSSL
    connection must not be read and written from two threads at once (with a sender thread the
    reader sometimes saw a close that never happened)."""

    def __init__(self, tls, data, timeout=30):
        self.tls, self.view, self.sent, self.errors = tls, memoryview(data), 0, []
        self.deadline = time.monotonic() + timeout
        tls.setblocking(False)

    def _send_some(self):
        if self.sent >= len(self.view):
            return
        try:
            self.sent += self.tls.send(self.view[self.sent:self.sent + 65536])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except OSError as e:
            self.errors.append(e)
            self.sent = len(self.view)

    def _wait(self):
        if time.monotonic() > self.deadline:
            raise TimeoutError("%d of %d bytes sent" % (self.sent, len(self.view)))
        select.select([self.tls], [self.tls] if self.sent < len(self.view) else [], [], 0.05)

    def recv(self, n):
        while True:
            self._send_some()
            try:
                return self.tls.recv(n)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
            self._wait()

    def finish(self):
        while self.sent < len(self.view):
            self._send_some()
            self._wait()


def read_until_closed(sock):
    """Everything the peer sends until it closes (b"" marks the close)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ssl.SSLError as e:  # a TLS peer that closed without close_notify
            if "EOF" in str(e) or "UNEXPECTED" in str(e).upper():
                return data
            raise
        if not chunk:
            return data
        data += chunk


def final_response(test, sock):
    """The one response on `sock`, which must announce that tollgate closes the connection. (A
    client reads it and closes; tollgate, lingering for what the client might still send, would
    close it a couple of seconds later.)"""
    res = Reader(sock).read_response()
    test.assertEqual(res.headers.get("connection"), "close", res.raw[:300])
    return res


class WebsocketTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness(start=False)
        cls.tls_up = ScriptedUpstream(os.path.join(cls.h.dir, "server.pem"),
                                      os.path.join(cls.h.dir, "server.key"))
        cls.plain_up = ScriptedUpstream()
        cls.h.resolve_extra = {"api.openai.com:443": "127.0.0.1:%d" % cls.tls_up.port,
                               "%s:80" % WS_HOST: "127.0.0.1:%d" % cls.plain_up.port}
        cls.h.start()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tls_up.stop()
        cls.plain_up.stop()

    def handshake_and_echo(self, sock, target, host, upstream):
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(request("GET", target, host, headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13", "Authorization": "Bearer sk-test"}))
        reader = Reader(sock)
        res = reader.read_response()
        self.assertEqual(res.status, 101, res.raw)
        self.assertEqual(res.headers["upgrade"].lower(), "websocket")
        self.assertEqual(res.headers["connection"].lower(), "upgrade")
        self.assertEqual(res.headers["sec-websocket-accept"],
                         base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode())
        seen = upstream.requests[-1]["headers"]
        self.assertEqual((seen["upgrade"], seen["connection"].lower(), seen["sec-websocket-key"]),
                         ("websocket", "upgrade", key))
        rest = reader.buffer
        for payload in [b"ping", os.urandom(70000)]:  # one frame, then one of several pieces
            sock.sendall(encode_frame(2 if len(payload) > 100 else 1, payload))
            opcode, echoed, rest = read_frame(sock, rest)
            self.assertEqual((opcode, echoed), (2 if len(payload) > 100 else 1, b"echo: " + payload))
        sock.sendall(encode_frame(8, b""))
        opcode, _, rest = read_frame(sock, rest)
        self.assertEqual(opcode, 8)
        self.assertEqual(rest + read_until_closed(sock), b"")  # both ends closed after the session

    def test_intercepted_websocket_is_relayed_after_the_101(self):
        with tls_through(self.h.port, "api.openai.com", self.h.ca_bundle) as tls:
            self.handshake_and_echo(tls, "/v1/realtime?model=gpt-4o-realtime-preview", "api.openai.com",
                                    self.tls_up)

    def test_base_url_websocket_is_relayed_after_the_101(self):
        # DESIGN §14: ws://127.0.0.1:PORT/openai/v1/realtime goes to wss://api.openai.com/v1/realtime.
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            self.handshake_and_echo(sock, "/openai/v1/realtime?model=gpt-4o-realtime-preview",
                                    "127.0.0.1:%d" % self.h.port, self.tls_up)
        seen = self.tls_up.requests[-1]
        self.assertEqual(seen["headers"]["host"], "api.openai.com")

    def test_plain_http_websocket_is_relayed_after_the_101(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            self.handshake_and_echo(sock, "http://%s/chat" % WS_HOST, WS_HOST, self.plain_up)


class LimitsAndFramingTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

    def intercepted(self):
        return tls_through(self.h.port, "api.openai.com", self.h.ca_bundle)

    def plain(self):
        return socket.create_connection(("127.0.0.1", self.h.port), timeout=10)

    def test_expect_100_continue_gets_100_before_the_body_is_sent(self):
        body = json.dumps(CHAT).encode()
        for name, open_sock, target, host in [
                ("intercepted", self.intercepted, "/v1/chat/completions", "api.openai.com"),
                ("plain", self.plain, "http://%s/echo" % PLAIN_HOST, PLAIN_HOST),
                ("base_url", self.plain, "/openai/v1/chat/completions", "127.0.0.1")]:
            with self.subTest(name), open_sock() as sock:
                sock.sendall(request("POST", target, host, headers={
                    "Content-Type": "application/json", "Authorization": "Bearer sk-test",
                    "Content-Length": str(len(body)), "Expect": "100-continue"}))
                reader = Reader(sock)
                interim = reader.read_response()  # the body is not sent until this arrives
                self.assertEqual(interim.status, 100)
                sock.sendall(body)
                res = reader.read_response()
                self.assertEqual(res.status, 200, res.raw)
                fake = self.h.plain if name == "plain" else self.h.fake
                self.assertEqual(fake.requests[-1]["body"], body)
                self.assertNotIn("expect", fake.requests[-1]["headers"])

    def test_expect_100_continue_over_the_body_limit_gets_413_and_no_100(self):
        with self.intercepted() as tls:
            tls.sendall(request("POST", "/v1/chat/completions", "api.openai.com", headers={
                "Content-Type": "application/json", "Expect": "100-continue",
                "Content-Length": str((32 << 20) + 1)}))
            res = final_response(self, tls)
        self.assertEqual(res.status, 413, res.raw[:200])
        self.assertIn(b"request body larger than 33554432 bytes", res.body)

    def test_header_over_64_kib_gets_431_and_a_closed_connection(self):
        big = b"X-Big: " + b"a" * (65 * 1024) + b"\r\n"
        for name, open_sock, target, host in [
                ("intercepted", self.intercepted, "/v1/chat/completions", "api.openai.com"),
                ("plain", self.plain, "http://%s/echo" % PLAIN_HOST, PLAIN_HOST)]:
            with self.subTest(name), open_sock() as sock:
                sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (target.encode(), host.encode(), big))
                res = final_response(self, sock)
                self.assertEqual(res.status, 431, res.raw[:200])
                self.assertIn(b"request header larger than 64 KiB", res.body)

    def test_over_100_header_fields_inside_tls_gets_431(self):
        many = b"".join(b"X-F%d: v\r\n" % i for i in range(101))
        with self.intercepted() as tls:
            tls.sendall(b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n" + many + b"\r\n")
            res = final_response(self, tls)
        self.assertEqual(res.status, 431, res.raw[:200])
        self.assertIn(b"more than 100 header fields", res.body)

    def test_declared_body_over_32_mib_gets_413_without_reading_it(self):
        before = len(self.h.fake.requests)
        with self.intercepted() as tls:
            tls.sendall(request("POST", "/v1/chat/completions", "api.openai.com", headers={
                "Content-Type": "application/json", "Content-Length": str((32 << 20) + 1)}))
            res = final_response(self, tls)
        self.assertEqual(res.status, 413, res.raw[:200])
        self.assertIn(b"request body larger than 33554432 bytes", res.body)
        self.assertEqual(len(self.h.fake.requests), before)

    def test_a_client_busy_sending_a_body_over_32_mib_still_reads_the_413(self):
        # The 413 goes out as soon as the head is read, while the client is still writing; only
        # when tollgate reads on (and drops) what it sends does the client get to read it.
        body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + \
            b"a" * (33 << 20) + b'"}]}'
        before = len(self.h.fake.requests)
        for url in ["https://api.openai.com/v1/chat/completions", "http://%s/echo" % PLAIN_HOST]:
            with self.subTest(url):
                r = requests.post(url, data=body, headers={"Content-Type": "application/json"},
                                  proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=30)
                self.assertEqual(r.status_code, 413, r.text[:200])
                self.assertEqual(r.headers["connection"], "close")
        self.assertEqual(len(self.h.fake.requests) + len(self.h.plain.requests), before)

    def test_a_chunked_body_over_32_mib_gets_413_while_it_is_sent(self):
        with self.intercepted() as tls:
            tls.sendall(request("POST", "/v1/chat/completions", "api.openai.com", headers={
                "Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
            piece = b"%x\r\n%s\r\n" % (1 << 20, b"a" * (1 << 20))
            body = SendingWhileReading(tls, piece * 34 + b"0\r\n\r\n")
            res = Reader(body).read_response()
            body.finish()
        self.assertEqual(res.status, 413, res.raw[:200])
        self.assertEqual(res.headers["connection"], "close")
        self.assertEqual(body.errors, [])  # every byte was taken: nothing reset the connection

    def test_priced_body_past_1_mib_is_forwarded(self):
        # Beast's request parser stops at 1 MiB unless told otherwise; the limit is 32 MiB.
        body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 10,
                           "messages": [{"role": "user", "content": "a" * (2 << 20)}]}).encode()
        r = requests.post("https://api.openai.com/v1/chat/completions", data=body,
                          headers={"Content-Type": "application/json"},
                          proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:300])
        self.assertEqual(self.h.fake.requests[-1]["body"], body)

    def test_content_length_with_transfer_encoding_inside_tls_gets_400_and_a_close(self):
        with self.intercepted() as tls:
            tls.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                        b"GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n")
            data = read_until_closed(tls)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:200])
        self.assertIn(b"tollgate: malformed request", data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)  # the smuggled request got no answer


class UnreadBodyTest(HarnessTestCase):
    """A request refused before its body was read (407 here) must not leave that body on the
    connection to be parsed as the next request."""

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(extra_yaml="clients: { require_auth: true, users: { team-a: pw } }\n")

    def test_407_with_a_body_closes_instead_of_reading_the_body_as_a_request(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(request("POST", "http://%s/echo" % PLAIN_HOST, PLAIN_HOST, b"GET /x HTTP/1.1\r\n\r\n") +
                         request("GET", "http://%s/echo" % PLAIN_HOST, PLAIN_HOST))
            data = read_until_closed(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 407 "), data[:200])
        self.assertIn(b"\r\nConnection: close\r\n", data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
        self.assertEqual(self.h.plain.requests, [])


if __name__ == "__main__":
    unittest.main()
