"""Real recordings for the export tests: one ASGI app, served by uvicorn, driven by real clients.

Each sample path exercises one thing an exporter must get right: secrets in headers, query
and JSON; binary bodies; a gzip response sent in chunks; a body past the recorder's cap; an
exception before the response; a urlencoded form; and a WebSocket with text and binary
messages.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
import websockets

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.model import Exchange
from tests.apps import serve_lifespan
from tests.servers import uvicorn_server

BINARY = bytes(range(256)) * 2  # every byte value, NUL and invalid UTF-8 included
PAGE = ("<p>héllo wörld</p>\n" * 200).encode()
MAX_BODY = 4096
BIG = b"x" * (MAX_BODY * 3)


async def _body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]],
                   *chunks: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for chunk in chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _websocket(receive: Any, send: Any) -> None:
    connect = await receive()
    assert connect["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "subprotocol": "chat"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 4000, "reason": "done"})
            return
        await send({"type": "websocket.send", "text": message.get("text"),
                    "bytes": message.get("bytes")})


async def sample_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return await serve_lifespan(receive, send)
    if scope["type"] == "websocket":
        await _websocket(receive, send)
        return
    body = await _body(receive)
    path = scope["path"]
    json_type = [(b"content-type", b"application/json")]
    if path == "/boom":
        raise RuntimeError("boom before the response")
    if path == "/login":
        token = json.dumps({"access_token": "tok-123", "user": {"name": "ann"}}).encode()
        await _respond(send, 200, [*json_type, (b"set-cookie", b"sid=abc; Path=/; HttpOnly")],
                       token)
    elif path == "/binary":
        await _respond(send, 200, [(b"content-type", b"application/octet-stream")], BINARY)
    elif path == "/gzip":
        packed = gzip.compress(PAGE)
        await _respond(send, 200, [(b"content-type", b"text/html; charset=utf-8"),
                                   (b"content-encoding", b"gzip")],
                       packed[:100], packed[100:])
    elif path == "/big":
        await _respond(send, 200, [(b"content-type", b"text/plain")], BIG)
    else:
        echo = {"method": scope["method"], "length": len(body)}
        await _respond(send, 201, json_type, json.dumps(echo).encode())


def _client_traffic(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        client.get("/search?q=caf%C3%A9&token=s3cret&page=2",
                   headers={"Authorization": "Bearer abc.def", "Cookie": "sid=abc; theme=dark",
                            "X-Trace": "a=b:c;d@e"})
        client.post("/login", json={"user": "ann", "password": "hunter2"})
        client.put("/binary", content=BINARY, headers={"Content-Type": "application/x-thing"})
        client.get("/gzip", headers={"Accept-Encoding": "gzip"})
        client.post("/big", content=BIG)
        client.post("/form", content=b"user=ann&password=hunter2",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        client.get("/boom")
    asyncio.run(_websocket_traffic(url))


async def _websocket_traffic(url: str) -> None:
    ws_url = url.replace("http://", "ws://") + "/chat?room=1"
    async with websockets.connect(ws_url, subprotocols=["chat"]) as ws:  # type: ignore[list-item]
        await ws.send("hello")
        await ws.recv()
        await ws.send(b"\x00\x01\xfe\xff")
        await ws.recv()
        await ws.send("bye")
        await asyncio.sleep(0.05)


def record_samples() -> list[Exchange]:
    """The HTTP and WebSocket exchanges of one run of the sample traffic."""
    sink = MemorySink()
    inspector = Inspector(sample_app, sink, max_body=MAX_BODY)
    with uvicorn_server(inspector, log_level="critical") as url:  # /boom's traceback: expected
        _client_traffic(url)
    inspector.flush()
    return [e for e in sink.exchanges if e.type in ("http", "websocket")]


def by_path(exchanges: list[Exchange], path: str) -> Exchange:
    return next(e for e in exchanges if e.scope.get("path") == path)
