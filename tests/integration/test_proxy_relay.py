"""The proxy engine end to end: interception, tunnels, streaming, errors (issue 2)."""
import concurrent.futures
import gzip
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, PLAIN_HOST, TUNNEL_HOST  # noqa: E402


def connect_through(h, host, port=443, timeout=10):
    """A raw socket on which tollgate answered `CONNECT host:port` (returns sock, status line)."""
    sock = socket.create_connection(("127.0.0.1", h.port), timeout=timeout)
    sock.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), port, host.encode(), port))
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            break
        head += data
    return sock, head.split(b"\r\n", 1)[0].decode()


def peer_issuer(h, host, cafile):
    sock, status = connect_through(h, host)
    assert status.startswith("HTTP/1.1 200"), status
    ctx = ssl.create_default_context(cafile=cafile)
    with ctx.wrap_socket(sock, server_hostname=host) as tls:
        cert = tls.getpeercert()
        return dict(x[0] for x in cert["issuer"]), tls.selected_alpn_protocol()


class ProxyRelayTest(unittest.TestCase):
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

    def post_chat(self, **kw):
        return requests.post("https://api.openai.com/v1/chat/completions",
                             json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                                   "max_tokens": 10, **kw.pop("body", {})},
                             proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20, **kw)

    def test_curl_gets_the_provider_response_through_interception(self):
        out = subprocess.run(
            ["curl", "-sS", "-x", self.h.proxy_url, "--cacert", self.h.ca_bundle,
             "-H", "content-type: application/json", "-H", "authorization: Bearer sk-test",
             "-d", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}),
             "https://api.openai.com/v1/chat/completions"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        body = json.loads(out.stdout)
        self.assertEqual(body["choices"][0]["message"]["content"], "hello")
        self.assertEqual(body["usage"]["prompt_tokens"], 10)
        seen = self.h.fake.requests[-1]
        self.assertEqual(seen["headers"]["host"], "api.openai.com")
        self.assertEqual(seen["headers"]["via"], "1.1 tollgate")

    def test_response_head_loses_hop_by_hop_fields_and_keeps_the_rest_in_order(self):
        fields = ["Keep-Alive: timeout=5", "Connection: X-Hop", "X-Hop: secret",
                  "Set-Cookie: a=1", "X-Kept: yes", "Set-Cookie: b=2"]
        # One x-fake-header per field (requests cannot send a header twice): by hand.
        sock, status = connect_through(self.h, "api.openai.com")
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                           "max_tokens": 10}).encode()
        with ctx.wrap_socket(sock, server_hostname="api.openai.com") as tls:
            head = "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
            head += "content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
            head += "".join("x-fake-header: %s\r\n" % f for f in fields)
            head += "connection: close\r\n\r\n"
            tls.sendall(head.encode() + body)
            answer = b""
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                answer += data
        head, _, rest = answer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.assertTrue(lines[0].startswith("HTTP/1.1 200"), lines[0])
        got = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        names = [name.lower() for name, _ in got]
        self.assertNotIn("keep-alive", names)
        self.assertNotIn("x-hop", names)
        self.assertEqual([v for n, v in got if n.lower() == "set-cookie"], ["a=1", "b=2"])
        self.assertIn(("x-kept", "yes"), [(n.lower(), v) for n, v in got])
        self.assertLess(names.index("set-cookie"), names.index("x-kept"))
        self.assertIn(("via", "1.1 tollgate"), [(n.lower(), v) for n, v in got])
        self.assertTrue(any(n.startswith("x-tollgate-cost") for n in names), got)
        self.assertEqual(json.loads(rest)["choices"][0]["message"]["content"], "hello")

    def test_intercepted_certificate_is_issued_by_tollgate_with_http11(self):
        issuer, alpn = peer_issuer(self.h, "api.openai.com", self.h.ca_bundle)
        self.assertEqual(issuer["commonName"], "tollgate local CA")
        self.assertEqual(alpn, None)  # no ALPN offered by this client: none chosen

        sock, _ = connect_through(self.h, "api.anthropic.com")
        ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(sock, server_hostname="api.anthropic.com") as tls:
            self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")

    def test_tunneled_certificate_is_the_upstreams(self):
        issuer, _ = peer_issuer(self.h, TUNNEL_HOST, self.h.upstream_ca)
        self.assertEqual(issuer["commonName"], "fake upstream CA")
        out = subprocess.run(["curl", "-sSv", "-x", self.h.proxy_url, "--cacert", self.h.upstream_ca,
                              "https://%s/echo" % TUNNEL_HOST], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("issuer: O=fake upstream; CN=fake upstream CA", out.stderr)
        time.sleep(1.2)  # the access log is flushed every second
        tunnels = [r for r in self.h.access_log() if r["mode"] == "tunnel" and r["host"] == TUNNEL_HOST]
        self.assertTrue(tunnels and tunnels[-1]["bytes_out"] > 0, self.h.logs())

    def test_sni_other_than_the_connect_host_is_refused(self):
        sock, _ = connect_through(self.h, "api.openai.com")
        ctx = ssl.create_default_context(cafile=self.h.ca_bundle)
        ctx.check_hostname = False
        with self.assertRaises(ssl.SSLError) as caught:
            ctx.wrap_socket(sock, server_hostname="evil.example")
        self.assertIn("UNRECOGNIZED_NAME", str(caught.exception).upper())
        sock.close()

    def test_sse_events_arrive_as_they_are_sent(self):
        start = time.monotonic()
        arrivals = []
        with self.post_chat(body={"stream": True}, stream=True,
                            headers={"x-fake-spacing-ms": "300", "x-fake-events": "4"}) as r:
            self.assertEqual(r.status_code, 200)
            for line in r.iter_lines():
                if line.startswith(b"data: "):
                    arrivals.append((time.monotonic() - start, line))
        self.assertEqual(arrivals[-1][1], b"data: [DONE]")
        first, last = arrivals[0][0], arrivals[-2][0]
        self.assertGreater(last - first, 0.8, arrivals)  # 3 gaps of 300 ms between 4 events
        self.assertLess(first, 0.5, arrivals)

    def test_gzip_response_arrives_byte_exact(self):
        r = requests.get("https://api.keepa.com/product?key=secret123&asin=A,B",
                         proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=20, stream=True)
        raw = r.raw.read(decode_content=False)
        self.assertEqual(r.headers["content-encoding"], "gzip")
        self.assertEqual(json.loads(gzip.decompress(raw))["tokensConsumed"], 2)
        self.assertEqual(r.headers["tokens-left"], str(json.loads(gzip.decompress(raw))["tokensLeft"]))
        self.assertEqual(self.h.fake.requests[-1]["headers"]["accept-encoding"], "gzip, deflate")
        time.sleep(1.2)
        line = [x for x in self.h.access_log() if x["host"] == "api.keepa.com"][-1]
        self.assertEqual(line["path"], "/product?key=REDACTED&asin=A,B")
        self.assertNotIn("secret123", "\n".join(self.h.stdout_lines))

    def test_64_parallel_clients_all_succeed(self):
        def one(i):
            s = requests.Session()
            r = s.post("https://api.openai.com/v1/chat/completions",
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": str(i)}]},
                       proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=60)
            if r.status_code != 200:
                return r.status_code, r.text
            return r.status_code, r.json()["usage"]["prompt_tokens"]
        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            results = list(pool.map(one, range(64)))
        self.assertEqual(results, [(200, 10)] * 64)

    def test_malformed_request_gets_400_and_a_closed_connection(self):
        for bad in [b"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                    b"POST http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"POST http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                    b"GARBAGE\r\n\r\n"]:
            with self.subTest(bad=bad[:60]):
                sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=10)
                sock.sendall(bad)
                data = b""
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break  # closed by tollgate
                    data += chunk
                sock.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
                self.assertIn(b"tollgate: malformed request", data)

    def test_header_limits_give_431(self):
        many = b"".join(b"X-F%d: v\r\n" % i for i in range(120))
        sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=10)
        sock.sendall(b"GET http://plain.test/echo HTTP/1.1\r\nHost: plain.test\r\n" + many + b"\r\n")
        self.assertTrue(sock.recv(4096).startswith(b"HTTP/1.1 431 "))
        sock.close()

    def test_unreachable_upstream_gets_502(self):
        r = requests.get("http://%s/x" % "unreachable.test", proxies=self.h.proxies(), timeout=20)
        self.assertEqual(r.status_code, 502)
        self.assertEqual(r.json()["error"]["type"], "upstream_error")
        self.assertIn("tollgate: upstream unreachable.test:80: connect: Connection refused",
                      r.json()["error"]["message"])

    def test_absolute_form_plain_http(self):
        r = requests.post("http://%s/echo?a=1" % PLAIN_HOST, data=b"payload",
                          headers={"Proxy-Connection": "keep-alive", "Connection": "X-Drop", "X-Drop": "1",
                                   "Expect": "100-continue"},
                          proxies=self.h.proxies(), timeout=20)
        self.assertEqual(r.status_code, 200)
        seen = r.json()
        self.assertEqual(seen["path"], "/echo?a=1")
        self.assertEqual(seen["body"], "payload")
        self.assertEqual(seen["headers"]["host"], PLAIN_HOST)
        self.assertNotIn("x-drop", seen["headers"])
        self.assertNotIn("proxy-connection", seen["headers"])
        self.assertNotIn("expect", seen["headers"])

    def test_connect_to_a_port_not_allowed_or_a_denied_network_is_403(self):
        _, status = connect_through(self.h, TUNNEL_HOST, 8443)
        self.assertTrue(status.startswith("HTTP/1.1 403"), status)
        _, status = connect_through(self.h, "localhost", 443)
        self.assertTrue(status.startswith("HTTP/1.1 403"), status)


if __name__ == "__main__":
    unittest.main()
