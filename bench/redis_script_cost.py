#!/usr/bin/env python3
"""What the Redis ledger's batch script costs Redis per reserve + settle, on a fixed workload:
the same batches every run, whatever the machine is doing, so that two versions of the scripts
compare by Redis's own work rather than by a throughput that a shared VM makes noisy.

The scripts are read from a redis_scripts.hpp (budget/store/, or another version's copy) and put
together as the C++ does. The workload is what `ledger_bench`'s redis_loop/16 sends: 16 callers,
each request in two shared budgets (a per-client daily counter, four clients, and a total), in
batches of 16 reservations, then 16 closes of the holds they opened.

    bench/redis_script_cost.py --port 16391 [--scripts budget/store/redis_scripts.hpp]
                               [--rounds 400] [--batch 16]

Prints Redis's time inside EVALSHA per pair (INFO commandstats) and the commands the scripts made
per pair. Run redis-server under `valgrind --tool=callgrind` to count instructions instead: the
count per pair is then exact and repeatable (read it from callgrind's totals after a run, less a
run with --rounds 0).
The server is flushed first: use a throw-away one.
"""
import argparse
import os
import re
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def scripts_from(path):
    """k_batch as the header puts it together: its expression's raw strings, string literals
    and the constants it names, joined in order."""
    text = open(path).read()
    token = re.compile(r'\s+|\+|R"lua\((.*?)\)lua"|"((?:[^"\\]|\\.)*)"|std::string\((\w+)\)|(\w+)|(;)', re.S)

    def value(name):
        m = re.search(r'\b%s\s*=' % name, text)
        if not m:
            raise SystemExit("no %s in %s" % (name, path))
        out, at = "", m.end()
        while True:
            t = token.match(text, at)
            if not t:
                raise SystemExit("cannot read %s in %s" % (name, path))
            at = t.end()
            raw, quoted, wrapped, ident, end = t.groups()
            if end:
                return out
            if raw is not None and t.group(0).startswith('R"'):
                out += raw
            elif quoted is not None and t.group(0).startswith('"'):
                out += quoted.encode().decode("unicode_escape")
            elif wrapped or ident:
                out += value(wrapped or ident)

    return value("k_batch")


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *words):
        out = [b"*%d\r\n" % len(words)]
        for w in words:
            w = w if isinstance(w, bytes) else str(w).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(w), w))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(1 << 16)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            if kind == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--scripts", default=os.path.join(HERE, "..", "budget", "store", "redis_scripts.hpp"))
    p.add_argument("--rounds", type=int, default=400)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--limit", type=int, default=1 << 60, help="each budget's limit, micro-units")
    a = p.parse_args()
    r = Redis(a.port)
    r.send("FLUSHALL")
    script = scripts_from(a.scripts)
    sha = r.send("SCRIPT", "LOAD", script)
    r.send("CONFIG", "RESETSTAT")
    # The arguments as the scripts take them: since they read an operation's numbers packed
    # (nums), the member and one string of 64-bit integers; before, every number in decimal.
    packed = "nums(" in script

    def pack(numbers):
        return struct.pack("<%dq" % len(numbers), *numbers)

    def op(member, numbers, close=False):
        if packed:
            return [member, pack(numbers)]
        words = [str(x) for x in numbers]
        # Before: a close's member came first, a reservation's after its first three numbers.
        return [member] + words if close else words[:3] + [member] + words[3:]

    def batch_head(head):
        return [pack([len(head) // 3] + head)] if packed else [len(head) // 3] + head

    pre = "tg-cost:"
    day = "1796342400"
    hold_id = 1 << 61
    limit = a.limit
    for _ in range(a.rounds):
        holds = []
        for i in range(a.batch):
            hold_id += 1
            keys = [pre + "{daily}:client-%d:%s" % (i % 4, day), pre + "{total}::0"]
            member = "%d\n30150\n0:0 0:0\n%s" % (hold_id, "\n".join(keys))
            holds.append((hold_id, keys, member))
        # The reservations...
        k, head, args = [], [], []
        for hid, keys, member in holds:
            op_keys = keys + [pre + "holds", pre + "seen:%d" % hid]
            numbers = [30150, 3600000, 2]
            for _ in keys:
                numbers += [limit, 1, 163974, 0, 0]
            numbers += [0, 0]
            op_args = op(member, numbers)
            k += op_keys
            head += [0, len(op_keys), len(op_args)]
            args += op_args
        replies = r.send("EVALSHA", sha, len(k), *k, *batch_head(head), *args)
        assert all(isinstance(x, list) and x[0] == 1 for x in replies), replies[:2]
        # ...then their closes.
        k, head, args = [], [], []
        for hid, keys, member in holds:
            op_keys = [pre + "holds", pre + "seen:%d" % hid] + keys
            numbers = [12345, 172800, 30150, 0, 0]
            for _ in keys:
                numbers += [163974, 0, 0]
            op_args = op(member, numbers, close=True)
            k += op_keys
            head += [1, len(op_keys), len(op_args)]
            args += op_args
        replies = r.send("EVALSHA", sha, len(k), *k, *batch_head(head), *args)
        assert all(isinstance(x, list) and x[0] == 1 for x in replies), replies[:2]
    pairs = a.rounds * a.batch
    if pairs:
        spent = r.send("BITFIELD", pre + "{total}::0", "GET", "i64", "#0")[0]
        assert spent == 12345 * pairs, (spent, pairs)
        assert r.send("ZCARD", pre + "holds") == 0
    stats = r.send("INFO", "commandstats").decode()
    calls = {}
    for line in stats.splitlines():
        m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
        if m:
            calls[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    if pairs:
        ev = calls.get("evalsha", (0, 0))
        inner = ", ".join("%s %.2f" % (c, n / pairs) for c, (n, _) in sorted(calls.items())
                          if c not in ("evalsha", "info", "config|resetstat"))
        print("pairs=%d evalsha_us_per_pair=%.2f commands_per_pair: %s" % (pairs, ev[1] / pairs, inner))


if __name__ == "__main__":
    main()
