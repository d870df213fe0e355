"""A throw-away redis-server on a free loopback port for the Redis store tests: stopped (kill),
started again on the same port and folder (with `persist`, its data survives: appendonly,
fsync always), paused and resumed (SIGSTOP/SIGCONT: a server that stalls)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile

from budget_support import wait_for


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, persist=False, start=True):
        if not shutil.which("redis-server"):
            raise AssertionError("redis-server is missing: run scripts/install-deps")
        self.dir = tempfile.mkdtemp(prefix="tollgate-redis-")
        self.port = free_port()
        self.persist = persist
        self.proc = None
        self.url = "redis://127.0.0.1:%d/0" % self.port
        if start:
            self.start()

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(self.ping):
            raise RuntimeError("redis-server did not start")

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """One command over RESP; the raw reply."""
        wire = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as c:
            c.sendall(wire)
            return c.recv(65536)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
