"""Raw HTTP/1.1 over sockets for the tests that check bytes on the wire: a CONNECT through
tollgate, a TLS client on it, and a response reader that parses exactly one response (head,
then Content-Length or chunked framing) and leaves whatever follows it in the buffer."""
import socket
import ssl


def connect_through(port, host, target_port=443, timeout=10):
    """A raw socket on which tollgate answered `CONNECT host:target_port` (returns sock, status)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                 % (host.encode(), target_port, host.encode(), target_port))
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)  # byte by byte: nothing after the CONNECT answer may be consumed
        if not data:
            break
        head += data
    return sock, head.split(b"\r\n", 1)[0].decode()


def tls_through(port, host, cafile, timeout=10):
    """A TLS client socket for `host`, through tollgate's CONNECT, verified against `cafile`."""
    sock, status = connect_through(port, host, timeout=timeout)
    if not status.startswith("HTTP/1.1 200"):
        raise AssertionError("CONNECT %s: %s" % (host, status))
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx.wrap_socket(sock, server_hostname=host)


class Response:
    def __init__(self, status, headers, body, raw):
        self.status = status
        self.headers = headers  # lower-case name -> value (last one wins)
        self.body = body        # de-chunked
        self.raw = raw          # the exact bytes of this response on the wire


class Reader:
    """Reads responses off one connection; `buffer` holds the bytes read past the last one."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed; %d bytes unparsed: %r" % (len(self.buffer), self.buffer[:200]))
        self.buffer += data

    def wait_for(self, marker):
        """Reads until `marker` is in the buffer (without consuming anything)."""
        while marker not in self.buffer:
            self._fill()

    def _line(self, pos):
        while True:
            end = self.buffer.find(b"\r\n", pos)
            if end >= 0:
                return end
            self._fill()

    def _need(self, n):
        while len(self.buffer) < n:
            self._fill()

    def read_response(self, head_request=False):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head_end = self.buffer.index(b"\r\n\r\n") + 4
        lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        status_line = lines[0]
        if not status_line.startswith("HTTP/1.1 "):
            raise AssertionError("not a status line: %r" % self.buffer[:80])
        status = int(status_line.split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        pos = head_end
        body = b""
        if head_request or status in (204, 304) or status // 100 == 1:
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                end = self._line(pos)
                size = int(self.buffer[pos:end].split(b";")[0], 16)
                pos = end + 2
                if size == 0:
                    # Trailer fields (none expected), then the empty line that ends the message.
                    while True:
                        end = self._line(pos)
                        blank = end == pos
                        pos = end + 2
                        if blank:
                            break
                    break
                self._need(pos + size + 2)
                body += self.buffer[pos:pos + size]
                if self.buffer[pos + size:pos + size + 2] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
                pos += size + 2
        elif "content-length" in headers:
            pos += int(headers["content-length"])
            self._need(pos)
            body = self.buffer[head_end:pos]
        else:
            raise AssertionError("response without framing: %r" % self.buffer[:head_end])
        raw = self.buffer[:pos]
        self.buffer = self.buffer[pos:]
        return Response(status, headers, body, raw)

    def drain(self, timeout):
        """Whatever else arrives within `timeout` seconds (until the peer closes)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buffer += data
        except (socket.timeout, ssl.SSLError):
            pass
        finally:
            self.sock.settimeout(old)
        return self.buffer


def request(method, target, host, body=b"", headers=None):
    """The bytes of one HTTP/1.1 request with a Content-Length body (the length of `body` unless
    `headers` names a Content-Length or Transfer-Encoding)."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: %s" % host]
    for name, value in (headers or {}).items():
        lines.append("%s: %s" % (name, value))
    declared = any(name.lower() in ("content-length", "transfer-encoding") for name in (headers or {}))
    if not declared and (body or method in ("POST", "PUT", "PATCH")):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
