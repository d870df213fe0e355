"""Headless Chromium driven over the DevTools protocol, for the tests that look at a page as a
person would. `Browser()` starts Debian's `chromium` with its own profile in a temp dir, on
loopback only (no proxy, every host name but 127.0.0.1 unresolvable, no background traffic), and
`page()` opens a tab to drive: navigate, evaluate JavaScript, take a screenshot. Everything it
starts is stopped by `close()`.

It speaks the protocol over `websockets` (Debian's python3-websockets) with asyncio; the calls
are async, so a test runs its scenario with `asyncio.run`.
"""
import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import websockets


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevToolsError(Exception):
    pass


class Browser:
    def __init__(self, width=1280, height=900):
        self.dir = tempfile.mkdtemp(prefix="tollgate-chromium-")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.log = open(os.path.join(self.dir, "chromium.log"), "w")
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", "--user-data-dir=" + os.path.join(self.dir, "profile"),
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-dev-shm-usage", "--metrics-recording-only",
             "--disable-features=Translate,OptimizationHints,MediaRouter",
             "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
             "--hide-scrollbars", "--mute-audio", "--window-size=%d,%d" % (width, height),
             "about:blank"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        port_file = os.path.join(self.dir, "profile", "DevToolsActivePort")
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[1]:
                    self.ws_url = "ws://127.0.0.1:%s%s" % (lines[0], lines[1])
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.close()
        raise RuntimeError("chromium did not start:\n" + self.logs())

    def logs(self):
        try:
            with open(os.path.join(self.dir, "chromium.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the browser's children
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def page(self):
        """A connection to the browser and a new tab attached to it."""
        page = Page(await websockets.connect(self.ws_url, max_size=None))
        target = await page.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await page.send("Target.attachToTarget",
                                   {"targetId": target["targetId"], "flatten": True}, session=False)
        page.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await page.send(domain + ".enable")
        return page


class Page:
    """One tab. `events` collects the protocol events of the tab (method, params) as they come;
    `on(method, handler)` also runs an async handler for each event of that method (e.g.
    Fetch.requestPaused, to answer a request in place of the server)."""

    def __init__(self, ws):
        self.ws = ws
        self.session = None
        self.ids = itertools.count(1)
        self.waiting = {}
        self.events = []
        self.handlers = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        async for text in self.ws:
            message = json.loads(text)
            if "id" in message and message["id"] in self.waiting:
                self.waiting.pop(message["id"]).set_result(message)
            elif "method" in message and message.get("sessionId") == self.session:
                self.events.append((message["method"], message.get("params", {})))
                handler = self.handlers.get(message["method"])
                if handler:
                    asyncio.ensure_future(handler(message.get("params", {})))

    async def send(self, method, params=None, session=True, timeout=30):
        message_id = next(self.ids)
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        future = asyncio.get_running_loop().create_future()
        self.waiting[message_id] = future
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise DevToolsError("%s: %s" % (method, answer["error"]))
        return answer.get("result", {})

    def on(self, method, handler):
        self.handlers[method] = handler

    async def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-serializable values)."""
        result = await self.send("Runtime.evaluate",
                                 {"expression": expression, "returnByValue": True,
                                  "awaitPromise": True})
        if "exceptionDetails" in result:
            raise DevToolsError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    async def wait_for(self, expression, timeout):
        """Polls `expression` every 25 ms until it is truthy; its value, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value or time.monotonic() >= deadline:
                return value or None
            await asyncio.sleep(0.025)

    async def navigate(self, url, timeout=30):
        loaded = len(self.events)
        await self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(m == "Page.loadEventFired" for m, _ in self.events[loaded:]):
            if time.monotonic() >= deadline:
                raise DevToolsError("%s did not load within %d s" % (url, timeout))
            await asyncio.sleep(0.025)

    async def screenshot(self, path):
        """A PNG of the whole page, not just the viewport."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = await self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def problems(self, ignore=()):
        """Script exceptions and console or browser errors (CSP violations among them), except
        those whose text or URL contains a string of `ignore`."""
        found = []
        for method, params in self.events:
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                found.append("%s %s" % (entry.get("text", ""), entry.get("url", "")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(json.dumps(params.get("args", []))[:500])
        return [p for p in found if not any(i in p for i in ignore)]

    async def close(self):
        self.reader.cancel()
        await self.ws.close()
