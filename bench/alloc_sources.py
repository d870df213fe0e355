#!/usr/bin/env python3
"""Where a tollgate run's heap allocations come from, per request: a heaptrack recording (from
`bench/profile.sh --heaptrack FILE`) split into the libraries that allocate on their own
(SQLite, OpenSSL, Asio's operation and handler memory, RapidJSON's parse stack) and tollgate's
own functions (each allocation charged to the innermost tollgate frame of its stack; coroutine
frames count as the coroutine's).

usage: bench/alloc_sources.py FILE.zst --requests N [--top 25]
N: the requests of the run, warm-up included (profile.sh prints the access log's line count).
"""
import argparse
import collections
import subprocess
import sys
import tempfile

OWN = ("proxy::", "budget::", "rules::", "pipeline::", "telemetry::", "util::", "admin::")


def source(frames):
    """The bucket an allocation's stack (outermost first) belongs to."""
    inner = ";".join(frames[-8:])
    if "sqlite3" in inner:
        return "libsqlite3"
    if "openssl_buffers" in inner or "CRYPTO_" in inner:
        return "OpenSSL (CRYPTO_malloc)"
    if len(frames) > 1 and "awaitable_frame_base" in frames[-2]:
        caller = next((f for f in reversed(frames[:-2]) if f.startswith(OWN) or "proxy::" in f), "")
        return "own: coroutine frame of " + caller[:80] if caller else "Asio coroutine frames"
    if any("thread_info_base::allocate" in f or "executor_function" in f
           or "basic_executor_type<>::execute" in f for f in frames[-3:]):
        return "Asio operations and handlers"
    if "rapidjson" in inner and "Stack" in inner:
        return "RapidJSON parse stack"
    own = next((f for f in reversed(frames) if any(ns in f for ns in OWN)), None)
    return "own: " + (own or frames[-1])[:100]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--requests", type=float, required=True)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    with tempfile.NamedTemporaryFile("r", suffix=".stacks") as stacks:
        subprocess.run(["heaptrack_print", "-f", a.file, "-p", "0", "-a", "0",
                        "--flamegraph-cost-type", "allocations", "-F", stacks.name],
                       check=True, stdout=subprocess.DEVNULL)
        counts = collections.Counter()
        for line in stacks:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not n.isdigit():
                continue
            counts[source([f for f in stack.split(";") if f])] += int(n)
    n = a.requests
    libraries = sum(v for k, v in counts.items() if not k.startswith("own"))
    own = sum(v for k, v in counts.items() if k.startswith("own"))
    print("allocations per request: %.1f (libraries %.1f, tollgate's own %.1f)"
          % ((libraries + own) / n, libraries / n, own / n))
    for k, v in counts.most_common(a.top):
        print("%7.2f  %s" % (v / n, k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
