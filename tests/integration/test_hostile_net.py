"""Network-level ways around a budget ("hostile input"): host spellings that were tunneled blind,
proxy credentials whose password was not checked, plain-HTTP requests to ports a CONNECT may not
reach, HTTP/1.0 with chunked framing, and a request body that never completes. Everything stays
on loopback: with tunnel.unknown_hosts: deny, a host that is not recognised is refused rather
than sent to the internet."""
import base64
import json
import os
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, micros  # noqa: E402
from harness import Harness, HarnessTestCase, PLAIN_HOST  # noqa: E402
from raw_http import Reader, connect_through, request  # noqa: E402

CHAT = {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
BUDGET = """
budgets:
  - { name: daily, currency: usd, limit: 50, period: day }
"""


def read_until_closed(sock, timeout=15):
    sock.settimeout(timeout)
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


def replace_tunnel(h, tunnel_yaml):
    """Makes `h` write `tunnel_yaml` in place of the harness's own tunnel section."""
    original = h.config_text

    def text():
        out, skip = [], False
        for line in original().split("\n"):
            if line == "tunnel:":
                skip = True
                out.append(tunnel_yaml)
            elif not (skip and line.startswith("  ")):
                skip = False
                out.append(line)
        return "\n".join(out)
    h.config_text = text


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def chat_request(host="api.openai.com"):
    body = json.dumps(CHAT).encode()
    return request("POST", "/v1/chat/completions", host, body,
                   {"Authorization": "Bearer sk-test", "Content-Type": "application/json"})


class HostSpellingTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = BudgetHarness(BUDGET, store="memory", start=False)
        # Plain HTTP to the provider host goes to the plain fake (never to the real host).
        cls.h.resolve_extra = {"api.openai.com:80": "127.0.0.1:%d" % cls.h.plain.port}
        replace_tunnel(cls.h, "tunnel: { unknown_hosts: deny, deny_networks: [loopback, link-local] }")
        cls.h.start()

    def spent(self):
        return micros(self.h.settled("daily")["spent"])

    def test_connect_spellings_are_intercepted_and_priced(self):
        for spelling in ["API.OPENAI.COM", "api.openai.com.", "Api.OpenAI.com."]:
            with self.subTest(spelling=spelling):
                before = self.spent()
                sock, status = connect_through(self.h.port, spelling)
                self.assertTrue(status.startswith("HTTP/1.1 200"), status)
                # Verified against tollgate's CA for the canonical name: the host was intercepted.
                ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
                with ctx.wrap_socket(sock, server_hostname="api.openai.com") as tls:
                    tls.sendall(chat_request())
                    res = Reader(tls).read_response()
                self.assertEqual(res.status, 200, res.raw[:300])
                self.assertIn("x-tollgate-cost", res.headers)
                self.assertGreater(self.spent(), before)

    def test_sni_with_a_trailing_dot_matches_the_connect_host(self):
        sock, status = connect_through(self.h.port, "api.openai.com")
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
        ctx.check_hostname = False  # the SNI carries the dot; the certificate names the host
        with ctx.wrap_socket(sock, server_hostname="API.openai.com.") as tls:
            tls.sendall(chat_request())
            self.assertEqual(Reader(tls).read_response().status, 200)

    def test_escaped_absolute_form_host_is_priced(self):
        before = self.spent()
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            body = json.dumps(CHAT).encode()
            sock.sendall(request("POST", "http://api%2eopenai%2ecom/v1/chat/completions",
                                 "api.openai.com", body, {"Authorization": "Bearer sk-test"}))
            res = Reader(sock).read_response()
        self.assertEqual(res.status, 200, res.raw[:300])
        self.assertIn("x-tollgate-cost", res.headers)
        self.assertGreater(self.spent(), before)
        self.assertEqual(self.h.plain.requests[-1]["path"], "/v1/chat/completions")

    def test_unrecognisable_spellings_are_400(self):
        for target in ["api.openai.com..", "api%2eopenai%2ecom%25", "b\xfccher.example"]:
            with self.subTest(target=target):
                with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
                    sock.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: x\r\n\r\n" % target)
                                 .encode("latin-1"))
                    data = read_until_closed(sock)
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:300])
                self.assertIn(b"malformed CONNECT target", data)
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(request("GET", "http://api.openai.com%2e%2e/v1/models", "x"))
            data = read_until_closed(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:300])
        self.assertIn(b"empty label in host name", data)


class ProxyCredentialsTest(HarnessTestCase):
    """require_auth: false with users: offered credentials are checked all the same."""

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(extra_yaml="clients: { require_auth: false, users: { team-a: pw-a } }\n")

    def plain(self, authorization=None):
        headers = {"Proxy-Authorization": authorization} if authorization else {}
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(request("GET", "http://%s/echo" % PLAIN_HOST, PLAIN_HOST, headers=headers))
            return Reader(sock).read_response()

    def test_wrong_password_or_unknown_user_is_407(self):
        for creds in [("team-a", "wrong"), ("nobody", "pw-a"), ("team-a", "")]:
            with self.subTest(creds=creds):
                res = self.plain(basic(*creds))
                self.assertEqual(res.status, 407, res.raw[:300])
                self.assertEqual(res.headers.get("proxy-authenticate"), 'Basic realm="tollgate"')
                sock, status = connect_through_with_auth(self.h.port, basic(*creds))
                sock.close()
                self.assertTrue(status.startswith("HTTP/1.1 407"), status)

    def test_right_password_and_no_credentials_pass(self):
        self.assertEqual(self.plain(basic("team-a", "pw-a")).status, 200)
        self.assertEqual(self.plain().status, 200)  # anonymous, as require_auth is false


def connect_through_with_auth(port, authorization):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n"
                 b"Proxy-Authorization: " + authorization.encode() + b"\r\n\r\n")
    return sock, Reader(sock).read_response().raw.split(b"\r\n", 1)[0].decode()


class PlainHttpPolicyTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness(start=False)
        # Named in upstream.resolve (so allowed by deny_networks): only the port rule refuses it.
        cls.h.resolve_extra = {"%s:6379" % PLAIN_HOST: "127.0.0.1:%d" % cls.h.plain.port}
        replace_tunnel(cls.h, "tunnel: { deny_networks: [loopback], allowed_ports: [443, %d] }"
                       % cls.h.plain.port)
        cls.h.start()

    def get(self, uri, host):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(request("GET", uri, host))
            return Reader(sock).read_response()

    def test_port_not_in_allowed_ports_is_403_as_for_connect(self):
        seen = len(self.h.plain.requests)
        res = self.get("http://%s:6379/echo" % PLAIN_HOST, PLAIN_HOST)
        self.assertEqual(res.status, 403, res.raw[:300])
        self.assertIn(b"HTTP to port 6379 is not allowed (tunnel.allowed_ports)", res.body)
        self.assertEqual(len(self.h.plain.requests), seen)
        _, status = connect_through(self.h.port, PLAIN_HOST, 6379)
        self.assertTrue(status.startswith("HTTP/1.1 403"), status)

    def test_port_80_and_resolved_hosts_still_pass(self):
        self.assertEqual(self.get("http://%s/echo" % PLAIN_HOST, PLAIN_HOST).status, 200)

    def test_deny_networks_refuse_loopback_for_plain_http_and_connect(self):
        # An allowed port, but an address in deny_networks (loopback) not named in resolve.
        port = self.h.plain.port
        res = self.get("http://127.0.0.1:%d/echo" % port, "127.0.0.1")
        self.assertEqual(res.status, 403, res.raw[:300])
        self.assertIn(b"is in tunnel.deny_networks", res.body)
        _, status = connect_through(self.h.port, "127.0.0.1", port)
        self.assertTrue(status.startswith("HTTP/1.1 403"), status)


class FramingAndTimeoutTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness(extra_yaml="clients: { read_timeout: 1s }\n")

    def test_http10_with_transfer_encoding_is_400_and_closed(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(b"POST http://%s/echo HTTP/1.0\r\nHost: %s\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                         % (PLAIN_HOST.encode(), PLAIN_HOST.encode()))
            data = read_until_closed(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:300])
        self.assertIn(b"Transfer-Encoding in an HTTP/1.0 request", data)
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data)
        self.assertEqual(self.h.plain.requests, [])

    def test_body_that_stops_gets_408_then_close(self):
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as sock:
            sock.sendall(b"POST http://%s/echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n"
                         % (PLAIN_HOST.encode(), PLAIN_HOST.encode()) + b"0123456789")
            start = time.monotonic()
            data = read_until_closed(sock)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:300])
        self.assertIn(b"\r\nConnection: close\r\n", data)
        self.assertLess(time.monotonic() - start, 10)

    def test_body_that_stops_inside_tls_gets_408(self):
        sock, status = connect_through(self.h.port, "api.openai.com")
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
        with ctx.wrap_socket(sock, server_hostname="api.openai.com") as tls:
            tls.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                        b"Authorization: Bearer sk-test\r\nContent-Length: 100\r\n\r\n{\"model\":")
            res = Reader(tls).read_response()
        self.assertEqual(res.status, 408, res.raw[:300])
        self.assertEqual(self.h.fake.requests, [])


class HandshakeDeadlineTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

    def test_connect_whose_handshake_never_starts_is_closed_at_its_deadline(self):
        # A slowloris on the interception: the tunnel is granted, then no ClientHello comes.
        # The connection's one timer (proxy/tcp_stream.hpp) must still fire at the 10 s
        # handshake deadline and close it, while other clients are served meanwhile.
        sock, status = connect_through(self.h.port, "api.openai.com")
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.h.port), timeout=10) as other:
            other.sendall(b"GET http://%s/echo HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                          % (PLAIN_HOST.encode(), PLAIN_HOST.encode()))
            self.assertTrue(read_until_closed(other).startswith(b"HTTP/1.1 200 "))
        with sock:
            data = read_until_closed(sock, timeout=30)
        took = time.monotonic() - start
        self.assertEqual(data, b"")
        self.assertGreater(took, 8)
        self.assertLess(took, 20)


if __name__ == "__main__":
    unittest.main()
