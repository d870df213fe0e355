"""Runs one of tests/node's scripts (a real Node SDK as a user sets it up) and reads the one JSON
object it prints last; shared by the test_node_*.py tests. Proxy and SDK settings of the machine
never leak into a script: each is given exactly what it uses."""
import json
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
NODE_DIR = os.path.join(ROOT, "tests", "node")
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_SDK_VARIABLES = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                  "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                  "GOOGLE_GENAI_USE_VERTEXAI", "NODE_OPTIONS", "NODE_USE_ENV_PROXY",
                  "NODE_EXTRA_CA_CERTS")


def run_node_script(script, env, modules=("openai",), timeout=60):
    """(the finished process, the JSON object of its last line or None)."""
    node = shutil.which("node")
    if not node:
        raise RuntimeError("node is not installed: run scripts/install-deps")
    for module in modules:
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", module)):
            raise RuntimeError("tests/node/node_modules lacks %s: run scripts/install-deps" % module)
    full = {k: v for k, v in os.environ.items()
            if k.lower() not in _PROXY_VARIABLES and k not in _SDK_VARIABLES}
    full.update(env)
    run = subprocess.run([node, os.path.join(NODE_DIR, script)], cwd=NODE_DIR, env=full,
                         capture_output=True, text=True, timeout=timeout)
    try:
        out = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = None
    return run, out


class NodeScriptChecks:
    """Mixin for a test class whose setUpClass set run_ and out: each test first checks that the
    script ran to its end and printed its JSON."""

    def setUp(self):
        super().setUp()
        self.assertEqual(self.run_.returncode, 0, self.run_.stderr)
        self.assertIsNotNone(self.out, "no JSON from node:\n%s\n%s" % (self.run_.stdout,
                                                                        self.run_.stderr))
