"""Small apps whose replays are checked: JSON, chunked upload, SSE, WebSocket echo."""

from __future__ import annotations

import asyncio
import json
from typing import Any

VERSION = {"value": 1}  # tests change it to make a replay differ


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(scope, receive, send)
    elif scope["type"] == "websocket":
        await _echo(receive, send)
    elif scope["path"] == "/sse":
        await _sse(scope, receive, send)
    else:
        await _json(scope, receive, send)


async def _lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["greeting"] = "hello"
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _json(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body, chunks = b"", 0
    while True:
        message = await receive()
        body += message.get("body", b"")
        chunks += 1
        if not message.get("more_body"):
            break
    greeting = scope.get("state", {}).get("greeting")
    if scope["path"] == "/items":
        print(f"handling {scope['method']} /items with {len(body)} bytes")
    payload = {"method": scope["method"], "path": scope["path"], "body": body.decode(),
               "chunks": chunks, "version": VERSION["value"], "greeting": greeting}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"date", b"now")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


async def _sse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Endless events, stopped when the client leaves (watched as Starlette does)."""

    async def stream() -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(1000):
            await send({"type": "http.response.body", "body": f"data: {n}\n\n".encode(),
                        "more_body": True})
            await asyncio.sleep(0.01)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(stream()), asyncio.ensure_future(watch())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()


async def _echo(receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "websocket.send", "text": message.get("text"),
                    "bytes": message.get("bytes")})
