"""Start-up and shutdown of the proxy: SIGTERM drains in-flight exchanges and exits 0."""
import os
import signal
import sys
import threading
import time
import unittest

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness  # noqa: E402


class ProxyLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.h = Harness()

    def tearDown(self):
        self.h.close(keep_logs=hasattr(self, "_outcome") and not self._outcome.success)

    def test_start_prints_the_proxy_url_and_a_bundle_with_the_ca(self):
        self.assertRegex(self.h.stdout_lines[0], r"^tollgate: proxy listening on http://127\.0\.0\.1:\d+$")
        with open(self.h.ca_bundle) as f:
            bundle = f.read()
        with open(os.path.join(self.h.dir, "data", "ca", "ca.crt")) as f:
            self.assertIn(f.read().strip(), bundle)
        key = os.path.join(self.h.dir, "data", "ca", "ca.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)

    def test_threads_are_named_and_the_heap_gives_memory_back_by_itself(self):
        # top -H and perf name each thread; the binary's jemalloc runs with the options main.cpp
        # compiles in (its background thread returns freed pages), which a lost malloc_conf
        # symbol would silently drop.
        task = "/proc/%d/task" % self.h.proc.pid
        names = set()
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "comm")) as f:
                names.add(f.read().strip())
        self.assertIn("tg-worker", names)
        with open("/proc/%d/maps" % self.h.proc.pid) as f:
            jemalloc = "libjemalloc" in f.read()
        if jemalloc:
            self.assertIn("jemalloc_bg_thd", names)

    def test_sigterm_with_a_request_in_flight_still_answers_it(self):
        result = {}

        def slow():
            r = requests.get("https://api.openai.com/slow?ms=1500", proxies=self.h.proxies(),
                             verify=self.h.ca_bundle, timeout=20)
            result["status"], result["body"] = r.status_code, r.json()

        t = threading.Thread(target=slow)
        t.start()
        deadline = time.time() + 10
        while not any(r["path"].startswith("/slow") for r in self.h.fake.requests) and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.h.stop(signal.SIGTERM), 0)
        t.join(20)
        self.assertEqual(result, {"status": 200, "body": {"slept_ms": 1500}})
        with self.assertRaises(requests.exceptions.ConnectionError):
            requests.get("http://plain.test/echo", proxies=self.h.proxies(), timeout=5)


if __name__ == "__main__":
    unittest.main()
