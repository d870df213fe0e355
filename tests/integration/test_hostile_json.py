"""Hostile JSON on the wire: a priced body nested 150,000 deep (and 200,000 deep to the admin
estimate) is a 400 and tollgate serves on; a priced body that gives a key twice (tollgate would
price the first, the provider bills the last) is a 400 naming the key and never reaches the
provider."""
import json
import os
import socket
import sys
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase  # noqa: E402
from raw_http import Reader, request, tls_through  # noqa: E402

CHAT = {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = b'"messages":[{"role":"user","content":"hi"}]'
DEEP = "JSON nested deeper than 128 levels"


class HostileJsonTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness(start=False)
        # Absolute-form plain HTTP to the provider host goes to the plain stand-in.
        cls.h.resolve_extra = {"api.openai.com:80": "127.0.0.1:%d" % cls.h.plain.port}
        cls.h.start()

    def provider_requests(self):
        return len(self.h.fake.requests) + len(self.h.plain.requests)

    def ways_in(self):
        """(name, socket opener, request target) for an intercepted and a plain request."""
        return [("intercepted", lambda: tls_through(self.h.port, "api.openai.com", self.h.ca_bundle),
                 "/v1/chat/completions"),
                ("plain", lambda: socket.create_connection(("127.0.0.1", self.h.port), timeout=30),
                 "http://api.openai.com/v1/chat/completions")]

    @staticmethod
    def post(sock, target, body):
        sock.sendall(request("POST", target, "api.openai.com", body=body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer sk-test"}))

    def assert_invalid_request(self, res, message):
        self.assertEqual(res.status, 400, res.raw[:300])
        self.assertEqual(res.headers.get("x-tollgate-refused"), "price")
        error = json.loads(res.body)["error"]
        self.assertEqual(error["type"], "invalid_request_error")
        self.assertEqual(error["message"], "tollgate: " + message)

    def assert_alive(self):
        self.assertIsNone(self.h.proc.poll(), "tollgate exited")
        r = requests.post("https://api.openai.com/v1/chat/completions", json=CHAT,
                          proxies=self.h.proxies(), verify=self.h.ca_bundle, timeout=30)
        self.assertEqual(r.status_code, 200, r.text[:300])

    def test_a_body_nested_150000_deep_gets_400_and_the_connection_serves_on(self):
        for name, open_sock, target in self.ways_in():
            with self.subTest(name), open_sock() as sock:
                before = self.provider_requests()
                self.post(sock, target, b"[" * 150_000)
                reader = Reader(sock)
                self.assert_invalid_request(reader.read_response(), DEEP + " in the request body")
                self.assertEqual(self.provider_requests(), before)
                # The body was read to its end: the same connection takes the next request.
                self.post(sock, target, json.dumps(CHAT).encode())
                self.assertEqual(reader.read_response().status, 200)
        self.assert_alive()

    def test_a_body_nested_200000_deep_to_the_admin_estimate_gets_400(self):
        r = requests.post(self.h.admin_url + "/v1/estimate", data=b"[" * 200_000, timeout=30)
        self.assertEqual(r.status_code, 400, r.text[:300])
        self.assertIn(DEEP, r.json()["error"])
        self.assertIsNone(self.h.proc.poll(), "tollgate exited")
        self.assertEqual(requests.get(self.h.admin_url + "/healthz", timeout=10).status_code, 200)
        self.assert_alive()

    def test_a_key_given_twice_gets_400_naming_it_and_never_reaches_the_provider(self):
        cases = [
            ("model", b'{"model":"gpt-4o-mini","max_tokens":10,' + MESSAGES + b',"model":"gpt-4o"}'),
            ("max_tokens", b'{"model":"gpt-4o","max_tokens":1,' + MESSAGES + b',"max_tokens":16000}'),
            ("n", b'{"model":"gpt-4o","max_tokens":10,"n":1,' + MESSAGES + b',"n":8}'),
            ("model", b'{"model":"gpt-4o-mini","max_tokens":10,' + MESSAGES + b',"mod\\u0065l":"gpt-4o"}'),
        ]
        for key, body in cases:
            for name, open_sock, target in self.ways_in():
                with self.subTest(body=body, way=name), open_sock() as sock:
                    before = self.provider_requests()
                    self.post(sock, target, body)
                    self.assert_invalid_request(Reader(sock).read_response(),
                                                'duplicate key "%s" in the request body' % key)
                    self.assertEqual(self.provider_requests(), before)
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
