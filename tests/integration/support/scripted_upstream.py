"""A TLS (or, without a certificate, plain) upstream whose connection handling a test scripts,
for what the threaded fake provider cannot do: drop the Nth request on every connection without
answering, close keep-alive connections after an idle time, or speak websocket after a 101.

Every request is logged with the connection it came on and its position there; answers are JSON
with the usage or Keepa fields tollgate reads (`x-fake-usage: <input>,<output>` as in
fake_provider.py). Reached through the harness's `upstream.resolve` (use the harness's server
certificate, which names every provider host).
"""
import base64
import hashlib
import json
import socket
import ssl
import struct
import threading

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# Raw answers chosen by the request header `x-script: <name>`.
SCRIPTS = {
    # No Content-Length, not chunked: the body runs to the close (RFC 9112 §6.3, rule 8).
    "close-delimited": b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
                       b"all of it, until the close",
    # An interim 103 before the answer.
    "early-hints": b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
                   b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    "no-content": b"HTTP/1.1 204 No Content\r\nx-n: 1\r\n\r\n",
    # The answer to a HEAD: the length of the body a GET would get, and no body.
    "head": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1234\r\n\r\n",
    # Chunked with chunk extensions and a trailer field.
    "chunked-trailer": b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-t\r\n\r\n"
                       b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: done\r\n\r\n",
}


class ScriptedUpstream:
    def __init__(self, cert=None, key=None, drop_nth=None, idle_close_s=None):
        self.drop_nth = drop_nth          # on each connection, read request N and close unanswered
        self.idle_close_s = idle_close_s  # close a connection idle this long
        self.lock = threading.Lock()
        self.requests = []                # dicts: conn, index, method, path, headers, body
        self.idle_closed = threading.Semaphore(0)  # released once per idle close
        self.connections = 0
        self.ctx = None  # plain HTTP without a certificate
        if cert:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        self.sock.close()

    def requests_to(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"].split("?")[0] == path]

    def _accept(self):
        while not self.stopped:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                conn_id = self.connections
            threading.Thread(target=self._serve, args=(raw, conn_id), daemon=True).start()

    def _serve(self, raw, conn_id):
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True) if self.ctx else raw
        except (OSError, ssl.SSLError):
            raw.close()
            return
        buf = b""
        index = 0
        try:
            while True:
                tls.settimeout(self.idle_close_s)
                try:
                    while b"\r\n\r\n" not in buf:
                        data = tls.recv(65536)
                        if not data:
                            return
                        buf += data
                except socket.timeout:
                    if buf:
                        return
                    tls.close()  # an idle keep-alive close, as servers do
                    self.idle_closed.release()
                    return
                tls.settimeout(10)
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                while len(buf) < length:
                    data = tls.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                index += 1
                with self.lock:
                    self.requests.append({"conn": conn_id, "index": index, "method": method,
                                          "path": path, "headers": headers, "body": body})
                if self.drop_nth and index == self.drop_nth:
                    return  # read, never answered: the connection just closes
                if headers.get("upgrade", "").lower() == "websocket":
                    return self._websocket(tls, headers, buf)
                self._answer(tls, method, path, headers)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def _answer(self, tls, method, path, headers):
        script = headers.get("x-script")
        if script:
            tls.sendall(SCRIPTS[script])
            if script == "close-delimited":
                # The body ends where the connection does: a clean TLS close (close_notify), as
                # a close without it could be a truncation by an attacker.
                if isinstance(tls, ssl.SSLSocket):
                    tls.unwrap()
                raise OSError("closed after the body")
            return
        route = path.split("?")[0]
        if route == "/v1/chat/completions":
            inp, out = (int(x) for x in headers.get("x-fake-usage", "10,5").split(","))
            body = {"id": "chatcmpl-s", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": inp, "completion_tokens": out,
                              "total_tokens": inp + out}}
        elif route == "/product":
            asins = [a for a in path.partition("asin=")[2].split("&")[0].split(",") if a]
            body = {"products": [{"asin": a} for a in asins], "tokensLeft": 900,
                    "tokensConsumed": len(asins), "refillRate": 5}
        else:
            body = {"method": method, "path": path}
        data = json.dumps(body).encode()
        tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(data), data))

    def _websocket(self, tls, headers, pending):
        """Echoes text frames back (unmasked, as a server sends) until a close frame."""
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + WS_GUID).digest())
        tls.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        reader = _Frames(tls, pending)
        while True:
            opcode, payload = reader.next()
            if opcode is None or opcode == 8:
                tls.sendall(encode_frame(8, b"", mask=False))
                return
            tls.sendall(encode_frame(opcode, b"echo: " + payload, mask=False))


def encode_frame(opcode, payload, mask=True):
    """One final websocket frame; clients mask (RFC 6455 §5.3), servers do not."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class _Frames:
    """Reads websocket frames off a socket (masked or not)."""

    def __init__(self, sock, pending=b""):
        self.sock = sock
        self.buf = pending

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return False
            self.buf += data
        return True

    def next(self):
        if not self._need(2):
            return None, b""
        opcode = self.buf[0] & 0x0F
        masked = self.buf[1] & 0x80
        n = self.buf[1] & 0x7F
        pos = 2
        if n == 126:
            if not self._need(4):
                return None, b""
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            if not self._need(10):
                return None, b""
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        key = b""
        if masked:
            if not self._need(pos + 4):
                return None, b""
            key = self.buf[pos:pos + 4]
            pos += 4
        if not self._need(pos + n):
            return None, b""
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return opcode, payload


def read_frame(sock, pending=b""):
    """(opcode, payload, rest) of the next frame on `sock`, `pending` being bytes already read."""
    frames = _Frames(sock, pending)
    opcode, payload = frames.next()
    return opcode, payload, frames.buf
