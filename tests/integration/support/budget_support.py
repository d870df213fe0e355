"""Shared pieces of the budget enforcement tests (issue 4): a harness with a SQLite ledger, an admin
token and budget rules of the test's own, plus readers for the admin API in exact micro-units."""
import json
import os
import sys
import time
from decimal import Decimal

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness, HarnessTestCase  # noqa: E402

TOKEN = "budget-test-token"
CHAT_URL = "https://api.openai.com/v1/chat/completions"


def micros(text):
    """An amount as the admin API writes it ("0.000068") in integer micro-units."""
    return int(Decimal(text) * 1_000_000)


def wait_for(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class BudgetHarness(Harness):
    """tollgate with `store` (sqlite by default), the admin token and `rules` appended."""

    def __init__(self, rules, store="sqlite", **kw):
        super().__init__(extra_yaml=rules, store=store, admin_token=TOKEN, **kw)

    def restart(self):
        self.stdout_lines = []
        self.start()

    # --- admin API -------------------------------------------------------------------------------
    def admin(self, method, path, **kw):
        headers = kw.pop("headers", {})
        headers["Authorization"] = "Bearer " + TOKEN
        return requests.request(method, self.admin_url + path, headers=headers, timeout=10, **kw)

    def instances(self, name):
        """{key: instance} of one budget."""
        r = self.admin("GET", "/v1/budgets/" + name)
        r.raise_for_status()
        return {b["key"]: b for b in r.json()["budgets"]}

    def instance(self, name, key=None):
        found = self.instances(name)
        if key is None:
            assert len(found) == 1, found
            return next(iter(found.values()))
        return found[key]

    def settled(self, name, key=None, timeout=10.0):
        """The instance once no hold is left on it (what tollgate reserved has all settled), or
        None when holds are still open after `timeout` seconds."""
        def check():
            inst = self.instance(name, key)
            return inst if micros(inst["reserved"]) == 0 else None
        return wait_for(check, timeout)

    def events(self, type_=None):
        r = self.admin("GET", "/v1/events?since=0")
        r.raise_for_status()
        return [e for e in r.json()["events"] if type_ is None or e["type"] == type_]

    def balances(self):
        r = self.admin("GET", "/v1/balances")
        r.raise_for_status()
        return r.json()["balances"]

    # --- clients ---------------------------------------------------------------------------------
    def chat(self, req_id=None, usage="50,100", max_tokens=100, model="gpt-4o-mini", headers=None,
             session=None, **kw):
        h = {"authorization": "Bearer sk-test", "x-fake-usage": usage}
        if req_id is not None:
            h["x-req-id"] = str(req_id)
        h.update(headers or {})
        body = {"model": model, "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": "count to three"}]}
        body.update(kw.pop("body", {}))
        proxies = kw.pop("proxies", None) or self.proxies()
        return (session or requests).post(CHAT_URL, json=body, headers=h, proxies=proxies,
                                          verify=self.ca_bundle, timeout=kw.pop("timeout", 30), **kw)


class BudgetTestCase(HarnessTestCase):
    def assert_refusal(self, r, kind, name=None, status=429, should_retry="false", retry_after=True):
        """A local refusal as DESIGN §7 shapes it; returns the parsed JSON body."""
        self.assertEqual(r.status_code, status, r.text)
        self.assertEqual(r.headers.get("x-tollgate-refused"), kind, dict(r.headers))
        self.assertEqual(r.headers.get("x-should-retry"), should_retry)
        if name is not None:
            self.assertEqual(r.headers.get("x-tollgate-budget"), name)
        if retry_after:
            self.assertGreaterEqual(int(r.headers["retry-after"]), 0)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        return json.loads(r.text)


class TwoSidecarsTestCase(BudgetTestCase):
    """Two tollgates (`h`, `h2`: each its own process, data dir and fake provider) sharing the
    budgets of RULES through one real redis-server, under keys that start with PREFIX."""
    RULES = ""
    PREFIX = "t:"

    @classmethod
    def setUpClass(cls):
        from redis_server import RedisServer  # here: redis_server imports this module
        cls.redis = RedisServer()
        store = "redis, redis: { url: \"%s\", prefix: \"%s\" }" % (cls.redis.url, cls.PREFIX)
        cls.h = BudgetHarness(store=store, rules=cls.RULES)
        cls.h2 = BudgetHarness(store=store, rules=cls.RULES)

    @classmethod
    def tearDownClass(cls):
        cls.h2.close(keep_logs=cls._failed)
        super().tearDownClass()
        cls.redis.stop()
