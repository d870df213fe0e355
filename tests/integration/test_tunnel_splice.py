"""The blind tunnel's byte pump (proxy/splice.cpp) against a plain TCP upstream: a client that
half-closes (shuts down its sending side and waits, as `nc -N` or a request framed by EOF does)
still gets the whole answer; a megabyte each way at once arrives whole and in order; an upstream
that closes ends the tunnel with its last bytes delivered."""
import hashlib
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from harness import Harness, HarnessTestCase  # noqa: E402


class Upstream:
    """A plain TCP server on loopback; `serve(conn)` handles each connection on its own thread."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            try:
                self.serve(conn)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def read_until_eof(sock):
    out = bytearray()
    while True:
        data = sock.recv(65536)
        if not data:
            return bytes(out)
        out += data


def answer_after_eof(conn):
    """Reads the whole request (up to EOF), then answers with its length and digest."""
    body = read_until_eof(conn)
    conn.sendall(b"%d %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode()))


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def banner_then_close(conn):
    conn.sendall(b"hello from upstream\n" * 1000)


class TunnelSpliceTest(HarnessTestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstreams = {"eof.test": Upstream(answer_after_eof), "echo.test": Upstream(echo),
                         "banner.test": Upstream(banner_then_close)}
        cls.h = Harness(resolve_extra={"%s:443" % host: "127.0.0.1:%d" % u.port
                                       for host, u in cls.upstreams.items()})

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for u in cls.upstreams.values():
            u.close()

    def tunnel(self, host):
        sock = socket.create_connection(("127.0.0.1", self.h.port), timeout=20)
        sock.sendall(b"CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (host.encode(), host.encode()))
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(1)  # byte by byte: nothing after the head is consumed here
            self.assertTrue(data, "tollgate closed before answering CONNECT")
            head += data
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        return sock

    def test_a_client_that_half_closes_still_gets_the_answer(self):
        payload = os.urandom(300_000)
        with self.tunnel("eof.test") as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)  # the upstream answers only once it sees EOF
            answer = read_until_eof(sock)
        self.assertEqual(answer, b"%d %s\n" % (len(payload), hashlib.sha256(payload).hexdigest().encode()))

    def test_a_megabyte_each_way_at_once_arrives_whole_and_in_order(self):
        payload = os.urandom(1 << 20)
        with self.tunnel("echo.test") as sock:
            received = []
            reader = threading.Thread(target=lambda: received.append(read_until_eof(sock)))
            reader.start()
            for i in range(0, len(payload), 7000):  # odd-sized writes, interleaved with the echo
                sock.sendall(payload[i:i + 7000])
            sock.shutdown(socket.SHUT_WR)
            reader.join(30)
        self.assertFalse(reader.is_alive())
        self.assertEqual(len(received[0]), len(payload))
        self.assertEqual(hashlib.sha256(received[0]).digest(), hashlib.sha256(payload).digest())

    def test_an_upstream_that_closes_ends_the_tunnel_after_its_last_bytes(self):
        with self.tunnel("banner.test") as sock:
            self.assertEqual(read_until_eof(sock), b"hello from upstream\n" * 1000)


if __name__ == "__main__":
    unittest.main()
