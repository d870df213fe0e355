"""Issue 14's acceptance test for current models: the newest Node SDKs (openai, @anthropic-ai/sdk,
@google/genai) through a real tollgate as their proxy, asking for the current models under every
name a user writes (plain, dated snapshots, OpenAI's -MMDD form, -latest aliases, Gemini's models/
prefix), are priced at the catalog's prices to the micro-unit.

tests/node/current_models.mjs makes the calls this file lists in CASES; the stand-in provider
answers each with the usage given here (cached tokens, cache writes, reasoning, prompts above the
long-context threshold) and the model name the provider bills. The expected cost of every call is
computed here from rules/catalog/*.yaml alone (not from tollgate), following each provider's usage
convention, and compared with the settled cost record tollgate keeps for the call (/v1/records),
with the spend per model (/v1/spend) and with the budget's spent (/v1/budgets).

Needs node and tests/node/node_modules (`scripts/install-deps` runs `npm ci` there)."""
import json
import math
import os
import sys
import unittest
from collections import defaultdict
from decimal import Decimal

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from node_script import NODE_DIR, NodeScriptChecks, run_node_script  # noqa: E402
from budget_support import BudgetHarness, BudgetTestCase, micros  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(NODE_DIR, "current_models.mjs")
CATALOG = os.path.join(ROOT, "rules", "catalog")

# Large enough for every call (the long-context ones cost a few USD each).
RULES = """
budgets:
  - { name: current, currency: usd, limit: 1000, period: day, match: { provider: [openai, anthropic, gemini] } }
"""


def case(id_, api, model, priced_as, billed=None, prompt=0, output=0, cached=0, reasoning=0,
         write_5m=0, write_1h=0, tier=None, answered=None):
    """One call. `prompt` and `output` are the counts as the provider reports them: OpenAI's
    prompt_tokens (cached included) and completion_tokens (reasoning included); Anthropic's
    input_tokens (cache reads and writes apart); Gemini's promptTokenCount (cached included) and
    candidatesTokenCount (thoughts apart). `billed` is the model the answer names (the request's,
    without models/, when None); `priced_as` the catalog entry that name is billed at. `tier` is
    the service_tier the request asks for (OpenAI), `answered` the one the answer names when not
    the one asked (the stand-in answers flex and priority as asked, anything else as default)."""
    return {"id": id_, "api": api, "model": model, "priced_as": priced_as,
            "billed": billed or model.removeprefix("models/"), "prompt": prompt, "output": output,
            "cached": cached, "reasoning": reasoning, "write_5m": write_5m, "write_1h": write_1h,
            "tier": tier, "answered": answered}


def answered_tier(c):
    if c["answered"]:
        return c["answered"]
    return c["tier"] if c["tier"] in ("flex", "priority") else "default"


CASES = [
    # OpenAI: gpt-5.4 (long context above 272K prompt tokens), gpt-5.2, their dated snapshots (the
    # name the answer bills), the -MMDD form, a -chat-latest entry, a snapshot priced apart.
    case("oa-gpt-5.4", "openai-chat", "gpt-5.4", "gpt-5.4", billed="gpt-5.4-2026-03-05",
         prompt=12000, cached=8000, output=3000, reasoning=1200),
    case("oa-gpt-5.4-long", "openai-responses", "gpt-5.4", "gpt-5.4", billed="gpt-5.4-2026-03-05",
         prompt=300000, cached=120000, output=4000, reasoning=2500),
    case("oa-gpt-5.4-at-threshold", "openai-chat", "gpt-5.4", "gpt-5.4",
         prompt=272000, cached=72000, output=1000),
    case("oa-gpt-5.4-dated", "openai-chat-stream", "gpt-5.4-2026-03-05", "gpt-5.4",
         prompt=5000, cached=1024, output=800),
    case("oa-gpt-5.4-mini-dated", "openai-chat", "gpt-5.4-mini-2026-03-17", "gpt-5.4-mini",
         prompt=7000, cached=2048, output=1500, reasoning=700),
    case("oa-gpt-5.2", "openai-chat", "gpt-5.2", "gpt-5.2", billed="gpt-5.2-2025-12-11",
         prompt=40000, cached=30000, output=2000, reasoning=500),
    case("oa-gpt-5.2-dated", "openai-responses", "gpt-5.2-2025-12-11", "gpt-5.2",
         prompt=9000, cached=4096, output=700),
    case("oa-gpt-5.2-large", "openai-chat-stream", "gpt-5.2", "gpt-5.2", billed="gpt-5.2-2025-12-11",
         prompt=400000, cached=100000, output=5000),
    case("oa-gpt-5.2-chat-latest", "openai-chat", "gpt-5.2-chat-latest", "gpt-5.2-chat-latest",
         prompt=3000, cached=1000, output=400),
    case("oa-gpt-3.5-turbo-0125", "openai-chat", "gpt-3.5-turbo-0125", "gpt-3.5-turbo",
         prompt=1500, output=300),
    case("oa-gpt-4o-priced-apart", "openai-chat", "gpt-4o", "gpt-4o-2024-05-13",
         billed="gpt-4o-2024-05-13", prompt=2000, output=500),
    # OpenAI service tiers: flex (half price) and priority, asked in the body and named by the
    # answer; a dated name takes its family's tiers; "auto" answered as priority (a project whose
    # default tier is priority) settles at priority; flex above 272K prompt tokens.
    case("oa-gpt-5.4-flex", "openai-chat", "gpt-5.4", "gpt-5.4", tier="flex",
         prompt=12000, cached=8000, output=3000, reasoning=1200),
    case("oa-gpt-5.4-priority-stream", "openai-chat-stream", "gpt-5.4", "gpt-5.4", tier="priority",
         prompt=5000, cached=1024, output=800),
    case("oa-gpt-5-mini-priority-dated", "openai-responses", "gpt-5-mini", "gpt-5-mini",
         billed="gpt-5-mini-2025-08-07", tier="priority", prompt=9000, cached=4096, output=700),
    case("oa-gpt-5.2-auto-answered-priority", "openai-chat", "gpt-5.2", "gpt-5.2", tier="auto",
         answered="priority", prompt=3000, cached=1000, output=400),
    case("oa-gpt-5.4-flex-long", "openai-responses", "gpt-5.4", "gpt-5.4", tier="flex",
         prompt=300000, cached=120000, output=4000, reasoning=2500),
    # Anthropic: claude-opus-4-6 and claude-sonnet-4-6 (no long-context tier in the catalog), dated
    # snapshots (claude-sonnet-4-5's above 200K prompt tokens), -latest aliases billed as snapshots.
    case("an-opus-4-6", "anthropic", "claude-opus-4-6", "claude-opus-4-6",
         prompt=3000, cached=20000, write_5m=4000, write_1h=1000, output=1500),
    case("an-sonnet-4-6", "anthropic-stream", "claude-sonnet-4-6", "claude-sonnet-4-6",
         prompt=2000, cached=50000, output=900),
    case("an-sonnet-4-6-large", "anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6",
         prompt=150000, cached=100000, write_5m=20000, output=3000),
    case("an-sonnet-4-5-dated-long", "anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5",
         prompt=150000, cached=60000, write_5m=5000, write_1h=10000, output=2000),
    case("an-haiku-4-5-dated", "anthropic-stream", "claude-haiku-4-5-20251001", "claude-haiku-4-5",
         prompt=800, cached=3000, output=400),
    case("an-opus-4-5-dated", "anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5",
         prompt=1200, cached=9000, write_1h=2000, output=600),
    case("an-3-7-sonnet-latest", "anthropic", "claude-3-7-sonnet-latest", "claude-3-7-sonnet",
         billed="claude-3-7-sonnet-20250219", prompt=1000, output=200),
    case("an-3-5-haiku-latest", "anthropic-stream", "claude-3-5-haiku-latest", "claude-3-5-haiku",
         billed="claude-3-5-haiku-20241022", prompt=1100, cached=400, output=250),
    # Gemini: gemini-3.1-pro-preview (long context above 200K), the -latest aliases (priced on
    # their own), the models/ prefix, a numbered version.
    case("ge-3.1-pro", "gemini", "gemini-3.1-pro-preview", "gemini-3.1-pro-preview",
         prompt=30000, cached=20000, output=1500, reasoning=2500),
    case("ge-3.1-pro-long", "gemini-stream", "gemini-3.1-pro-preview", "gemini-3.1-pro-preview",
         prompt=250000, cached=50000, output=3000, reasoning=4000),
    case("ge-3.1-pro-prefixed", "gemini", "models/gemini-3.1-pro-preview", "gemini-3.1-pro-preview",
         prompt=5000, output=500, reasoning=100),
    case("ge-flash-latest", "gemini", "gemini-flash-latest", "gemini-flash-latest",
         prompt=8000, cached=4000, output=600, reasoning=300),
    case("ge-flash-latest-prefixed", "gemini-stream", "models/gemini-flash-latest", "gemini-flash-latest",
         prompt=6000, cached=2000, output=700),
    case("ge-pro-latest-long", "gemini", "gemini-pro-latest", "gemini-pro-latest",
         prompt=210000, cached=10000, output=1000, reasoning=900),
    case("ge-3-flash-prefixed", "gemini-stream", "models/gemini-3-flash-preview", "gemini-3-flash-preview",
         prompt=4000, cached=1000, output=300, reasoning=200),
    case("ge-2.0-flash-001", "gemini", "gemini-2.0-flash-001", "gemini-2.0-flash",
         prompt=2000, cached=500, output=100),
]


def load_catalog():
    """{provider: {model: prices}} from rules/catalog/*.yaml."""
    out = {}
    for name in ("openai", "anthropic", "gemini"):
        with open(os.path.join(CATALOG, name + ".yaml")) as f:
            doc = yaml.safe_load(f)
        out[name] = doc["providers"][name]["models"]
    return out


def provider_of(api):
    return {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}[api.split("-")[0]]


def tier_prices(prices, tier):
    """The model's prices as a service tier bills them: the tier's input, cached_input and output;
    every other token price scaled as its kind is, each rounded up to the micro-unit per 1M tokens
    (as tollgate makes them at config load)."""
    t = (prices.get("tiers") or {}).get(tier)
    if not t:
        return prices
    d = lambda v: Decimal(str(v))  # noqa: E731
    up = lambda v: math.ceil(v * 1000000) / Decimal(1000000)  # noqa: E731
    out = {k: v for k, v in prices.items() if k != "tiers"}
    out["input"], out["output"] = t["input"], t["output"]
    ratio_in = d(t["input"]) / d(prices["input"])
    out["cached_input"] = t["cached_input"] if "cached_input" in t else (
        up(d(prices["cached_input"]) * ratio_in) if "cached_input" in prices else None)
    if out["cached_input"] is None:
        del out["cached_input"]
    for key in ("cache_write", "cache_write_1h", "cache_write_long", "input_long"):
        if key in prices:
            out[key] = up(d(prices[key]) * ratio_in)
    if "output_long" in prices:
        out["output_long"] = up(d(prices["output_long"]) * d(t["output"]) / d(prices["output"]))
    if "cached_input_long" in prices:
        out["cached_input_long"] = up(d(prices["cached_input_long"]) * d(out["cached_input"])
                                      / d(prices["cached_input"]))
    return out


def expected_micros(prices, c, provider):
    """The cost of one call in micro-USD, rounded up once per call, from the catalog's prices (USD
    per 1M tokens, so tokens x price is micro-USD) and the provider's usage convention, at the
    service tier the answer names."""
    if provider == "openai":
        prices = tier_prices(prices, answered_tier(c))
    d = lambda key: Decimal(str(prices[key])) if key in prices else None  # noqa: E731
    if provider == "anthropic":  # input_tokens excludes cache reads and writes
        uncached, output = c["prompt"], c["output"]
        prompt = c["prompt"] + c["cached"] + c["write_5m"] + c["write_1h"]
    elif provider == "openai":  # prompt includes cached, completion includes reasoning
        uncached, output, prompt = c["prompt"] - c["cached"], c["output"], c["prompt"]
    else:  # gemini: prompt includes cached; thoughts are billed as output, apart from candidates
        uncached, output, prompt = c["prompt"] - c["cached"], c["output"] + c["reasoning"], c["prompt"]
    base_input = d("input")
    long = "long_context_threshold" in prices and prompt > prices["long_context_threshold"]
    if long:
        inp = d("input_long") or base_input
        cached = d("cached_input_long") or d("cached_input") or inp
        write = d("cache_write_long") or d("cache_write") or inp
        # A 1-hour write scales with the input price of the tier (2x input for Claude).
        write_1h = d("cache_write_1h") * inp / base_input if d("cache_write_1h") else write
        out = d("output_long") or d("output")
    else:
        inp, out = base_input, d("output")
        cached = d("cached_input") or inp
        write = d("cache_write") or inp
        write_1h = d("cache_write_1h") or write
    total = (uncached * inp + c["cached"] * cached + c["write_5m"] * write + c["write_1h"] * write_1h
             + output * out)
    return math.ceil(total), long


def fake_headers(c):
    h = {"x-req-id": c["id"], "x-fake-header": "x-request-id: " + c["id"],
         "x-fake-usage": "%d,%d" % (c["prompt"], c["output"])}
    for key, header in (("cached", "x-fake-cached"), ("reasoning", "x-fake-reasoning"),
                        ("write_5m", "x-fake-cache-5m"), ("write_1h", "x-fake-cache-1h")):
        if c[key]:
            h[header] = str(c[key])
    if c["billed"] != c["model"].removeprefix("models/"):
        h["x-fake-model"] = c["billed"]
    if c["answered"]:
        h["x-fake-service-tier"] = c["answered"]
    return h


class NodeCurrentModelsTest(NodeScriptChecks, BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.catalog = load_catalog()
        cls.h = BudgetHarness(store="memory", rules=RULES)
        calls = [{"id": c["id"], "api": c["api"], "model": c["model"], "headers": fake_headers(c),
                  "service_tier": c["tier"]} for c in CASES]
        cls.run_, cls.out = run_node_script(
            SCRIPT, {"TOLLGATE_PROXY": cls.h.proxy_url, "NODE_EXTRA_CA_CERTS": cls.h.ca_bundle,
                    "CASES": json.dumps(calls)},
            modules=("openai", "@anthropic-ai/sdk", "@google/genai", "undici"), timeout=120)

    def expected(self, c):
        provider = provider_of(c["api"])
        models = self.catalog[provider]
        self.assertIn(c["priced_as"], models, "%s is not in rules/catalog/%s.yaml" % (c["priced_as"], provider))
        return expected_micros(models[c["priced_as"]], c, provider)

    def records(self):
        self.assertIsNotNone(self.h.settled("current"), "holds still open")
        r = self.h.admin("GET", "/v1/records?since=1h&limit=1000")
        r.raise_for_status()
        return {rec["upstream_request_id"]: rec for rec in r.json()["records"]}

    def test_every_name_is_answered_not_refused(self):
        for c in CASES:
            with self.subTest(c["id"]):
                got = self.out["cases"][c["id"]]
                self.assertNotIn("failed", got, got)
                self.assertEqual(got["fetch_calls"], 1)
                self.assertEqual(got["model"], c["billed"], "the SDK saw another model")
                self.assertTrue(got["text"], got)
                self.assertIsNotNone(got["usage"], got)
                if c["api"] != "gemini-stream":  # genai's stream chunks carry no response headers
                    self.assertTrue(got["x_tollgate_cost"], got)
        # Each reached the provider once, under the name the SDK was given (the genai SDK puts
        # models/ in the path itself).
        for c in CASES:
            with self.subTest(c["id"]):
                (sent,) = [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == c["id"]]
                if provider_of(c["api"]) == "gemini":
                    self.assertIn("/models/%s:" % c["model"].removeprefix("models/"), sent["path"])
                else:
                    self.assertEqual(json.loads(sent["body"])["model"], c["model"])
        # No name fell back to unknown_model's dearest price.
        self.assertEqual(self.h.events("unpriced_model"), [])
        self.assertEqual(self.h.events("refused"), [])

    def test_each_call_settles_at_the_catalog_price_under_the_billed_name(self):
        records = self.records()
        longs = set()
        for c in CASES:
            with self.subTest(c["id"]):
                want, long = self.expected(c)
                if long:
                    longs.add(c["id"])
                rec = records.get(c["id"])
                self.assertIsNotNone(rec, "no cost record for %s" % c["id"])
                self.assertEqual(rec["outcome"], "complete", rec)
                self.assertEqual(rec["status"], 200, rec)
                self.assertEqual(rec["model"], c["billed"], rec)
                self.assertEqual(micros(rec["actual"]), want, (rec, c))
                got = self.out["cases"][c["id"]]
                if got.get("x_tollgate_record"):
                    self.assertEqual(got["x_tollgate_record"], rec["id"])
        # The long-context tier was met where the catalog has one (and only there).
        self.assertEqual(longs, {"oa-gpt-5.4-long", "oa-gpt-5.4-flex-long", "an-sonnet-4-5-dated-long",
                                 "ge-3.1-pro-long", "ge-pro-latest-long"})

    def test_service_tiers_are_asked_answered_and_priced_apart(self):
        records = self.records()
        tiered = [c for c in CASES if c["tier"]]
        self.assertEqual(len(tiered), 5)
        for c in tiered:
            with self.subTest(c["id"]):
                got = self.out["cases"][c["id"]]
                self.assertEqual(got["service_tier"], answered_tier(c), "the SDK saw another tier")
                (sent,) = [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == c["id"]]
                self.assertEqual(json.loads(sent["body"])["service_tier"], c["tier"])
                # The tier's price is not the standard one: flex costs half, priority more.
                standard, _ = expected_micros(self.catalog["openai"][c["priced_as"]],
                                              dict(c, tier=None, answered="default"), "openai")
                actual = micros(records[c["id"]]["actual"])
                if answered_tier(c) == "flex":
                    self.assertLess(actual, standard * 0.55, (actual, standard))
                else:
                    self.assertGreater(actual, standard * 1.5, (actual, standard))
                # The record names the tier it was settled at, so a spend report can tell them apart.
                self.assertEqual(records[c["id"]].get("service_tier"), answered_tier(c), records[c["id"]])
        # A request settled at the standard price names no tier.
        for c in CASES:
            if answered_tier(c) == "default":
                self.assertNotIn("service_tier", records[c["id"]], c["id"])
        # Held at the tier asked: the same gpt-5.4 chat request is held at half the standard
        # estimate with flex and at twice it with priority; "auto" is held at standard (1000
        # output tokens of gpt-5.2: 0.014 USD and a little input) and settled at priority.
        held = lambda id_: micros(records[id_]["estimate"])  # noqa: E731
        standard = held("oa-gpt-5.4")
        self.assertLess(held("oa-gpt-5.4-flex"), standard * 0.55)
        self.assertGreater(held("oa-gpt-5.4-priority-stream"), standard * 1.9)
        self.assertLess(held("oa-gpt-5.2-auto-answered-priority"), 20000)
        self.assertGreater(held("oa-gpt-5.2-auto-answered-priority"), 14000)

    def test_spend_by_model_and_the_budget_sum_the_same(self):
        want = defaultdict(int)
        for c in CASES:
            want[c["billed"]] += self.expected(c)[0]
        inst = self.h.settled("current")
        self.assertIsNotNone(inst, "holds still open")
        self.assertEqual(micros(inst["spent"]), sum(want.values()))
        r = self.h.admin("GET", "/v1/spend?group_by=model&since=1h")
        r.raise_for_status()
        got = {g["model"]: micros(g["spent"]) for g in r.json()["groups"]}
        self.assertEqual(got, dict(want))


if __name__ == "__main__":
    unittest.main()
