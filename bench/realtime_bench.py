"""Realtime WebSocket relay: latency tollgate adds per message, and memory per open session.

    TOLLGATE_BIN=build-bench/tollgate python3 bench/realtime_bench.py [--messages 2000] [--sessions 200]

Starts an echo server speaking WebSocket over TLS and plain on loopback (the `websockets` library,
in a process of its own: every message it receives it answers at once, same size), and tollgate
(tests/integration/support/harness.py: one worker thread, memory store, the embedded OpenAI
catalog, api.openai.com resolved to the echo server, a per: session budget so that every session is
metered). One client (Python `websockets`, one connection, sequential round trips) measures the
round trip of a message directly to the echo server (wss), through tollgate as a proxy (CONNECT,
TLS to tollgate, tollgate's own TLS to the server) and in base-URL mode (ws:// to tollgate); the
added latency is tollgate's median (and p99) minus the direct one, for a small event and for a
16 KiB audio append. Then N sessions are opened and left idle: (RSS after - RSS before) / N.
Prints a Markdown section for bench/RESULTS.md.
"""
import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "support"))
from harness import Harness  # noqa: E402
from realtime_client import open_realtime  # noqa: E402

RULES = """
budgets:
  - { name: bench-session, currency: usd, limit: 1000, per: session, period: total }
"""


ECHO = r"""
import asyncio, json, ssl, sys, websockets
async def serve(ws, path=None):
    await ws.send(json.dumps({"type": "session.created", "session": {"model": "gpt-realtime-mini"}}))
    async for message in ws:
        await ws.send(message.replace('"type":"bench.ping"', '"type":"bench.echo"', 1))
async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    kw = dict(max_size=None, ping_interval=None, compression=None)
    tls = await websockets.serve(serve, "127.0.0.1", 0, ssl=ctx, **kw)
    plain = await websockets.serve(serve, "127.0.0.1", 0, **kw)
    print(tls.sockets[0].getsockname()[1], plain.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()
asyncio.run(main())
"""


class EchoServer:
    """The echo server in a process of its own: the client's timing never waits on its GIL."""

    def __init__(self, cert, key):
        self.proc = subprocess.Popen([sys.executable, "-c", ECHO, cert, key],
                                     stdout=subprocess.PIPE, text=True)
        self.port, self.plain_port = (int(p) for p in self.proc.stdout.readline().split())

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def round_trips(ws, payload_bytes, n):
    message = json.dumps({"type": "bench.ping", "pad": "A" * payload_bytes})
    for _ in range(50):  # warm up
        await ws.send(message)
        await ws.recv()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        await ws.send(message)
        await ws.recv()
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


async def measure(h, echo, messages):
    direct_ctx = ssl.create_default_context(cafile=h.upstream_ca)
    results = {}
    for size, label in ((64, "small event (~90 B)"), (16384, "audio append (16 KiB)")):
        row = {}
        direct = await websockets.connect("wss://api.openai.com/v1/realtime?model=gpt-realtime-mini",
                                          sock=None, host="127.0.0.1", port=echo.port, ssl=direct_ctx,
                                          server_hostname="api.openai.com", max_size=None,
                                          compression=None, ping_interval=None)
        await direct.recv()
        row["direct"] = await round_trips(direct, size, messages)
        await direct.close()
        plain = await websockets.connect("ws://127.0.0.1:%d/v1/realtime" % echo.plain_port,
                                         max_size=None, compression=None, ping_interval=None)
        await plain.recv()
        row["plain"] = await round_trips(plain, size, messages)
        await plain.close()
        for via in ("proxy", "base"):
            ws = await open_realtime(h, model="gpt-realtime-mini", via=via, compression=None)
            await ws.recv()
            row[via] = await round_trips(ws, size, messages)
            await ws.close()
        results[label] = row
    return results


async def open_idle(h, n):
    sessions = []
    for i in range(n):
        ws = await open_realtime(h, model="gpt-realtime-mini", via="base" if i % 2 else "proxy",
                                 compression=None)
        await ws.recv()
        sessions.append(ws)
    return sessions


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    h = Harness(extra_yaml=RULES, threads=1, store="memory", start=False)
    echo = EchoServer(os.path.join(h.dir, "server.pem"), os.path.join(h.dir, "server.key"))
    h.resolve_extra = {"api.openai.com:443": "127.0.0.1:%d" % echo.port}
    h.start()
    try:
        rounds = [asyncio.run(measure(h, echo, args.messages)) for _ in range(args.rounds)]

        async def memory():
            time.sleep(0.5)
            before = rss_kb(h.proc.pid)
            sessions = await open_idle(h, args.sessions)
            time.sleep(0.5)
            after = rss_kb(h.proc.pid)
            for ws in sessions:
                await ws.close()
            return before, after
        before, after = asyncio.run(memory())
    finally:
        h.close()
        echo.stop()
    print("### Realtime WebSocket relay (metered session)\n")
    print("- Command: `TOLLGATE_BIN=build-bench/tollgate python3 bench/realtime_bench.py "
          "--messages %d --sessions %d --rounds %d`" % (args.messages, args.sessions, args.rounds))
    print("- Load average at start: %s" % open("/proc/loadavg").read().split(" ")[:3])
    print("- Round trip of one message in µs, the median over %d rounds of each round's percentile"
          " (Python `websockets` client, one connection, sequential; the echo server, a process of"
          " its own, answers at once). Added = tollgate minus the direct call with the same"
          " client-side work (wss for proxy mode, ws:// for base-URL mode, where tollgate's TLS to"
          " the server is part of what it adds).\n" % args.rounds)
    print("| message | path | p50 | p99 | added p50 | added p99 |")
    print("|---|---|---:|---:|---:|---:|")

    def median_of(label, path, p):  # the median over rounds of each round's percentile
        return statistics.median(pct(r[label][path], p) for r in rounds)

    for label in rounds[0]:
        # Each path against the direct call with the same client-side work: TLS (proxy mode) or
        # plain ws:// (base-URL mode; tollgate's TLS to the server is part of what it adds).
        for path, name, base in (("direct", "direct wss", None),
                                 ("proxy", "tollgate, CONNECT + TLS", "direct"),
                                 ("plain", "direct ws:// (no TLS)", None),
                                 ("base", "tollgate, base-URL ws://", "plain")):
            p50, p99 = median_of(label, path, 50), median_of(label, path, 99)
            added = ("", "") if not base else ("%.0f" % (p50 - median_of(label, base, 50)),
                                               "%.0f" % (p99 - median_of(label, base, 99)))
            print("| %s | %s | %.0f | %.0f | %s | %s |" % (label, name, p50, p99, *added))
    print("\n- Memory: RSS %d KiB before, %d KiB with %d idle metered sessions open (each: client "
          "connection, upstream TLS connection, relay): **%.1f KiB per session**."
          % (before, after, args.sessions, (after - before) / args.sessions))


if __name__ == "__main__":
    main()
