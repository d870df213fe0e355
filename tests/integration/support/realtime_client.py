"""Opening realtime WebSockets through tollgate with the Python `websockets` library, the way an app
would: as a proxy client (CONNECT api.openai.com:443, then TLS with tollgate's CA bundle, then the
WebSocket handshake) or in base-URL mode (ws://127.0.0.1:PORT/openai/v1/realtime?model=M).
`websockets` offers permessage-deflate by default, as the openai SDK does."""
import asyncio
import json
import socket
import ssl

import websockets


def _connect_tunnel(proxy_port, host, port=443):
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    sock.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (
        host.encode(), port, host.encode(), port))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("proxy closed during CONNECT")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError("CONNECT refused: %r" % head)
    sock.setblocking(False)
    return sock


async def open_realtime(h, model="gpt-realtime-mini", test_id="", headers=None, via="proxy",
                        subprotocols=None, key="sk-rt", path=None, host="api.openai.com",
                        compression="deflate"):
    """A websockets client connection to OpenAI Realtime (or `path` on `host`) through tollgate."""
    extra = {"x-test-id": test_id}
    if key and not subprotocols:
        extra["Authorization"] = "Bearer " + key
    extra.update(headers or {})
    target = path or "/v1/realtime?model=" + model
    kw = dict(extra_headers=extra, subprotocols=subprotocols, max_size=None,
              compression=compression, ping_interval=None, close_timeout=5, open_timeout=10)
    if via == "proxy":
        ctx = ssl.create_default_context(cafile=h.ca_bundle)
        sock = await asyncio.get_running_loop().run_in_executor(None, _connect_tunnel, h.port, host)
        return await websockets.connect("wss://%s%s" % (host, target), sock=sock, ssl=ctx,
                                        server_hostname=host, **kw)
    prefix = "/openai" if host == "api.openai.com" else "/gemini"
    return await websockets.connect("ws://127.0.0.1:%d%s%s" % (h.port, prefix, target), **kw)


async def next_event(ws, types=None, timeout=10):
    """The next JSON event (of one of `types` when given), skipping others."""
    while True:
        message = await asyncio.wait_for(ws.recv(), timeout)
        event = json.loads(message)
        if types is None or event.get("type") in types:
            return event


async def respond(ws, max_output_tokens=100, timeout=10):
    """Sends response.create and reads up to its response.done, or the error that refused it;
    returns (done or error event, every event type seen)."""
    await ws.send(json.dumps({"type": "response.create",
                              "response": {"max_output_tokens": max_output_tokens}}))
    seen = []
    while True:
        event = await next_event(ws, timeout=timeout)
        seen.append(event["type"])
        if event["type"] in ("response.done", "error"):
            return event, seen
