#!/usr/bin/env python3
"""TLS upstream that streams OpenAI-shaped chat completion chunks, each stamped with the
CLOCK_MONOTONIC time at which it is written ("x_sent_ns"), so that the load generator can measure
how long an event takes from leaving the upstream to reaching the client.

POST /v1/chat/completions?events=N&interval_ms=M  -> N content chunks M ms apart, a usage chunk,
then `data: [DONE]`; chunked transfer encoding, keep-alive.

usage: sse_upstream.py --port P --cert CRT --key KEY  (prints "listening" when ready)
"""
import argparse
import asyncio
import json
import ssl
import time
import urllib.parse


def chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def event(index: int, usage: bool) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [] if usage else [{"index": 0, "delta": {"content": "tok%d " % index},
                                       "finish_reason": None}],
        "x_sent_ns": time.monotonic_ns(),
    }
    if usage:
        body["usage"] = {"prompt_tokens": 12, "completion_tokens": index, "total_tokens": 12 + index}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


async def serve(reader, writer):
    try:
        while True:
            try:
                method, target, _, body = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
            events = int(query.get("events", ["20"])[0])
            interval = float(query.get("interval_ms", ["2"])[0]) / 1000.0
            streaming = method == "POST" and b'"stream":true' in body.replace(b" ", b"")
            if not streaming:
                payload = b'{"error":{"message":"this upstream only streams","type":"bench"}}'
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(payload), payload))
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
            await writer.drain()
            for i in range(events):
                await asyncio.sleep(interval)
                writer.write(chunk(event(i, False)))
                await writer.drain()
            writer.write(chunk(event(events, True)) + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])
    server = await asyncio.start_server(serve, "127.0.0.1", args.port, ssl=context)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
