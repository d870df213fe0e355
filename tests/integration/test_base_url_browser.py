"""A real browser against base-URL mode (DESIGN §14): headless Chromium loads a page from
http://localhost:PAGE and calls http://127.0.0.1:PROXY/openai/v1 with fetch(), as a web app with
the OpenAI base URL set does. The browser itself sends the preflights and enforces CORS, so this
checks what the header-level tests (test_base_url_cors.py) cannot: that a page with a listed
origin reads a JSON answer, a budget refusal (status, x-tollgate-refused, the JSON error) and a
stream event by event, and that a page from another origin gets nothing and costs nothing.
Skipped when no chromium is installed."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from budget_support import BudgetHarness, BudgetTestCase  # noqa: E402

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)

# The app: three calls with the headers the openai SDK sends, then the results to /result.
APP_JS = """
const base = "%(base)s";
const headers = (id) => ({"authorization": "Bearer sk-browser", "content-type": "application/json",
                          "x-req-id": id, "x-fake-usage": "50,100"});
const chat = (id, extra) => fetch(base + "/chat/completions", {method: "POST", headers: headers(id),
  body: JSON.stringify(Object.assign({model: "gpt-4o-mini", max_tokens: 100,
                                      messages: [{role: "user", content: "count to three"}]}, extra))});
async function attempt(f) { try { return await f(); } catch (e) { return {error: String(e)}; } }
(async () => {
  const out = {origin: location.origin};
  out.json = await attempt(async () => {
    const r = await chat("browser-json", {});
    return {status: r.status, cost: r.headers.get("x-tollgate-cost"), body: await r.json()};
  });
  out.refusal = await attempt(async () => {
    const r = await chat("browser-refused", {max_tokens: 16000});
    return {status: r.status, refused: r.headers.get("x-tollgate-refused"),
            should_retry: r.headers.get("x-should-retry"), body: await r.json()};
  });
  out.stream = await attempt(async () => {
    const r = await chat("browser-sse", {stream: true});
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let text = "", reads = 0;
    for (;;) { const {value, done} = await reader.read(); if (done) break; reads++;
               text += decoder.decode(value, {stream: true}); }
    return {status: r.status, events: text.split("\\n").filter(l => l.startsWith("data: ")).length,
            done: text.includes("data: [DONE]"), reads};
  });
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
})();
"""
# The same page from an origin that is not listed.
DENIED_JS = """
(async () => {
  let out;
  try {
    const r = await fetch("%(base)s/chat/completions", {method: "POST",
      headers: {"authorization": "Bearer sk-browser", "content-type": "application/json",
                "x-req-id": "browser-denied"}, body: "{}"});
    out = {status: r.status};
  } catch (e) { out = {error: String(e)}; }
  out.origin = location.origin;
  await fetch("/result", {method: "POST", body: JSON.stringify(out)});
})();
"""


class PageServer:
    """Serves /app.html and /denied.html and collects what the pages POST to /result."""

    def __init__(self):
        self.results, self.done = [], threading.Event()
        self.base = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                scripts = {"/app.html": APP_JS, "/denied.html": DENIED_JS}
                if self.path not in scripts:
                    self.send_error(404)
                    return
                script = scripts[self.path] % {"base": server.base}
                iframe = ('<iframe src="http://127.0.0.1:%d/denied.html"></iframe>' % server.port
                          if self.path == "/app.html" else "")
                body = ("<!doctype html><body>%s<script>%s</script>" % (iframe, script)).encode()
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                data = self.rfile.read(int(self.headers["content-length"]))
                server.results.append(json.loads(data))
                self.send_response(204)
                self.end_headers()
                if len(server.results) == 2:
                    server.done.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@unittest.skipUnless(CHROMIUM, "no chromium installed")
class BrowserTest(BudgetTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pages = PageServer()
        cls.app = "http://localhost:%d" % cls.pages.port
        cls.h = BudgetHarness(store="memory", rules="""
base_url: { cors_origins: ["%s"] }
budgets:
  - { name: web, currency: usd, limit: 0.005, period: day, match: { provider: [openai] } }
""" % cls.app)
        cls.pages.base = "http://127.0.0.1:%d/openai/v1" % cls.h.port
        profile = tempfile.mkdtemp(prefix="tollgate-chromium-")
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-proxy-server", "--no-first-run", "--user-data-dir=" + profile,
             cls.app + "/app.html"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            cls.pages.done.wait(90)
        finally:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(10)
            cls.pages.stop()
            shutil.rmtree(profile, ignore_errors=True)
        cls.by_origin = {r["origin"]: r for r in cls.pages.results}

    def sent(self, req_id):
        return [r for r in self.h.fake.requests if r["headers"].get("x-req-id") == req_id]

    def result(self, origin, key=None):
        self.assertIn(origin, self.by_origin, "the page did not report: %r" % self.pages.results)
        return self.by_origin[origin][key] if key else self.by_origin[origin]

    def test_a_listed_page_reads_the_answer_and_tollgates_cost(self):
        r = self.result(self.app, "json")
        self.assertEqual(r.get("status"), 200, r)
        self.assertEqual(r["body"]["usage"]["completion_tokens"], 100)
        self.assertTrue(r["cost"])
        (sent,) = self.sent("browser-json")
        self.assertEqual(sent["headers"]["origin"], self.app)
        preflights = [e for e in self.h.access_log()
                      if e.get("method") == "OPTIONS" and e.get("status") == 204]
        self.assertTrue(preflights, "the browser sent no preflight")

    def test_a_listed_page_reads_a_budget_refusal(self):
        r = self.result(self.app, "refusal")
        self.assertEqual(r.get("status"), 429, r)
        self.assertEqual((r["refused"], r["should_retry"]), ("budget", "false"))
        self.assertEqual(r["body"]["error"]["code"], "budget_exceeded")
        self.assertFalse(self.sent("browser-refused"))

    def test_a_listed_page_reads_a_stream(self):
        r = self.result(self.app, "stream")
        self.assertEqual(r.get("status"), 200, r)
        self.assertTrue(r["done"], r)
        self.assertEqual(r["events"], 4)  # three chunks and [DONE]; the injected usage is stripped

    def test_a_page_from_another_origin_gets_nothing_and_costs_nothing(self):
        r = self.result("http://127.0.0.1:%d" % self.pages.port)
        self.assertIn("TypeError", r.get("error", ""), r)
        self.assertFalse(self.sent("browser-denied"))


if __name__ == "__main__":
    unittest.main()
