"""tollgate_requests_total for traffic to hosts no provider owns (DESIGN §9): blind tunnels,
plain-HTTP forwards and refusals carry provider="(none)" and endpoint="(none)", never empty
labels (an empty label is the same as no label to Prometheus, so `sum by (provider)` lost them)."""
import os
import re
import sys
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase, PLAIN_HOST, TUNNEL_HOST  # noqa: E402
from raw_http import Reader, connect_through, request, tls_through  # noqa: E402


def requests_total(text):
    """{(provider, endpoint, outcome): value} of every tollgate_requests_total series."""
    out = {}
    for line in text.splitlines():
        if line.startswith("tollgate_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[:line.index("}")]))
            out[(labels.get("provider"), labels.get("endpoint"), labels["outcome"])] = float(line.rsplit(" ", 1)[1])
    return out


class OtherHostMetricsTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

    def scrape(self):
        r = requests.get(self.h.admin_url + "/metrics", timeout=10)
        r.raise_for_status()
        return requests_total(r.text)

    def test_tunnels_forwards_and_refusals_are_labelled(self):
        with tls_through(self.h.port, TUNNEL_HOST, self.h.upstream_ca) as tls:
            tls.sendall(request("GET", "/echo", TUNNEL_HOST))
            self.assertEqual(Reader(tls).read_response().status, 200)
        sock, status = connect_through(self.h.port, TUNNEL_HOST, 8443)  # port not allowed
        sock.close()
        self.assertTrue(status.startswith("HTTP/1.1 403"), status)
        r = requests.get("http://%s/echo" % PLAIN_HOST, proxies=self.h.proxies(), timeout=20)
        self.assertEqual(r.status_code, 200)
        r = requests.get("http://unreachable.test/x", proxies=self.h.proxies(), timeout=20)
        self.assertEqual(r.status_code, 502)

        none = "(none)"
        want = {(none, none, "tunneled"): 1.0, (none, none, "refused"): 1.0,
                (none, none, "forwarded"): 1.0, (none, none, "error"): 1.0}
        # Forwards are counted once the exchange settles, right after the client has its answer.
        deadline = time.time() + 10
        while time.time() < deadline and {k: v for k, v in self.scrape().items() if k in want} != want:
            time.sleep(0.05)
        series = self.scrape()
        self.assertEqual({k: v for k, v in series.items() if k in want}, want, series)
        empty = [k for k in series if "" in k or None in k]
        self.assertEqual(empty, [], series)


class TimingMetricsTest(HarnessTestCase):
    """tollgate_upstream_seconds and tollgate_overhead_seconds: one observation per exchange,
    for provider and other hosts alike (the upstream histogram was observed twice per provider
    exchange, once by the relay and once by the hooks)."""

    @classmethod
    def setUpClass(cls):
        cls.h = Harness()

    def counts(self):
        text = requests.get(self.h.admin_url + "/metrics", timeout=10).text
        out = {}
        for name in ("tollgate_upstream_seconds_count", "tollgate_overhead_seconds_count"):
            m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % name, text, re.M)
            out[name] = float(m.group(1)) if m else 0.0
        return out

    def test_one_observation_per_exchange(self):
        before = self.counts()
        body = {"model": "gpt-4o-mini", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            r = requests.post("https://api.openai.com/v1/chat/completions", json=body,
                              headers={"Authorization": "Bearer sk-m"}, proxies=self.h.proxies(),
                              verify=self.h.ca_bundle, timeout=20)
            self.assertEqual(r.status_code, 200)
        r = requests.get("http://%s/echo" % PLAIN_HOST, proxies=self.h.proxies(), timeout=20)
        self.assertEqual(r.status_code, 200)
        want = {k: v + 4 for k, v in before.items()}
        deadline = time.time() + 10
        while time.time() < deadline and self.counts() != want:
            time.sleep(0.05)
        self.assertEqual(self.counts(), want)


if __name__ == "__main__":
    unittest.main()
