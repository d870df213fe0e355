"""The README works as written, from a folder outside the repository.

- Every ```yaml block of README.md, docs/*.md and the whole config.example.yaml passes
  `tollgate check`, run from a temporary folder (so `include:` of repository paths would fail).
  Blocks that are not tollgate configs say so in their fence (```yaml prometheus, ```yaml kustomize).
- The quick start: `tollgate defaults` (the embedded config `make run` starts on) with only the
  provider host sent to the stand-in, then the README's own curl command, ports changed.
- The five-minute section: its config block as written (plus the stand-in's address), its
  `tollgate estimate` command printing exactly the output the README shows, a request through
  each budget, and `tollgate status --config` finding the admin API from the config.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import FakeProvider, PROVIDER_HOSTS, make_test_pki, tollgate_bin  # noqa: E402
from harness import _cleanup  # noqa: F401,E402  (atexit registration)

ROOT = os.environ.get("TOLLGATE_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN_ENV = {"TOLLGATE_ADMIN_TOKEN": "readme-test-token"}


def code_blocks(path):
    """(info string, text, first line number) of every fenced block; indentation removed."""
    blocks, info, start, indent, lines = [], None, 0, 0, []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if info is None:
                m = re.match(r"^(\s*)```(.*)$", line.rstrip("\n"))
                if m:
                    indent, info, start, lines = len(m.group(1)), m.group(2).strip(), number + 1, []
            elif stripped == "```":
                blocks.append((info, "".join(lines), start))
                info = None
            else:
                lines.append(line[indent:] if line[:indent].strip() == "" else line)
    return blocks


def section(path, heading):
    """The text of README section `heading` (up to the next heading of the same level)."""
    with open(path) as f:
        text = f.read()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else len(text)]


def run(args, cwd, env=None, timeout=30):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


class Tollgate:
    """`tollgate run --config FILE --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0` in `cwd`."""

    def __init__(self, config_path, cwd, env=None):
        self.proc = subprocess.Popen(
            [tollgate_bin(), "run", "--config", config_path, "--listen", "127.0.0.1:0",
             "--admin-listen", "127.0.0.1:0"],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, **(env or {})))
        self.lines = []
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("tollgate: admin listening"):
                break
        text = "\n".join(self.lines)
        m = re.search(r"proxy listening on (http://127\.0\.0\.1:(\d+))", text)
        a = re.search(r"admin listening on (http://127\.0\.0\.1:(\d+))", text)
        if not m or not a:
            self.proc.kill()
            raise RuntimeError("tollgate did not start:\n%s\n%s" % (text, self.proc.stderr.read()))
        self.proxy_url, self.port = m.group(1), int(m.group(2))
        self.admin_url, self.admin_port = a.group(1), int(a.group(2))

    def stop(self):
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


class ReadmeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tollgate-readme-")
        cls.upstream_ca, cert, key = make_test_pki(cls.dir)
        cls.fake = FakeProvider(cert, key)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def workdir(self, name):
        path = os.path.join(self.dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def redirect(self, config):
        """The stand-in provider in place of the real hosts: the only change to a README config."""
        config.setdefault("tls", {})["upstream_trust"] = self.upstream_ca
        config.setdefault("upstream", {})["resolve"] = {
            "%s:443" % h: "127.0.0.1:%d" % self.fake.port for h in PROVIDER_HOSTS}
        return config

    def test_every_yaml_block_passes_check(self):
        sources = [os.path.join(ROOT, "README.md")] + sorted(
            os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
            if f.endswith(".md"))
        checked = 0
        cwd = self.workdir("blocks")
        for source in sources:
            for info, text, line in code_blocks(source):
                if info != "yaml":
                    continue
                name = "%s-%d.yaml" % (os.path.basename(source), line)
                with open(os.path.join(cwd, name), "w") as f:
                    f.write(text)
                r = run([tollgate_bin(), "check", "--config", name], cwd, TOKEN_ENV)
                self.assertEqual(r.returncode, 0, "%s:%d does not pass tollgate check:\n%s%s"
                                 % (source, line, r.stdout, r.stderr))
                checked += 1
        self.assertGreaterEqual(checked, 3)
        # A user copies the example next to their app: it must not need the repository.
        with open(os.path.join(ROOT, "config.example.yaml")) as src, \
                open(os.path.join(cwd, "config.example.yaml"), "w") as dst:
            dst.write(src.read())
        r = run([tollgate_bin(), "check", "--config", "config.example.yaml"], cwd, TOKEN_ENV)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_quick_start(self):
        cwd = self.workdir("quick")
        defaults = run([tollgate_bin(), "defaults"], cwd)
        self.assertEqual(defaults.returncode, 0, defaults.stderr)
        config = self.redirect(yaml.safe_load(defaults.stdout))
        with open(os.path.join(cwd, "tollgate.yaml"), "w") as f:
            yaml.safe_dump(config, f)
        t = Tollgate("tollgate.yaml", cwd)
        try:
            text = "\n".join(t.lines)
            self.assertIn("export HTTPS_PROXY=%s" % t.proxy_url, text)
            self.assertIn("REQUESTS_CA_BUNDLE=", text)
            block = next(b for i, b, _ in code_blocks(os.path.join(ROOT, "README.md"))
                         if "make run" in b and "curl" in b)
            # The README's commands after `make run`, as a shell would run them, ports changed.
            script = block.split("\n", 1)[1].replace("127.0.0.1:8080", "127.0.0.1:%d" % t.port)
            r = run(["bash", "-euc", script], cwd, {"OPENAI_API_KEY": "sk-readme"}, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"HTTP/1.1 200")
            self.assertRegex(r.stdout, r"(?i)x-tollgate-cost: 0\.\d+")
            with urllib.request.urlopen(t.admin_url + "/v1/budgets") as res:
                budgets = json.load(res)["budgets"]
            daily = next(b for b in budgets if b["name"] == "daily")
            self.assertNotEqual(daily["spent"], "0")
        finally:
            code, out, _ = t.stop()
        self.assertEqual(code, 0)
        self.assertIn("tollgate: stopped", out)

    def test_five_minutes(self):
        readme = os.path.join(ROOT, "README.md")
        text = section(readme, "## Budgets: cap a Keepa key and an OpenAI key in five minutes")
        cwd = self.workdir("five")
        block = next(b for i, b, _ in code_blocks(readme) if i == "yaml" and b in text.replace(
            "\n   ", "\n"))
        self.assertNotIn("rules/catalog/", block, "repository paths fail outside the repository")
        with open(os.path.join(cwd, "as-written.yaml"), "w") as f:
            f.write(block)
        # Without the token the config does not load: the README says to set it.
        self.assertIn("export TOLLGATE_ADMIN_TOKEN=", text)
        r = run([tollgate_bin(), "check", "--config", "as-written.yaml"], cwd, TOKEN_ENV)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # Step 4: the estimate command prints exactly what the README shows.
        blocks = code_blocks(readme)
        at = next(i for i, (info, b, _) in enumerate(blocks)
                  if info == "sh" and b.startswith("tollgate estimate"))
        command, shown = blocks[at][1], blocks[at + 1][1]
        args = shlex.split(command.replace("tollgate.yaml", "as-written.yaml"))[1:]
        r = run([tollgate_bin()] + args, cwd, TOKEN_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, shown)

        config = self.redirect(yaml.safe_load(block.replace("${TOLLGATE_ADMIN_TOKEN}",
                                                            TOKEN_ENV["TOLLGATE_ADMIN_TOKEN"])))
        with open(os.path.join(cwd, "tollgate.yaml"), "w") as f:
            yaml.safe_dump(config, f)
        t = Tollgate("tollgate.yaml", cwd, TOKEN_ENV)
        try:
            bundle = os.path.join(cwd, "tollgate-data", "ca", "bundle.pem")
            keepa = run(["curl", "-sS", "--compressed", "-x", t.proxy_url, "--cacert", bundle,
                         "https://api.keepa.com/product?key=K&domain=1&asin=A,B,C"], cwd)
            self.assertEqual(keepa.returncode, 0, keepa.stderr)
            self.assertEqual(json.loads(keepa.stdout)["tokensConsumed"], 3)
            chat = run(["curl", "-sS", "-x", t.proxy_url, "--cacert", bundle,
                        "https://api.openai.com/v1/chat/completions", "-H",
                        "Authorization: Bearer sk-one", "-H", "content-type: application/json",
                        "-d", '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],'
                              '"max_tokens":20}'], cwd)
            self.assertEqual(chat.returncode, 0, chat.stderr)
            # Step 5: status finds the admin API through the config (its port was changed).
            with open(os.path.join(cwd, "tollgate.yaml")) as f:
                config = yaml.safe_load(f)
            config["admin"]["listen"] = "127.0.0.1:%d" % t.admin_port
            with open(os.path.join(cwd, "status.yaml"), "w") as f:
                yaml.safe_dump(config, f)
            status = run([tollgate_bin(), "status", "--config", "status.yaml"], cwd)
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertRegex(status.stdout, r"keepa-hourly\s+-\s+3 / 3000 keepa_token")
            self.assertRegex(status.stdout, r"openai-daily\s+\S+\s+0\.\d+ / 20 usd")
        finally:
            t.stop()


if __name__ == "__main__":
    unittest.main()
