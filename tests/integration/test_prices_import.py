"""`tollgate prices import` on LiteLLM's price table (tests/data, a copy of ../shared/data's file of
2026-07-24) through the real binary (issue 14):

- it reproduces the shipped catalog's prices for every model both list: each difference it
  reports must be one the catalog file states in a `differs from LiteLLM: MODEL FIELDS (why)`
  comment, and each such comment must still name a real difference (no stale excuses);
- the YAML it writes, included after the catalog, loads with `tollgate check`;
- --provider picks one provider, and a provider the catalog lacks is an error (exit 2).
"""
import fnmatch
import glob
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import tollgate_bin  # noqa: E402

ROOT = os.environ.get("TOLLGATE_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLE = os.path.join(ROOT, "tests", "data", "litellm_model_prices_2026-07-24.json")
DIFFERENCE = re.compile(r"^(\S+) (\S+) (\S+): catalog (\S+), LiteLLM (\S+)$")


def run(*args, cwd=None):
    return subprocess.run([tollgate_bin(), *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def stated_exceptions():
    """{provider: [(model pattern, [field patterns])]} from the catalog files' comments."""
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "rules", "catalog", "*.yaml"))):
        provider = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            for line in f:
                m = re.match(r"^\s*#.*differs from LiteLLM: (\S+) (\S+)", line)
                if m:
                    out.setdefault(provider, []).append((m.group(1), m.group(2).split(",")))
    return out


class PricesImportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.result = run("prices", "import", TABLE)

    def differences(self):
        found = []
        for line in self.result.stderr.splitlines():
            m = DIFFERENCE.match(line)
            if m:
                found.append(m.groups())
        return found

    def test_the_catalog_prices_of_every_model_both_list(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        # Each provider of the catalog that LiteLLM prices reports how many models both list.
        for provider in ("openai", "anthropic", "gemini", "veo"):
            self.assertRegex(self.result.stderr, r"(?m)^%s: \d+ models in the catalog, \d+ in "
                             r"the table .*, [1-9]\d* in both" % provider)
        exceptions = stated_exceptions()
        unexplained, used = [], set()
        for provider, model, field, catalog, litellm in self.differences():
            matched = [(m, f) for m, f in exceptions.get(provider, [])
                       if fnmatch.fnmatchcase(model, m)
                       and any(fnmatch.fnmatchcase(field, p) for p in f)]
            if not matched:
                unexplained.append("%s %s %s: catalog %s, LiteLLM %s"
                                   % (provider, model, field, catalog, litellm))
            used.update((provider, m, ",".join(f)) for m, f in matched)
        self.assertEqual(unexplained, [], "prices that differ from LiteLLM's table without a "
                         "`differs from LiteLLM:` comment in rules/catalog/PROVIDER.yaml")
        stale = [(p, m, ",".join(f)) for p, items in exceptions.items() for m, f in items
                 if (p, m, ",".join(f)) not in used]
        self.assertEqual(stale, [], "`differs from LiteLLM:` comments that name no difference")

    def test_the_filter_and_the_prefixes(self):
        yaml_text = self.result.stdout
        openai = yaml_text[yaml_text.index("  openai:"):yaml_text.index("  anthropic:")]
        gemini = yaml_text[yaml_text.index("  gemini:"):yaml_text.index("  veo:")]
        # api.openai.com takes LiteLLM's openai entries only: no Claude, no DeepSeek.
        self.assertNotIn("claude", openai)
        self.assertNotIn("deepseek", openai)
        self.assertIn("      gpt-5.4: { input: 2.5, cached_input: 0.25, output: 15, max_output: "
                      "128000, long_context_threshold: 272000, input_long: 5, "
                      "cached_input_long: 0.5, output_long: 22.5, tiers: { flex: { input: 1.25, "
                      "cached_input: 0.13, output: 7.5 }, priority: { input: 5, cached_input: 0.5, "
                      "output: 30 } } }", openai)
        # OpenAI's service tiers are imported; Gemini's (which the catalog does not read) are not.
        self.assertNotIn("tiers:", gemini)
        self.assertIn("      sora-2-pro: { per_second: 0.3 }", openai)
        # The Gemini host takes the gemini/ entries: gemini-2.0-flash-001 at 0.10/0.40 (the same
        # as its family, so left out of the YAML), not Vertex's 0.15/0.60 under the bare name.
        self.assertIn("      gemini-2.0-flash: { input: 0.1, cached_input: 0.025, output: 0.4",
                      gemini)
        self.assertNotIn("gemini-2.0-flash-001:", gemini)
        self.assertNotIn("input: 0.15, cached_input: 0.0375, output: 0.6", gemini)
        # A dated snapshot priced as its family is left out; one priced apart stays.
        self.assertNotIn("gpt-4o-2024-08-06:", openai)
        self.assertIn("gpt-4o-2024-05-13: { input: 5, output: 15", openai)

    def test_out_file_loads_after_the_catalog(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "anthropic-prices.yaml")
            r = run("prices", "import", TABLE, "--provider", "anthropic", "--out", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"(?m)^anthropic: 19 models in the catalog")
            self.assertRegex(r.stdout, r"(?m)^wrote .*anthropic-prices.yaml \(0 prices differ")
            with open(out) as f:
                text = f.read()
            self.assertIn("  anthropic:\n    models:\n", text)
            self.assertNotIn("  openai:", text)
            self.assertIn("claude-opus-4-6: { input: 5, cached_input: 0.5, cache_write: 6.25, "
                          "cache_write_1h: 10, output: 25, max_output: 128000, per_call: "
                          "{ web_search: 0.01 } }", text)
            config = os.path.join(tmp, "tollgate.yaml")
            with open(config, "w") as f:
                f.write("include: [catalog:anthropic, anthropic-prices.yaml]\n")
            check = run("check", "--config", config)
            self.assertEqual(check.returncode, 0, check.stderr)

    def test_unknown_provider(self):
        r = run("prices", "import", TABLE, "--provider", "opnai")
        self.assertEqual(r.returncode, 2)
        self.assertIn("the catalog in use has no provider 'opnai' (it has ", r.stderr)

    def test_unreadable_file(self):
        r = run("prices", "import", "/nonexistent/prices.json")
        self.assertEqual(r.returncode, 1)
        self.assertIn("prices import: cannot read '/nonexistent/prices.json'", r.stderr)


if __name__ == "__main__":
    unittest.main()
