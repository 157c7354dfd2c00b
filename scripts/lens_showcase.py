"""Record real traffic of every protocol a lens reads into tests/tui/lens_showcase.jsonl.

Run from the repository root: ``.venv/bin/python -m scripts.lens_showcase``

One uvicorn server, under the recorder, serves the bundled demo (gzip JSON, JSON-RPC over JSON
and over SSE, an LLM-style chat stream, form uploads), a Strawberry GraphQL app and a
python-socketio server; their own clients (httpx, gql, socketio.AsyncClient) drive them. The
trace is committed, so the lens snapshot tests and screenshots show real traffic and change
only when the UI does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import socketio
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from strawberry.asgi import GraphQL

from asgi_inspect import Inspector, MemorySink
from asgi_inspect.demo import DemoApp
from asgi_inspect.formats import codec
from asgi_inspect.types import Receive, Scope, Send
from tests.servers import uvicorn_server
from tests.test_lens_graphql import SCHEMA
from tests.test_lens_socketio import chat_server, converse

OUT = Path(__file__).resolve().parent.parent / "tests" / "tui" / "lens_showcase.jsonl"


class Showcase:
    """The demo, with GraphQL under /graphql and Socket.IO under /socket.io/."""

    def __init__(self) -> None:
        self.demo = DemoApp()
        self.graphql = GraphQL(SCHEMA)
        self.socketio = socketio.ASGIApp(chat_server())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path.startswith("/graphql"):
            await self.graphql(scope, receive, send)
        elif path.startswith("/socket.io"):
            await self.socketio(scope, receive, send)
        else:
            await self.demo(scope, receive, send)


def rpc(method: str, params: dict[str, Any], call_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}


async def drive(url: str) -> None:
    """One of each: every request waits for the one before, so the list reads in order."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await http.get("/api/catalog", headers={"accept-encoding": "gzip"})
        await http.post("/rpc", json=rpc("items.list", {}, 1))
        await http.post("/rpc", json=rpc("items.get", {"id": 99}, 2))
        await http.post("/rpc", json=rpc("items.add", {"name": "Pen", "price": 2.5}, 3),
                        headers={"accept": "text/event-stream"})
        await http.get("/chat", params={"prompt": "hello"})
        await http.get("/events", params={"count": 3, "interval": 0.05})
        await http.post("/upload", data={"name": "Ada", "note": "hello"})
        await http.post("/upload", data={"title": "demo upload"},
                        files={"file": ("zeros.bin", bytes(4096), "application/octet-stream")})
    graphql_url = f"{url}/graphql"
    async with Client(transport=HTTPXAsyncTransport(graphql_url)) as session:
        await session.execute(gql("query GetItems { items { id name } }"))
        with contextlib.suppress(TransportQueryError):
            await session.execute(gql('query GetItem { item(id: "9") { id name } }'))
        await session.execute(gql('mutation AddItem { addItem(name: "fig") { id name } }'))
    ws_url = graphql_url.replace("http://", "ws://")
    async with Client(transport=WebsocketsTransport(url=ws_url)) as session:
        async for _ in session.subscribe(gql("subscription OnMessage { onMessage(count: 3) }")):
            pass
    await converse(url, "websocket")


def main() -> None:
    sink = MemorySink()
    inspector = Inspector(Showcase(), sink)
    with uvicorn_server(inspector) as url:
        asyncio.run(drive(url))
        deadline = time.monotonic() + 10
        while any(e.outcome == "streaming" for e in sink.exchanges) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    inspector.close()
    exchanges = sorted(sink.exchanges, key=lambda e: e.started_at)
    codec.write(codec.new_trace(exchanges), OUT, jsonl=True)
    print(f"{len(exchanges)} exchanges written to {OUT.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
